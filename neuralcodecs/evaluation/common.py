"""What the image and the video evaluation share: the ``NAME:q1,q2`` codec argument (or a loaded
codec), the metrics to measure (``--metrics``), the partial results an interrupted run resumes
from (:class:`PartialResults`) and the ``meta`` block of a result (machine, library versions,
date, device)."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np

from ..codec import Codec
from ..errors import CodecArgumentError

#: what ``--metrics`` may name: ``psnr`` (PSNR-RGB and the YUV PSNRs, cheap) and ``ms-ssim``
#: (MS-SSIM-RGB, seconds per point on a CPU)
METRIC_CHOICES = ("psnr", "ms-ssim")
DEFAULT_METRICS = METRIC_CHOICES


def parse_metrics(value=None) -> tuple[str, ...]:
    """``"psnr,ms-ssim"`` (or a sequence of names; ``None``: both) -> the metrics to measure, in
    :data:`METRIC_CHOICES` order.  PSNR cannot be left out: bpp/PSNR is every curve's axis."""
    if value is None:
        return DEFAULT_METRICS
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip().lower() for n in items if str(n).strip()]
    unknown = [n for n in names if n not in METRIC_CHOICES]
    if unknown:
        raise CodecArgumentError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRIC_CHOICES)} "
                                 "(e.g. --metrics psnr to skip MS-SSIM)")
    if "psnr" not in names:
        raise CodecArgumentError("the metrics must include psnr: bpp/PSNR is every curve's axis "
                                 "(--metrics psnr skips MS-SSIM; --metrics psnr,ms-ssim measures both)")
    return tuple(m for m in METRIC_CHOICES if m in names)


def codec_entries(codec_args) -> list[tuple[str | Codec, list[float] | None]]:
    """Each item of ``codec_args`` as ``(name or loaded codec, qualities or None)``.

    An item is a name (``"webp"``), a name with qualities (``"hyperprior:2,5"``), a codec from
    :func:`neuralcodecs.load_codec`, or a pair ``(name or loaded codec, qualities or None)``.
    """
    if isinstance(codec_args, (str, Codec)):
        codec_args = [codec_args]
    entries = []
    for item in codec_args:
        if isinstance(item, str):
            entries.append(parse_codec_arg(item))
        elif isinstance(item, Codec):
            entries.append((item, None))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], (str, Codec)):
            qualities = item[1]
            entries.append((item[0], [float(q) if isinstance(q, str) else q for q in qualities] if qualities else None))
        else:
            raise CodecArgumentError(f"a codec to evaluate is a name, 'NAME:q1,q2', a loaded codec or a pair "
                                     f"(name or codec, qualities); got {item!r:.80}")
    return entries


def entry_name(codec) -> str:
    """The name of a codec given by name or loaded."""
    return codec.name if isinstance(codec, Codec) else codec


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


# --------------------------------------------------------------------------- partial results

#: the partial results of ``rd.json`` are ``rd.json.partial.jsonl``
PARTIAL_SUFFIX = ".partial.jsonl"
_PARTIAL_FORMAT = 1


def partial_path(out: str | os.PathLike) -> Path:
    """Where an evaluation writing ``out`` keeps its points until it is done."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


def _canonical(value):
    """``value`` as it reads back from JSON (tuples become lists), so that two runs compare."""
    return json.loads(json.dumps(value))


class PartialResults:
    """The results of an unfinished evaluation, one JSON line each, written as they are measured
    (``rd.json.partial.jsonl`` beside ``rd.json``), so that an interrupted run resumes.

    The first line names the run: ``{"ncodec_eval_partial": 1, "run": {...}}`` with every argument
    that decides the numbers (data and its checksum, codecs, qualities and weights fingerprints,
    metrics, device...).  Each further line is one result, flushed as soon as it is measured:
    a point ``{"item": image or clip, "codec": name, "quality": q, "point": {...}}`` or facts
    of an item ``{"item": ..., "facts": {...}}`` (a clip's checksum, a classifier's prediction on
    the original).  Reading back drops a last line cut short by the interruption.  A file written
    for other arguments is refused (:class:`CodecArgumentError` naming what differs), unless
    ``restart``, which starts it over.  The lines survive a killed process; after a power cut the
    file may lose its last lines, never gain wrong ones.
    """

    def __init__(self, path: str | os.PathLike, run: dict, restart: bool = False):
        self.path = Path(path)
        self.run = _canonical(run)
        self._points: dict[tuple[str, str, float], dict] = {}
        self._facts: dict[str, dict] = {}
        self.resumed = 0
        if self.path.exists() and not restart:
            self._read()
            self._file = open(self.path, "a", encoding="utf-8")
        else:
            self._file = open(self.path, "w", encoding="utf-8")
            self._write({"ncodec_eval_partial": _PARTIAL_FORMAT, "run": self.run})

    # ------------------------------------------------------------------ reading back
    def _refuse(self, why: str):
        raise CodecArgumentError(f"{self.path} {why}; rerun with the same arguments to resume it, or start over with "
                                 "--force (restart=True from Python), which discards it")

    def _read(self) -> None:
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")[:-1]  # the last piece is empty, or a line the interruption cut short
        try:
            header = json.loads(lines[0]) if lines else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            header = None
        if (not isinstance(header, dict) or header.get("ncodec_eval_partial") != _PARTIAL_FORMAT
                or not isinstance(header.get("run"), dict)):
            self._refuse("is not the partial results of an ncodec eval run")
        differ = [key for key in sorted(set(header["run"]) | set(self.run)) if header["run"].get(key) != self.run.get(key)]
        if differ:
            shown = "; ".join(f"{key}: {_short(header['run'].get(key))} then, {_short(self.run.get(key))} now" for key in differ)
            self._refuse(f"holds the points of an unfinished run with other arguments ({shown})")
        good = len(lines[0]) + 1
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                if "point" in entry:
                    self._points[(entry["item"], entry["codec"], float(entry["quality"]))] = entry["point"]
                else:
                    self._facts.setdefault(entry["item"], {}).update(entry["facts"])
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
                break  # a damaged line (a power cut): what follows it is measured again
            good += len(line) + 1
        if good != len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(good)
        self.resumed = len(self._points)

    # ------------------------------------------------------------------ lookups
    def points(self, item: str) -> dict[tuple[str, float], dict]:
        """``{(codec, quality): point}`` of ``item`` measured before."""
        return {(codec, q): point for (i, codec, q), point in self._points.items() if i == item}

    def facts(self, item: str) -> dict:
        return dict(self._facts.get(item, {}))

    # ------------------------------------------------------------------ writing
    def _write(self, entry: dict) -> None:
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()

    def add(self, entry: dict) -> None:
        """Record one result line (``{"item", "codec", "quality", "point"}`` or ``{"item", "facts"}``)."""
        if "point" in entry:
            self._points[(entry["item"], entry["codec"], float(entry["quality"]))] = entry["point"]
        else:
            self._facts.setdefault(entry["item"], {}).update(entry["facts"])
        self._write(entry)

    def close(self, keep: bool = True) -> None:
        """Close the file; with ``keep=False`` remove it when it holds no result (a run that failed
        before its first point leaves nothing behind)."""
        self._file.close()
        if not keep and not self._points and not self._facts:
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(keep=exc_type is None)


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 100 else text[:97] + "..."


def resumed_note(partial: PartialResults | None) -> dict | None:
    """What ``meta`` says of a resumed run (its earlier points' times come from the earlier session)."""
    if partial is None or not partial.resumed:
        return None
    return {"points": partial.resumed, "from": partial.path.name}
