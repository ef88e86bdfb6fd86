"""Training, saving and loading of :class:`~neuralcodecs.adapter.projector.TokenProjector` weights.

Distillation from the pixel-domain MobileNetV2 (the teacher): every training image is encoded
with the codec at one quality and its latents are read back from the file
(:meth:`Codec.latents`) -- or the files come from a dataset of shards written beforehand
(``ncodec encode-dataset``; :func:`build_examples_from_shards`, entropy decoding in DataLoader
workers); the teacher sees the original image.  The projector learns to reproduce
the teacher's stride-16 feature map (mean squared error over its 96 channels), with the
pretrained blocks' batch-normalization statistics kept (ImageNet's).  Optimizer AdamW, cosine
learning rate, bf16 autocast on the CPU.

Weights: ``model.*`` fp16 safetensors; metadata ``kind`` (``token-projector``), ``codec``,
``quality``, ``codec_fingerprint``, ``in_channels``, ``stride``, ``dim``, ``width``; a sidecar
JSON records the run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import WeightsError
from .projector import TokenProjector, teacher_tokens

KIND = "token-projector"


@torch.no_grad()
def build_examples(codec, quality: float, files: list[Path], teacher, progress: bool = True) -> dict[str, torch.Tensor]:
    """``{"latents" (N, C, h, w) fp16, "bits" (N, h, w), "targets" (N, 96, h', w') fp16}`` from real
    files (same-size images); ``bits`` are the file's bits per latent position (zeros where the
    codec does not attribute them)."""
    from tqdm import tqdm

    from ..perception import normalize_pixels
    from ..image.io import load_image

    latents, bits, targets = [], [], []
    for path in tqdm(files, desc=f"encode {codec.name} q{quality:g}", disable=not progress):
        pixels, _ = load_image(path)
        lat = codec.latents(codec.encode(pixels, quality=quality))
        h, w = lat.picture_grid
        latents.append(lat.picture_tensor().half())
        bits.append(lat.bits[:h, :w].float() if lat.bits is not None else torch.zeros(h, w))
        targets.append(teacher_tokens(teacher, normalize_pixels(pixels))[0].half())
    return {"latents": torch.stack(latents), "bits": torch.stack(bits), "targets": torch.stack(targets)}


@torch.no_grad()
def build_examples_from_shards(dataset, teacher, workers: int = 2, batch: int = 32,
                               progress: bool = True) -> dict[str, torch.Tensor]:
    """:func:`build_examples` from a dataset of shards (:func:`neuralcodecs.shards.reader.training_shards`,
    ``latents``, same-size images): latents and bits entropy-decoded in ``workers`` DataLoader
    workers, which also read the original images for the teacher.  Examples are in dataset order
    whatever the number of workers."""
    from tqdm import tqdm

    from ..perception import normalize_pixels
    from ..shards.reader import dataset_order

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers)
    keys, latents, bits, targets = [], [], [], []
    for item in tqdm(loader, total=-(-len(dataset) // batch), desc="read shards", disable=not progress):
        x = item["latents"]
        latents.append(x.half())
        bits.append(item["bits"].float() if "bits" in item else x.new_zeros(x.shape[0], *x.shape[2:]))
        targets.append(teacher_tokens(teacher, normalize_pixels(item["original"])).half())
        keys += zip(item["source"], item["mirror"].tolist())
    order = dataset_order(keys)
    return {"latents": torch.cat(latents)[order], "bits": torch.cat(bits)[order], "targets": torch.cat(targets)[order]}


def fit(projector: TokenProjector, examples: dict[str, torch.Tensor], epochs: int, batch: int = 32, lr: float = 1e-3,
        seed: int = 0, progress: bool = True) -> list[dict]:
    """Distill ``projector.features`` onto the teacher's feature maps; one log line per epoch."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    n = len(examples["latents"])
    optimizer = torch.optim.AdamW(projector.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * -(-n // batch))
    log = []
    for epoch in range(epochs):
        projector.train()
        projector.body.eval()  # keep ImageNet batch statistics
        total, started = 0.0, time.time()
        order = torch.randperm(n, generator=generator)
        for start in tqdm(range(0, n, batch), desc=f"distill {epoch + 1}", disable=not progress, leave=False):
            index = order[start : start + batch]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = projector.features(examples["latents"][index].float()).float()
            target = examples["targets"][index].float()
            loss = F.mse_loss(out[..., : target.shape[-2], : target.shape[-1]], target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        log.append({"epoch": epoch + 1, "mse": total / n, "seconds": round(time.time() - started, 1)})
    return log


def save_projector(projector: TokenProjector, path: str | Path, codec: str, quality: float, record: dict,
                   codec_fingerprint: bytes = b"") -> None:
    from ..weightfiles import save_weights, update_sidecar

    tensors = {f"model.{k}": v.half() if v.is_floating_point() else v for k, v in projector.state_dict().items()}
    meta = {"kind": KIND, "codec": codec, "quality": f"{quality:g}", "codec_fingerprint": codec_fingerprint.hex(),
            "in_channels": str(projector.in_channels), "stride": str(projector.stride), "dim": str(projector.dim),
            "width": str(projector.width)}
    fp = save_weights(path, tensors, meta)
    update_sidecar(path, {"kind": KIND, "codec": codec, "quality": quality, "fingerprint": fp.hex(), **record})


def load_projector(path: str | Path) -> tuple[TokenProjector, dict]:
    """``(projector in eval mode, metadata)``; :class:`WeightsError` unless ``path`` holds one."""
    from ..weightfiles import load_weights

    tensors, meta = load_weights(path)
    if meta.get("kind") != KIND:
        raise WeightsError(f"{path} is not a token projector (kind {meta.get('kind')!r})")
    try:
        projector = TokenProjector(int(meta["in_channels"]), int(meta["stride"]), int(meta["dim"]), width=int(meta["width"]))
        projector.load_state_dict({k[len("model."):]: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: not a complete token projector ({exc})") from None
    projector.source = {"codec": meta.get("codec", ""), "codec_fingerprint": meta.get("codec_fingerprint", "")}
    return projector.eval(), meta


def train_projector(codec_name: str, quality: float, train_files: list[Path] | None, teacher_weights: str | Path,
                    out_path: str | Path, epochs: int = 20, batch: int = 32, lr: float = 1e-3, seed: int = 0,
                    cache: str | Path | None = None, progress: bool = True, shards=None, source_root=None,
                    workers: int = 2) -> dict:
    """Train and save a projector for ``codec_name`` at ``quality``; returns the sidecar record.

    ``shards``: a dataset of shards of this codec and quality to read the files from instead of
    encoding ``train_files`` (then unused); ``source_root``: where their source images are
    (default: the manifest's); ``workers`` as :func:`build_examples_from_shards`.
    """
    from .. import load_codec
    from ..downstream.latent_mobilenet import mobilenet_v2

    torch.manual_seed(seed)
    codec = load_codec(codec_name)
    dataset = None
    if shards is not None:
        from ..shards.reader import training_shards

        dataset = training_shards(shards, codec, quality, "latents", source_root)
    teacher = mobilenet_v2(teacher_weights)
    started = time.time()
    cache = Path(cache) if cache else None
    if cache is not None and cache.exists():
        examples = torch.load(cache, weights_only=True)
    else:
        if dataset is not None:
            examples = build_examples_from_shards(dataset, teacher, workers, batch, progress)
        else:
            examples = build_examples(codec, quality, train_files, teacher, progress)
        if cache is not None:
            torch.save(examples, cache)
    prepare_seconds = time.time() - started
    probe = codec.latents(codec.encode(np.zeros((64, 64, 3), np.uint8), quality=quality))
    projector = TokenProjector(probe.tensor.shape[0], probe.stride[0], teacher=teacher)
    log = fit(projector, examples, epochs, batch, lr, seed, progress)
    images = len(train_files) if dataset is None else sum(m.samples for m in dataset.manifests)
    record = {"training_images": images, "log": log, "prepare_seconds": round(prepare_seconds, 1),
              "train_seconds": round(sum(r["seconds"] for r in log), 1),
              "settings": {"epochs": epochs, "batch": batch, "lr": lr, "seed": seed}}
    if dataset is not None:
        record["shards"] = [{"folder": str(m.folder), "samples": m.samples, "mirror": m.mirror} for m in dataset.manifests]
    save_projector(projector, out_path, codec_name, quality, record, codec.fingerprint)
    return record
