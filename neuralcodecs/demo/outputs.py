"""Where a demo writes: a new folder (or ``--out``), every file at the end, nothing left on failure.

A tour computes everything in memory first and hands its files to :func:`write_outputs` at the
end, so an interrupted or failed tour leaves no file behind; the folder is created only then.
Each file is written atomically (:func:`~neuralcodecs.atomic.atomic_write_bytes`); if one write
fails, the files this run had already written are removed again and a folder the run created is
removed while it is empty.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write_bytes
from ..cli_checks import check_output_folder, folder_removed_if_empty_on_failure
from ..errors import CodecArgumentError

DEFAULT_FOLDER = "ncodec-demo"


def free_folder(base: Path) -> Path:
    """``base``, or ``base-1``, ``base-2``... : the first that does not exist yet."""
    if not base.exists():
        return base
    for i in range(1, 1000):
        candidate = base.with_name(f"{base.name}-{i}")
        if not candidate.exists():
            return candidate
    raise CodecArgumentError(f"too many {base} folders; pass --out")


def output_folder(out_dir: str | None, names: list[str], force: bool) -> Path:
    """The folder a tour will write ``names`` into, checked before any work.

    Without ``out_dir``: a new ``./ncodec-demo`` (``-1``, ``-2``... when taken).  With it: a
    folder that can be created or written, holding none of ``names`` unless ``force``.
    """
    if not out_dir:
        return free_folder(Path(DEFAULT_FOLDER))
    folder = check_output_folder(out_dir)
    taken = [n for n in names if (folder / n).exists()]
    if taken and not force:
        raise CodecArgumentError(f"{folder} already holds demo outputs ({', '.join(taken[:3])}"
                                 f"{'...' if len(taken) > 3 else ''}); pass --force to overwrite")
    return folder


def write_outputs(folder: Path, files: dict[str, bytes], force: bool) -> list[Path]:
    """Write ``{name: bytes}`` into ``folder`` (created if missing); all of them or none.

    Without ``force`` a file that appeared in the meantime is left as it is and the run fails.
    """
    written: list[Path] = []
    with folder_removed_if_empty_on_failure(folder):
        try:
            for name, data in files.items():
                path = folder / name
                atomic_write_bytes(path, data, overwrite=force)
                written.append(path)
        except BaseException:
            for path in written:
                try:
                    path.unlink()
                except OSError:
                    pass
            raise
    return written
