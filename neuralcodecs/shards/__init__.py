"""Compressed-domain datasets at scale: image datasets encoded into WebDataset shards of ``.ncb``
files, read back as latents, visual tokens or pixels in ``DataLoader`` workers.

- :mod:`.sources`: the images of a folder (class sub-folders become labels) or a file list, in order.
- :mod:`.layout`: the bytes of a shard (a deterministic ustar archive in WebDataset's layout).
- :mod:`.manifest`: ``manifest.json`` (codec, weights fingerprint, quality, per-shard count and SHA-256).
- :mod:`.encoding`, :mod:`.engines`: the per-sample work, run here, in local worker processes
  or through Ray Data.
- :mod:`.writer`: :func:`encode_dataset` (resumable, byte-identical whatever the engine).
- :mod:`.reader`: :class:`CompressedShards`, the iterable dataset for ``DataLoader``.

``ncodec encode-dataset`` is the command line of :func:`encode_dataset`.  Writing with the
``local`` engine needs nothing more than the library; reading needs ``webdataset`` and the
``ray`` engine needs Ray Data (``pip install 'neuralcodecs[scale]'``).
"""

from .manifest import Manifest, read_manifest
from .reader import CompressedShards
from .sources import list_sources
from .writer import encode_dataset

__all__ = ["CompressedShards", "encode_dataset", "read_manifest", "list_sources", "Manifest"]
