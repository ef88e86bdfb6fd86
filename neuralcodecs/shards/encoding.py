"""The per-sample work every engine runs: one source image -> one stored sample.

:func:`encode_task` is a plain module-level function of plain values (a task dict from
:meth:`~neuralcodecs.shards.sources.SourceImage.task`, the codec's name and the quality), so that
worker processes and Ray Data import and call it by name.  Each process loads the codec once
and encodes with one torch thread: the analysis transform's floating-point sums then run in the
same order in every worker, engine and machine of the same kind, which is what makes shards
byte-identical whatever the engine or job count (DESIGN.md, "Determinism").
"""

from __future__ import annotations

import functools

#: torch threads per encoding worker
THREADS = 1


@functools.lru_cache(maxsize=4)
def worker_codec(name: str):
    """The codec ``name`` with its shipped weights, loaded once per process (CPU)."""
    from .. import load_codec

    return load_codec(name)


def use_one_thread() -> int:
    """Set torch's intra-op threads to :data:`THREADS`; returns the count before."""
    import torch

    before = torch.get_num_threads()
    if before != THREADS:
        torch.set_num_threads(THREADS)
    return before


def encode_task(task: dict, codec: str, quality: float) -> dict:
    """Encode the image of ``task`` (its mirror image if ``task["mirror"]``) with ``codec`` at
    ``quality``; returns :meth:`EncodedSample.to_row` of the result.

    The image goes through :func:`neuralcodecs.image.io.load_image` as ``ncodec encode`` reads it
    (a grayscale file stays grayscale, its mirror too).
    """
    import numpy as np

    from ..bitstream import COLOR_GRAY
    from ..image.io import load_image
    from .layout import EncodedSample

    use_one_thread()
    model = worker_codec(codec)
    pixels, color = load_image(task["path"])
    if task["mirror"]:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    data = model.encode(pixels[..., 0] if color == COLOR_GRAY else pixels, quality=quality)
    return EncodedSample(task["index"], data, task["label"], task["class_name"], task["name"], task["mirror"]).to_row()


def encode_row(row: dict, codec: str, quality: float) -> dict:
    """:func:`encode_task` for a Ray Data row (Arrow values back to Python ones).

    A typed error (an unreadable image...) comes back as data -- ``error_type`` (its class name
    in :mod:`neuralcodecs.errors`) and ``error`` (its message) -- because Ray hands the caller a
    task's exception as text only; :func:`raise_row_error` raises it again on the driver.
    Successful rows carry both fields empty (one Arrow schema for every row).
    """
    from ..errors import NeuralCodecsError

    task = {"index": int(row["index"]), "path": str(row["path"]), "name": str(row["name"]),
            "class_name": str(row["class_name"]), "label": int(row["label"]), "mirror": bool(row["mirror"])}
    try:
        return {**encode_task(task, codec, quality), "error_type": "", "error": ""}
    except NeuralCodecsError as exc:
        return {"index": task["index"], "ncb": b"", "label": task["label"], "class_name": task["class_name"],
                "source": task["name"], "mirror": task["mirror"], "error_type": type(exc).__name__, "error": str(exc)}


def raise_row_error(row: dict) -> None:
    """Raise the typed error a row of :func:`encode_row` carries, if any (as its own class when
    :mod:`neuralcodecs.errors` defines it, else as :class:`NeuralCodecsError`)."""
    from .. import errors

    if row.get("error_type"):
        kind = getattr(errors, str(row["error_type"]), None)
        kind = kind if isinstance(kind, type) and issubclass(kind, errors.NeuralCodecsError) else errors.NeuralCodecsError
        raise kind(str(row["error"]))
