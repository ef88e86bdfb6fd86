"""What the image and the video evaluation share: the ``NAME:q1,q2`` codec argument and the
``meta`` block of a result (machine, library versions, date, device)."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import numpy as np

from ..errors import CodecArgumentError


def parse_codec_arg(text: str) -> tuple[str, list[float] | None]:
    """``"name"`` or ``"name:q1,q2,..."`` -> (name, qualities or None)."""
    name, _, qs = text.partition(":")
    if not name:
        raise CodecArgumentError(f"bad codec spec {text!r}; use NAME or NAME:q1,q2")
    if not qs:
        return name, None
    try:
        return name, [float(q) for q in qs.split(",") if q]
    except ValueError:
        raise CodecArgumentError(f"bad qualities in {text!r}; use NAME:q1,q2,...") from None


def machine_meta(device: str) -> dict:
    import compressai
    import PIL
    import torch
    from PIL import features

    from .. import __version__

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = device
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    try:
        from importlib.metadata import version as _v

        constriction_version = _v("constriction")
    except Exception:  # pragma: no cover - metadata missing
        constriction_version = "unknown"
    return {
        "machine": {"node": platform.node(), "cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "versions": {
            "neuralcodecs": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "compressai": compressai.__version__,
            "constriction": constriction_version,
            "numpy": np.__version__,
            "pillow": PIL.__version__,
            "libjpeg": features.version("jpg"),
            "libwebp": features.version("webp"),
            "libavif": features.version("avif"),
            "openjpeg": features.version("jpg_2000"),
        },
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": dev,
        "torch_threads": torch.get_num_threads(),
    }
