"""Weights files: safetensors (no pickle) with a content fingerprint and a sidecar JSON.

The fingerprint is what a ``.ncb`` header stores (see ``bitstreams/FORMAT.md``): SHA-256
over every tensor's name, dtype, shape and bytes, in name order, truncated to 16 bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .atomic import atomic_write_bytes
from .errors import WeightsError

_DTYPE_NAMES = {
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float32: "F32",
    torch.float64: "F64",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.int16: "I16",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.bool: "BOOL",
}


def fingerprint(tensors: dict[str, torch.Tensor]) -> bytes:
    """16-byte content digest of a set of named tensors."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(name.encode() + b"\0")
        digest.update(_DTYPE_NAMES[t.dtype].encode() + b"\0")
        digest.update(",".join(str(s) for s in t.shape).encode() + b"\0")
        # reshape(-1): a tensor can be contiguous yet have stride != 1 on a size-1 last dimension
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.digest()[:16]


def save_weights(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """Write a safetensors file atomically; returns its fingerprint."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(tensors, metadata={k: str(v) for k, v in metadata.items()}))
    return fingerprint(tensors)


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file; :class:`WeightsError` if it is missing or malformed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {path}") from None
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    try:
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        metadata = json.loads(raw[8 : 8 + header_len]).get("__metadata__", {}) or {}
    except (SafetensorError, ValueError, json.JSONDecodeError, RuntimeError) as exc:
        raise WeightsError(f"{path} is not a valid safetensors weights file: {exc}") from None
    return tensors, metadata


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, read from its header alone (no tensors)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            if not 0 < header_len <= 100_000_000:
                raise ValueError(f"header length {header_len}")
            return json.loads(f.read(header_len)).get("__metadata__", {}) or {}
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {path}") from None
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    except (ValueError, json.JSONDecodeError, AttributeError) as exc:
        raise WeightsError(f"{path} is not a valid safetensors weights file: {exc}") from None


def sidecar_path(weights_path: str | os.PathLike) -> Path:
    """The JSON that documents a weights file (training data, command, results)."""
    return Path(weights_path).with_suffix(".json")


def update_sidecar(weights_path: str | os.PathLike, fields: dict) -> Path:
    """Merge ``fields`` into the weights file's sidecar JSON (created if missing)."""
    path = sidecar_path(weights_path)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(fields)
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    return path


def load_model_weights(path: str | os.PathLike, codec: str, build, transient=lambda name: False, extra_state=None,
                       model_args_of=None):
    """Read a codec's weights file into a fresh model: ``(model, tensors, metadata, model_args)``.

    The file's metadata names ``codec`` and holds ``model_args`` (JSON) for ``build(**model_args)``
    -- or ``model_args_of(metadata)`` makes them, for files that store them otherwise (raising
    ``KeyError``, ``ValueError`` or ``TypeError`` for missing or malformed fields);
    ``model.*`` tensors are its float state (read as float32) and ``extra_state(tensors)`` may add
    entries stored otherwise.  Every state entry must be present except those ``transient(name)``
    accepts (buffers the file does not need).  Raises :class:`WeightsError` otherwise.
    """
    tensors, meta = load_weights(path)
    if meta.get("codec") != codec:
        raise WeightsError(f"{path} holds weights of codec {meta.get('codec')!r}, not {codec!r}")
    try:
        model_args = model_args_of(meta) if model_args_of is not None else json.loads(meta["model_args"])
        model = build(**model_args)
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: metadata lacks valid model_args ({exc})") from None
    state = {k[len("model."):]: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k.startswith("model.")}
    if extra_state is not None:
        state.update(extra_state(tensors))
    try:
        missing, unexpected = torch.nn.Module.load_state_dict(model, state, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: tensors do not fit the model: {exc}") from None
    missing = [k for k in missing if not transient(k)]
    if missing or unexpected:
        raise WeightsError(f"{path}: missing tensors {missing[:5]} / unexpected tensors {unexpected[:5]}")
    return model, tensors, meta, model_args
