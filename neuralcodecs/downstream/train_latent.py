"""Training and loading of latent-domain MobileNetV2 classifiers (:class:`LatentMobileNet`).

Data: every training image (and its mirror image) is encoded with the codec at one quality and
its latents are read back from the file (:meth:`Codec.latents`), exactly as a user of the
``.ncb`` file would get them; the pixel-domain MobileNetV2 (the teacher) sees the original image
(normalized, at its own size -- Imagenette's are 224x224).

1. *Distillation*: only the adapter trains, to reproduce the teacher's activations at the cut
   (mean squared error, the tail is not even run).
2. *Fine-tuning*: adapter and tail train on the labels (cross-entropy over the 1000 ImageNet
   classes) plus the teacher's soft targets (KL divergence at temperature 2); the tail's batch
   normalization keeps its ImageNet statistics.

Weights: ``model.*`` fp16 safetensors, metadata ``kind`` (``latent-classifier``), ``codec``,
``quality``, ``in_channels``, ``stride``, ``width``; a sidecar JSON records the run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CodecArgumentError, WeightsError
from ..perception import IMAGENET_MEAN, IMAGENET_STD
from .latent_mobilenet import LatentMobileNet, mobilenet_v2

KIND = "latent-classifier"
KD_TEMPERATURE = 2.0


def normalize_pixels(pixels: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> ImageNet-normalized float ``(1, 3, H, W)`` (no resizing)."""
    x = torch.from_numpy(np.array(pixels, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
    return (x - torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)


@torch.no_grad()
def build_examples(codec, quality: float, files: list[Path], labels: list[int], teacher, stride: int,
                   mirror: bool = True, progress: bool = True) -> dict[str, torch.Tensor]:
    """Latents from real files, teacher activations and logits, labels (all images the same size)."""
    from tqdm import tqdm

    from ..image.io import load_image

    latents, activations, logits, targets = [], [], [], []
    for path, label in tqdm(list(zip(files, labels)), desc=f"encode {codec.name} q{quality:g}", disable=not progress):
        pixels, _ = load_image(path)
        for view in (pixels, pixels[:, ::-1]) if mirror else (pixels,):
            view = np.ascontiguousarray(view)
            latents.append(codec.latents(codec.encode(view, quality=quality)).picture_tensor().half())
            x = normalize_pixels(view)
            activations.append(LatentMobileNet.teacher_activations(teacher, x, stride)[0].half())
            logits.append(teacher(x)[0])
            targets.append(label)
    return {"latents": torch.stack(latents), "activations": torch.stack(activations), "logits": torch.stack(logits),
            "labels": torch.tensor(targets)}


def _batches(n: int, batch: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch):
        yield order[start : start + batch]


def fit(model: LatentMobileNet, examples: dict[str, torch.Tensor], distill_epochs: int, finetune_epochs: int,
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
        model.tail.eval()  # keep ImageNet batch statistics
        total, started = 0.0, time.time()
        for index in tqdm(list(_batches(n, batch, generator)), desc=f"{phase} {epoch + 1}", disable=not progress, leave=False):
            latents = examples["latents"][index].float()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                if phase == "distill":
                    loss = F.mse_loss(model.adapter(latents).float(), examples["activations"][index].float())
                else:
                    logits = model(latents).float()
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


def save_classifier(model: LatentMobileNet, path: str | Path, codec: str, quality: float, record: dict,
                    codec_fingerprint: bytes = b"") -> None:
    """Write fp16 weights with the metadata that names the codec, quality and codec weights it reads."""
    from ..weightfiles import save_weights, update_sidecar

    tensors = {f"model.{k}": v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    meta = {"kind": KIND, "codec": codec, "quality": f"{quality:g}", "in_channels": str(model.in_channels),
            "stride": str(model.stride), "width": str(model.width), "codec_fingerprint": codec_fingerprint.hex()}
    fp = save_weights(path, tensors, meta)
    update_sidecar(path, {"kind": KIND, "codec": codec, "quality": quality, "fingerprint": fp.hex(), **record})


def load_classifier(path: str | Path) -> tuple[LatentMobileNet, dict]:
    """``(model in eval mode, metadata)``; :class:`WeightsError` unless ``path`` is a latent classifier."""
    from ..weightfiles import load_weights

    tensors, meta = load_weights(path)
    if meta.get("kind") != KIND:
        raise WeightsError(f"{path} is not a latent classifier (kind {meta.get('kind')!r})")
    try:
        model = LatentMobileNet(int(meta["in_channels"]), int(meta["stride"]), width=int(meta["width"]))
        model.load_state_dict({k[len("model."):]: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: not a complete latent classifier ({exc})") from None
    return model.eval(), meta


class LatentClassifier:
    """``classifier(latents) -> ImageNet class index`` for :class:`~neuralcodecs.codec.Latents` of one codec."""

    def __init__(self, weights_path: str | Path):
        self.model, self.meta = load_classifier(weights_path)
        self.codec = self.meta["codec"]

    @torch.no_grad()
    def __call__(self, latents) -> int:
        shape = (latents.codec, latents.tensor.shape[0], latents.stride[0])
        if shape != (self.codec, self.model.in_channels, self.model.stride):
            raise CodecArgumentError(f"latent classifier for {self.codec} ({self.model.in_channels} channels, stride "
                                     f"{self.model.stride}) got {shape[0]} latents with {shape[1]} channels, stride {shape[2]}")
        return int(self.model(latents.picture_tensor()[None].float()).argmax(1))


def train_latent_classifier(codec_name: str, quality: float, train_files: list[Path], labels: list[int],
                            teacher_weights: str | Path, out_path: str | Path, distill_epochs: int = 3,
                            finetune_epochs: int = 3, batch: int = 32, lr: float = 1e-3, seed: int = 0,
                            cache: str | Path | None = None, progress: bool = True) -> dict:
    """Train and save a latent classifier for ``codec_name`` at ``quality``; returns the record."""
    from .. import load_codec

    torch.manual_seed(seed)
    codec = load_codec(codec_name)
    teacher = mobilenet_v2(teacher_weights)
    started = time.time()
    probe = codec.latents(codec.encode(np.zeros((64, 64, 3), np.uint8), quality=quality))
    stride, channels = probe.stride[0], probe.tensor.shape[0]
    cache = Path(cache) if cache else None
    if cache is not None and cache.exists():
        examples = torch.load(cache, weights_only=True)
    else:
        examples = build_examples(codec, quality, train_files, labels, teacher, stride, progress=progress)
        if cache is not None:
            torch.save(examples, cache)
    prepare_seconds = time.time() - started
    model = LatentMobileNet(channels, stride, teacher)
    log = fit(model, examples, distill_epochs, finetune_epochs, batch, lr, seed, progress)
    record = {"training_images": len(train_files), "examples": int(examples["labels"].numel()), "log": log,
              "prepare_seconds": round(prepare_seconds, 1), "train_seconds": round(sum(r["seconds"] for r in log), 1),
              "settings": {"distill_epochs": distill_epochs, "finetune_epochs": finetune_epochs, "batch": batch, "lr": lr, "seed": seed}}
    save_classifier(model, out_path, codec_name, quality, record, codec.fingerprint)
    return record
