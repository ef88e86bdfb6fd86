"""Device names from users (``--device``) to torch devices, with typed errors."""

from __future__ import annotations

from .errors import CodecArgumentError


def resolve_device(name: str):
    """``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"`` -> ``torch.device``.

    Raises :class:`CodecArgumentError` for an unknown name or a device this machine lacks.
    """
    import torch

    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise CodecArgumentError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CodecArgumentError(f"device {name!r} asked for, but this machine has no usable CUDA GPU; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CodecArgumentError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    if device.type == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return device
    raise CodecArgumentError(f"device {name!r} is not available on this machine; use cpu, cuda or auto")
