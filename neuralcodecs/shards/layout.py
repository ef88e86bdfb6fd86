"""The bytes of a shard: a plain (uncompressed) POSIX ustar archive in WebDataset's layout.

A sample is two consecutive members sharing a key, the sample's index written with 8 digits
(``00000042``; WebDataset splits a member name at its first dot into key and extension):

==================  ===========================================================================
``KEY.json``        ``{"class":"n01440764","label":3,"mirror":false,"source":"train/n01440764/x.JPEG"}``
                    (UTF-8, keys sorted, no spaces; label -1 and class ``""`` for an image
                    without a class)
``KEY.ncb``         the complete ``.ncb`` file (``bitstreams/FORMAT.md``)
==================  ===========================================================================

The label travels in the JSON member rather than in a ``.cls`` member of its own: a tar member
costs a 512-byte header plus padding to 512 bytes, about 1 kB, against the 3-4 kB of a 224x224
``.ncb`` file.

Every header field that could vary is fixed -- mtime 0, uid/gid 0, empty user and group names,
mode 0444, members in the order above, samples in index order, ustar format (no pax records) --
so the same samples always give the same bytes, whatever wrote them.  Shard ``k`` is
``shard-00000k.tar`` (6 digits) and holds samples ``[k * shard_size, (k + 1) * shard_size)``.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass

from ..errors import ShardError

#: the member extensions of a sample, in the order they are written
MEMBERS = ("json", "ncb")
SHARD_PATTERN = "shard-{:06d}.tar"
#: the value of the fixed header fields
MTIME, MODE = 0, 0o444


def shard_name(number: int) -> str:
    """``shard-000007.tar`` for shard 7."""
    return SHARD_PATTERN.format(number)


def sample_key(index: int) -> str:
    """The member-name stem of sample ``index``: 8 digits, no dot."""
    return f"{index:08d}"


@dataclass(frozen=True)
class EncodedSample:
    """One sample as it is stored.

    Attributes:
        index: position in the dataset.
        ncb: the bytes of the ``.ncb`` file.
        label: class index, -1 for none.
        class_name: the class, ``""`` for none.
        source: the source name (see :class:`~neuralcodecs.shards.sources.SourceImage`).
        mirror: the file codes the mirror image of the source.
    """

    index: int
    ncb: bytes
    label: int
    class_name: str
    source: str
    mirror: bool = False

    @property
    def key(self) -> str:
        return sample_key(self.index)

    def members(self) -> list[tuple[str, bytes]]:
        """``[(member name, bytes)]`` in the written order."""
        meta = json.dumps({"class": self.class_name, "label": self.label, "mirror": self.mirror, "source": self.source},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        values = {"json": meta, "ncb": self.ncb}
        return [(f"{self.key}.{ext}", values[ext]) for ext in MEMBERS]

    def to_row(self) -> dict:
        """A plain dict (worker results, Arrow rows)."""
        return {"index": self.index, "ncb": self.ncb, "label": self.label, "class_name": self.class_name,
                "source": self.source, "mirror": self.mirror}

    @classmethod
    def from_row(cls, row: dict) -> "EncodedSample":
        return cls(int(row["index"]), bytes(row["ncb"]), int(row["label"]), str(row["class_name"]), str(row["source"]),
                   bool(row["mirror"]))


def shard_bytes(samples: list[EncodedSample]) -> bytes:
    """The archive of ``samples`` (in index order), with the fixed header fields."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in sorted(samples, key=lambda s: s.index):
            for name, data in sample.members():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), MTIME, MODE
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def looks_like_plain_tar(data: bytes) -> bool:
    """A ustar archive (the magic at byte 257), not a compressed or foreign file: the reader's
    tar parser would otherwise decompress gzip, bz2 or xz members on the fly."""
    return len(data) >= 512 and data[257:262] == b"ustar"


def parse_sample(sample: dict) -> EncodedSample:
    """A sample as WebDataset groups it (``{"__key__": ..., "json": bytes, "ncb": bytes}``) ->
    :class:`EncodedSample`.  Only these two members are read, as JSON and as raw bytes; other
    members are ignored, never decoded (nothing is unpickled).

    Raises:
        ShardError: a member is missing or malformed.
    """
    key = sample.get("__key__", "?")
    where = f"{sample.get('__url__', 'shard')}: sample {key}"
    missing = [ext for ext in MEMBERS if ext not in sample]
    if missing:
        raise ShardError(f"{where} lacks its {', '.join('.' + m for m in missing)} member(s)")
    try:
        index = int(str(key).rsplit("/", 1)[-1])
        meta = json.loads(sample["json"].decode("utf-8"))
        label, class_name = int(meta.get("label", -1)), str(meta.get("class", ""))
        source, mirror = str(meta.get("source", "")), bool(meta.get("mirror", False))
    except (ValueError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise ShardError(f"{where} is malformed: {exc}") from None
    return EncodedSample(index, bytes(sample["ncb"]), label, class_name, source, mirror)
