"""Training and loading of classifiers for one codec point: latent-domain MobileNetV2
(:class:`LatentMobileNet`, the ``latent`` domain) and its fair pixel-domain counterpart
(:class:`PixelMobileNet`, the ``pixel`` domain: the whole MobileNetV2 fine-tuned on the point's
decoded pixels).

Data: every training image (and its mirror image) is encoded with the codec at one quality and
its latents are read back from the file (:meth:`Codec.latents`), exactly as a user of the
``.ncb`` file would get them -- or, for the pixel domain, the file is decoded; the pixel-domain
MobileNetV2 (the teacher) sees the original image (normalized, at its own size -- Imagenette's
are 224x224).  Or the files come from a dataset of shards written beforehand
(``ncodec encode-dataset --mirror``, :mod:`neuralcodecs.shards`): DataLoader workers decode them
and read the original images, and no image is encoded (:func:`build_examples_from_shards`).

1. *Distillation* (latent domain only): only the adapter trains, to reproduce the teacher's
   activations at the cut (mean squared error, the tail is not even run).
2. *Fine-tuning*: the model trains on the labels (cross-entropy over the 1000 ImageNet classes)
   plus the teacher's soft targets (KL divergence at temperature 2); the pretrained convolutional
   layers keep their ImageNet batch-normalization statistics.

Weights: ``model.*`` fp16 safetensors, metadata ``kind`` (``latent-classifier`` or
``pixel-classifier``), ``codec``, ``quality``, ``codec_fingerprint`` and, for latents,
``in_channels``, ``stride``, ``width``; a sidecar JSON records the run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CodecArgumentError, WeightsError
from ..perception import normalize_pixels
from .latent_mobilenet import LatentMobileNet, PixelMobileNet, mobilenet_v2

KINDS = {"latent": "latent-classifier", "pixel": "pixel-classifier"}
KIND = KINDS["latent"]
KD_TEMPERATURE = 2.0


@torch.no_grad()
def build_examples(codec, quality: float, files: list[Path], labels: list[int], teacher, stride: int,
                   mirror: bool = True, progress: bool = True, domain: str = "latent") -> dict[str, torch.Tensor]:
    """Model inputs from real files, teacher logits (and activations at the cut), labels.

    ``inputs``: the file's latents (``domain="latent"``, fp16 ``(N, C, h, w)``) or its decoded
    pixels (``"pixel"``, uint8 ``(N, H, W, 3)``); all images must have the same size.
    """
    from tqdm import tqdm

    from ..image.io import load_image

    inputs, activations, logits, targets = [], [], [], []
    for path, label in tqdm(list(zip(files, labels)), desc=f"encode {codec.name} q{quality:g}", disable=not progress):
        pixels, _ = load_image(path)
        for view in (pixels, pixels[:, ::-1]) if mirror else (pixels,):
            view = np.ascontiguousarray(view)
            data = codec.encode(view, quality=quality)
            x = normalize_pixels(view)
            if domain == "latent":
                inputs.append(codec.latents(data).picture_tensor().half())
                activations.append(LatentMobileNet.teacher_activations(teacher, x, stride)[0].half())
            else:
                inputs.append(torch.from_numpy(np.ascontiguousarray(codec.decode(data))))
            logits.append(teacher(x)[0])
            targets.append(label)
    examples = {"inputs": torch.stack(inputs), "logits": torch.stack(logits), "labels": torch.tensor(targets)}
    if activations:
        examples["activations"] = torch.stack(activations)
    return examples


@torch.no_grad()
def build_examples_from_shards(dataset, teacher, stride: int | None, domain: str = "latent",
                               class_map: dict[str, int] | None = None, workers: int = 2, batch: int = 32,
                               progress: bool = True) -> dict[str, torch.Tensor]:
    """:func:`build_examples` from a dataset of shards (``ncodec encode-dataset``; with ``--mirror``
    it holds the same files as the in-process path).

    ``dataset``: :func:`neuralcodecs.shards.reader.training_shards` (``latents`` for the latent
    domain, ``pixels`` for the pixel domain); its files are entropy-decoded (no synthesis) or
    decoded in ``workers`` DataLoader workers, which also read the original images for the
    teacher.  Labels: ``class_map[class name]`` (e.g. the ImageNet index of an Imagenette folder),
    or the shards' own labels.  Examples are in dataset order whatever the number of workers.
    """
    from tqdm import tqdm

    from ..shards.reader import dataset_order

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers)
    keys, inputs, activations, logits, targets = [], [], [], [], []
    for item in tqdm(loader, total=-(-len(dataset) // batch), desc="read shards", disable=not progress):
        x = normalize_pixels(item["original"])
        if domain == "latent":
            inputs.append(item["latents"].half())
            activations.append(LatentMobileNet.teacher_activations(teacher, x, stride).half())
        else:
            inputs.append(item["pixels"])
        logits.append(teacher(x))
        if class_map is None:
            targets.append(item["label"])
        else:
            unknown = sorted({c for c in item["class"] if c not in class_map})
            if unknown:
                raise CodecArgumentError(f"classes {', '.join(map(repr, unknown))} of the shards are not in the class map")
            targets.append(torch.tensor([class_map[c] for c in item["class"]]))
        keys += zip(item["source"], item["mirror"].tolist())
    order = dataset_order(keys)
    examples = {"inputs": torch.cat(inputs)[order], "logits": torch.cat(logits)[order], "labels": torch.cat(targets)[order]}
    if activations:
        examples["activations"] = torch.cat(activations)[order]
    return examples


def model_input(model, batch: torch.Tensor) -> torch.Tensor:
    """Stored inputs -> what ``model`` takes: float latents, or normalized pixels ``(B, 3, H, W)``."""
    return normalize_pixels(batch) if isinstance(model, PixelMobileNet) else batch.float()


def _batches(n: int, batch: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch):
        yield order[start : start + batch]


def fit(model: LatentMobileNet | PixelMobileNet, examples: dict[str, torch.Tensor], distill_epochs: int, finetune_epochs: int,
        batch: int = 32, lr: float = 1e-3, seed: int = 0, progress: bool = True) -> list[dict]:
    """Distill, then fine-tune (see the module docstring); returns one log line per epoch."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    n = examples["labels"].numel()
    log = []
    phases = [("distill", e) for e in range(distill_epochs)] + [("finetune", e) for e in range(finetune_epochs)]
    optimizer = None
    for phase, epoch in phases:
        if epoch == 0:
            trainable = model.adapter.parameters() if phase == "distill" else model.parameters()
            optimizer = torch.optim.AdamW(trainable, lr=lr if phase == "distill" else lr / 10, weight_decay=1e-4)
            epochs = distill_epochs if phase == "distill" else finetune_epochs
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * -(-n // batch))
        model.train()
        (model.tail if isinstance(model, LatentMobileNet) else model.net.features).eval()  # keep ImageNet batch statistics
        total, started = 0.0, time.time()
        for index in tqdm(list(_batches(n, batch, generator)), desc=f"{phase} {epoch + 1}", disable=not progress, leave=False):
            inputs = model_input(model, examples["inputs"][index])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                if phase == "distill":
                    loss = F.mse_loss(model.adapter(inputs).float(), examples["activations"][index].float())
                else:
                    logits = model(inputs).float()
                    soft = F.kl_div(F.log_softmax(logits / KD_TEMPERATURE, 1), F.log_softmax(examples["logits"][index] / KD_TEMPERATURE, 1),
                                    log_target=True, reduction="batchmean") * KD_TEMPERATURE**2
                    loss = F.cross_entropy(logits, examples["labels"][index]) + soft
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * index.numel()
        log.append({"phase": phase, "epoch": epoch + 1, "loss": total / n, "seconds": round(time.time() - started, 1)})
    return log


def save_classifier(model: LatentMobileNet | PixelMobileNet, path: str | Path, codec: str, quality: float, record: dict,
                    codec_fingerprint: bytes = b"") -> None:
    """Write fp16 weights with the metadata that names the domain, codec, quality and codec weights."""
    from ..weightfiles import save_weights, update_sidecar

    kind = KINDS["latent" if isinstance(model, LatentMobileNet) else "pixel"]
    tensors = {f"model.{k}": v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    meta = {"kind": kind, "codec": codec, "quality": f"{quality:g}", "codec_fingerprint": codec_fingerprint.hex()}
    if isinstance(model, LatentMobileNet):
        meta.update(in_channels=str(model.in_channels), stride=str(model.stride), width=str(model.width))
    fp = save_weights(path, tensors, meta)
    update_sidecar(path, {"kind": kind, "codec": codec, "quality": quality, "fingerprint": fp.hex(), **record})


def load_classifier(path: str | Path) -> tuple[LatentMobileNet | PixelMobileNet, dict]:
    """``(model in eval mode, metadata)``; :class:`WeightsError` unless ``path`` is a point classifier."""
    from ..weightfiles import load_weights

    tensors, meta = load_weights(path)
    if meta.get("kind") not in KINDS.values():
        raise WeightsError(f"{path} is not a latent or pixel classifier (kind {meta.get('kind')!r})")
    try:
        if meta["kind"] == KINDS["latent"]:
            model = LatentMobileNet(int(meta["in_channels"]), int(meta["stride"]), width=int(meta["width"]))
        else:
            model = PixelMobileNet()
        model.load_state_dict({k[len("model."):]: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: not a complete {meta['kind']} ({exc})") from None
    return model.eval(), meta


class LatentClassifier:
    """``classifier(latents) -> ImageNet class index`` for :class:`~neuralcodecs.codec.Latents` of one codec."""

    domain = "latent"

    def __init__(self, weights_path: str | Path):
        self.model, self.meta = load_classifier(weights_path)
        if self.meta["kind"] != KINDS[self.domain]:
            raise WeightsError(f"{weights_path} is a {self.meta['kind']}, not a {KINDS[self.domain]}")
        self.codec = self.meta["codec"]

    @torch.no_grad()
    def __call__(self, latents) -> int:
        shape = (latents.codec, latents.tensor.shape[0], latents.stride[0])
        if shape != (self.codec, self.model.in_channels, self.model.stride):
            raise CodecArgumentError(f"latent classifier for {self.codec} ({self.model.in_channels} channels, stride "
                                     f"{self.model.stride}) got {shape[0]} latents with {shape[1]} channels, stride {shape[2]}")
        return int(self.model(latents.picture_tensor()[None].float()).argmax(1))


class TunedPixelClassifier(LatentClassifier):
    """``classifier(decoded pixels) -> ImageNet class index``: MobileNetV2 fine-tuned on one point's decoded pixels.

    It sees the whole decoded picture (uint8 ``(H, W, 3)``), normalized, at its own size -- as it
    was trained and as the latent classifier sees the latents.
    """

    domain = "pixel"

    @torch.no_grad()
    def __call__(self, pixels: np.ndarray) -> int:
        return int(self.model(normalize_pixels(pixels)).argmax(1))


def load_point_classifier(path: str | Path) -> LatentClassifier:
    """The latent or pixel classifier stored in ``path`` (by its ``kind``)."""
    from ..weightfiles import read_metadata

    kind = read_metadata(path).get("kind")
    return (TunedPixelClassifier if kind == KINDS["pixel"] else LatentClassifier)(path)


def train_point_classifier(codec_name: str, quality: float, train_files: list[Path] | None, labels: list[int] | None,
                           teacher_weights: str | Path, out_path: str | Path, domain: str = "latent",
                           distill_epochs: int = 3, finetune_epochs: int = 3, batch: int = 32, lr: float = 1e-3,
                           seed: int = 0, cache: str | Path | None = None, progress: bool = True, shards=None,
                           class_map: dict[str, int] | None = None, source_root=None, workers: int = 2) -> dict:
    """Train and save a ``domain`` (``latent`` or ``pixel``) classifier for ``codec_name`` at ``quality``.

    The pixel domain has no distillation phase (nothing to distill at a cut: it is the teacher's
    own architecture); both fine-tune for ``finetune_epochs`` on the same images.  Returns the
    record written to the sidecar.

    ``shards``: a dataset of shards of this codec and quality (a folder or a list,
    :class:`~neuralcodecs.shards.CompressedShards`) to read the files from instead of encoding
    ``train_files`` (then unused, as ``labels``); ``source_root``: where their source images are
    (default: the manifest's); ``class_map`` and ``workers`` as :func:`build_examples_from_shards`.
    """
    if domain not in KINDS:
        raise CodecArgumentError(f"domain must be one of {sorted(KINDS)}, got {domain!r}")
    torch.manual_seed(seed)
    codec = point_codec(codec_name)
    dataset = None
    if shards is not None:
        if codec.fingerprint is None:
            raise CodecArgumentError(f"{codec_name} is a classical codec: shards hold .ncb files of learned codecs")
        from ..shards.reader import training_shards

        dataset = training_shards(shards, codec, quality, "latents" if domain == "latent" else "pixels", source_root)
    if domain == "latent" and codec.fingerprint is None:
        raise CodecArgumentError(f"{codec_name} is a classical codec: it has no latents, only the pixel domain")
    teacher = mobilenet_v2(teacher_weights)
    started = time.time()
    stride = channels = None
    if domain == "latent":
        probe = codec.latents(codec.encode(np.zeros((64, 64, 3), np.uint8), quality=quality))
        stride, channels = probe.stride[0], probe.tensor.shape[0]
    cache = Path(cache) if cache else None
    if cache is not None and cache.exists():
        examples = torch.load(cache, weights_only=True)
        if "latents" in examples:  # caches written before the pixel domain existed
            examples["inputs"] = examples.pop("latents")
    elif dataset is not None:
        examples = build_examples_from_shards(dataset, teacher, stride, domain, class_map, workers, batch, progress)
        if cache is not None:
            torch.save(examples, cache)
    else:
        examples = build_examples(codec, quality, train_files, labels, teacher, stride, progress=progress, domain=domain)
        if cache is not None:
            torch.save(examples, cache)
    prepare_seconds = time.time() - started
    if domain == "latent":
        model = LatentMobileNet(channels, stride, teacher)
    else:
        model, distill_epochs = PixelMobileNet(teacher), 0
    log = fit(model, examples, distill_epochs, finetune_epochs, batch, lr, seed, progress)
    images = len(train_files) if dataset is None else sum(m.samples // (2 if m.mirror else 1) for m in dataset.manifests)
    record = {"domain": domain, "training_images": images, "examples": int(examples["labels"].numel()), "log": log,
              "prepare_seconds": round(prepare_seconds, 1), "train_seconds": round(sum(r["seconds"] for r in log), 1),
              "settings": {"distill_epochs": distill_epochs, "finetune_epochs": finetune_epochs, "batch": batch, "lr": lr, "seed": seed}}
    if dataset is not None:
        record["shards"] = [{"folder": str(m.folder), "samples": m.samples, "mirror": m.mirror} for m in dataset.manifests]
    save_classifier(model, out_path, codec_name, quality, record, codec.fingerprint or b"")
    return record


class _AnchorCodec:
    """A classical anchor (:mod:`neuralcodecs.anchors`) behind the two calls training needs."""

    fingerprint = None

    def __init__(self, name: str):
        from ..anchors import anchor

        self.name, self._anchor = name, anchor(name)

    def encode(self, pixels: np.ndarray, quality: float) -> bytes:
        return self._anchor.encode(pixels, quality)

    def decode(self, data: bytes) -> np.ndarray:
        return self._anchor.decode(data)


def point_codec(name: str):
    """A learned codec of the registry, or a classical anchor (JPEG, WebP, AVIF...: pixel domain only)."""
    from .. import load_codec
    from ..anchors import ANCHORS

    return _AnchorCodec(name) if name in ANCHORS else load_codec(name)
