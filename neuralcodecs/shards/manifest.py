"""``manifest.json``: what a dataset of shards holds, and the checks that a shard is the one listed.

Schema (version 1; JSON, keys sorted, written atomically after every finished shard)::

    {
     "format": "neuralcodecs-shards", "version": 1,
     "complete": true,                       # false while shards are missing
     "codec": "walloc", "weights_fingerprint": "03cf...", "quality": 2.0,
     "mirror": false,                        # every image followed by its mirror image
     "samples": 3500, "shard_size": 250,
     "classes": ["n01440764", ...],          # label i is classes[i]
     "source_root": "/data/imagenette",      # where the source names point (informational)
     "sources_sha256": "...",                # names, classes, mirror flags, file sizes (resume check)
     "shards": [{"name": "shard-000000.tar", "samples": 250, "bytes": 1290240, "sha256": "..."}, ...]
    }

The manifest holds no time, host or engine: the same input gives the same manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ShardChecksumError, ShardError

FORMAT, VERSION = "neuralcodecs-shards", 1
MANIFEST_NAME = "manifest.json"
#: the settings a resumed run must share with the dataset it continues
SETTINGS = ("codec", "weights_fingerprint", "quality", "mirror", "samples", "shard_size", "classes", "sources_sha256")


@dataclass(frozen=True)
class ShardRecord:
    """One finished shard: file name (in the dataset folder), sample count, size in bytes, SHA-256 (hex)."""

    name: str
    samples: int
    bytes: int
    sha256: str


@dataclass
class Manifest:
    """The parsed ``manifest.json`` (see the module docstring); ``folder`` is where it lies."""

    codec: str
    weights_fingerprint: str
    quality: float
    mirror: bool
    samples: int
    shard_size: int
    classes: list[str]
    source_root: str
    sources_sha256: str
    shards: list[ShardRecord] = field(default_factory=list)
    complete: bool = False
    folder: Path | None = None

    @property
    def shard_count(self) -> int:
        return -(-self.samples // self.shard_size)

    def shard_samples(self, number: int) -> range:
        """Sample indices of shard ``number``."""
        return range(number * self.shard_size, min(self.samples, (number + 1) * self.shard_size))

    def to_json(self) -> bytes:
        body = {k: v for k, v in asdict(self).items() if k != "folder"}
        body.update(format=FORMAT, version=VERSION)
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()

    def write(self, folder: str | os.PathLike) -> None:
        from ..atomic import atomic_write_bytes

        self.shards.sort(key=lambda r: r.name)
        atomic_write_bytes(Path(folder) / MANIFEST_NAME, self.to_json())

    def path_of(self, record: ShardRecord) -> Path:
        return Path(self.folder or ".") / record.name


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The manifest of a dataset folder (or the manifest file itself).

    Raises:
        ShardError: no manifest, not JSON, another format or version, or a field missing or of
            the wrong type.
    """
    path = Path(path)
    file = path / MANIFEST_NAME if path.is_dir() else path
    try:
        body = json.loads(file.read_bytes())
    except FileNotFoundError:
        raise ShardError(f"no {MANIFEST_NAME} in {file.parent}: not a dataset written by ncodec encode-dataset") from None
    except (OSError, ValueError) as exc:
        raise ShardError(f"cannot read {file}: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ShardError(f"{file} is not a neuralcodecs shard manifest")
    if body.get("version") != VERSION:
        raise ShardError(f"{file} has manifest version {body.get('version')!r}; this library reads version {VERSION}")
    try:
        shards = [ShardRecord(str(r["name"]), int(r["samples"]), int(r["bytes"]), str(r["sha256"])) for r in body["shards"]]
        manifest = Manifest(
            codec=str(body["codec"]), weights_fingerprint=str(body["weights_fingerprint"]), quality=float(body["quality"]),
            mirror=bool(body["mirror"]), samples=int(body["samples"]), shard_size=int(body["shard_size"]),
            classes=[str(c) for c in body["classes"]], source_root=str(body["source_root"]),
            sources_sha256=str(body["sources_sha256"]), shards=shards, complete=bool(body["complete"]), folder=file.parent)
    except (KeyError, TypeError, ValueError) as exc:
        raise ShardError(f"{file} is malformed ({type(exc).__name__}: {exc})") from None
    if manifest.shard_size < 1 or manifest.samples < 0:
        raise ShardError(f"{file} is malformed: shard_size {manifest.shard_size}, samples {manifest.samples}")
    for record in shards:
        if Path(record.name).name != record.name or not record.name.endswith(".tar"):
            raise ShardError(f"{file} lists {record.name!r}: a shard is a .tar file in the dataset folder")
    return manifest


def check_shard_bytes(record: ShardRecord, data: bytes, where: str | os.PathLike) -> None:
    """:class:`ShardChecksumError` unless ``data`` has the size and SHA-256 that ``record`` lists."""
    if len(data) != record.bytes:
        raise ShardChecksumError(f"{where}: {len(data)} bytes, but the manifest lists {record.bytes}: the shard was "
                                 "altered or truncated; rerun ncodec encode-dataset on its folder to redo it")
    digest = hashlib.sha256(data).hexdigest()
    if digest != record.sha256:
        raise ShardChecksumError(f"{where}: SHA-256 {digest[:16]}..., but the manifest lists {record.sha256[:16]}...: "
                                 "the shard's bytes changed; rerun ncodec encode-dataset on its folder to redo it")


def read_verified_shard(record: ShardRecord, path: str | os.PathLike) -> bytes:
    """The bytes of the shard file ``path``, checked against ``record`` (size first, before reading).

    Raises:
        ShardError: the file is missing or unreadable.
        ShardChecksumError: its size or SHA-256 differs from the manifest's.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size != record.bytes:
            raise ShardChecksumError(f"{path}: {size} bytes, but the manifest lists {record.bytes}: the shard was "
                                     "altered or truncated; rerun ncodec encode-dataset on its folder to redo it")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ShardError(f"shard missing: {path} (listed in its manifest)") from None
    except OSError as exc:
        raise ShardError(f"cannot read shard {path}: {exc.strerror or exc}") from None
    check_shard_bytes(record, data, path)
    return data
