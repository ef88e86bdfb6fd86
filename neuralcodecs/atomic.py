"""Atomic file output: a reader sees the old file or the whole new one, never a part.

The data goes to a temporary file in the destination folder (created with mode 0666, so
the process umask applies as for any new file; the umask itself is never changed), is
flushed and fsynced, then moved into place, and the folder is fsynced so the rename survives
a crash.  Without ``overwrite`` the move is a hard link, which fails if the destination
appeared in the meantime: a file created by someone else during a long job is never
silently replaced.  On any failure the temporary file is removed and no descriptor is left
open.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from .errors import CodecArgumentError


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some platforms cannot open folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    Args:
        overwrite: replace an existing ``path``; if False, raise :class:`CodecArgumentError`
            when ``path`` exists at the moment of the move (nothing is written).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise CodecArgumentError(f"output {path} appeared while working; it was left as it is (pass --force to overwrite)") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                # no hard links on this file system: check, then rename (a small race remains)
                if path.exists():
                    raise CodecArgumentError(f"output {path} appeared while working; it was left as it is") from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
        _fsync_folder(folder)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
