"""Checks the command line runs before any work, so that a failure costs nothing.

Each raises :class:`CodecArgumentError` (one ``error:`` line, exit status 2) with what is
wrong and how to fix it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import CodecArgumentError


def check_output(path: str | os.PathLike, force: bool, suffixes: tuple[str, ...] | None = None) -> Path:
    """An output file that can be written: its folder exists and is writable, it is not a
    folder, it does not exist unless ``force``, and its extension is one of ``suffixes``."""
    out = Path(path)
    if out.is_dir():
        raise CodecArgumentError(f"output {out} is a folder; give a file name")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise CodecArgumentError(f"output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CodecArgumentError(f"output folder {folder} is not writable")
    _probe_write(folder)
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise CodecArgumentError(f"output {out.name!r} must end with {' or '.join(suffixes)}")
    if out.exists() and not force:
        raise CodecArgumentError(f"output exists: {out} (pass --force to overwrite)")
    return out


def check_output_folder(path: str | os.PathLike) -> Path:
    """A folder the command may create or fill: its parent exists and is writable; if the
    folder exists it is a writable folder."""
    folder = Path(path)
    if folder.exists():
        if not folder.is_dir():
            raise CodecArgumentError(f"{folder} exists and is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CodecArgumentError(f"folder {folder} is not writable")
        _probe_write(folder)
        return folder
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise CodecArgumentError(f"cannot create {folder}: its parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CodecArgumentError(f"cannot create {folder}: {parent} is not writable")
    _probe_write(parent)
    return folder


def _probe_write(folder: Path) -> None:
    """Create and remove a file in ``folder``: permissions say nothing to root, a read-only mount or
    a pseudo file system (``/proc``) refuses what ``os.access`` allows."""
    import tempfile

    try:
        fd, name = tempfile.mkstemp(prefix=".ncodec-probe-", dir=folder)
    except OSError as exc:
        raise CodecArgumentError(f"output folder {folder} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)


def check_input_file(path: str | os.PathLike, what: str = "input") -> Path:
    p = Path(path)
    if not p.exists():
        raise CodecArgumentError(f"{what} not found: {p}")
    if not p.is_file():
        raise CodecArgumentError(f"{what} {p} is not a file")
    if not os.access(p, os.R_OK):
        raise CodecArgumentError(f"{what} {p} is not readable")
    return p


@contextlib.contextmanager
def folder_removed_if_empty_on_failure(folder: Path):
    """Create ``folder`` (and parents that are missing); if the block fails, remove the
    folders it created as long as they are still empty."""
    created = []
    probe = folder
    while not probe.exists():
        created.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in created:  # deepest first
            try:
                path.rmdir()
            except OSError:
                break
        raise
