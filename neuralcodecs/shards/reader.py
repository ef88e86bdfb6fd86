"""``CompressedShards``: a dataset of shards as an iterable dataset for ``torch.utils.data.DataLoader``.

The pipeline is WebDataset's (``webdataset`` package), stage by stage::

    SimpleShardList (shuffled by seed and epoch) -> split_by_node -> split_by_worker
    -> open + verify (size and SHA-256 against the manifest) -> tar_file_expander -> group_by_keys
    -> shuffle (sample buffer) -> decode (entropy decoding, here in the DataLoader worker)

so shards are spread over torch.distributed ranks and DataLoader workers as WebDataset users
expect: every worker shuffles the shard list the same way for an epoch and takes every
``num_workers``-th shard (a worker without a shard yields nothing: give at least as many shards
as workers), then shuffles samples in a buffer of its own.  The epoch counts the passes over the
dataset object in a process (``persistent_workers=True``), or is set with :meth:`set_epoch`
(as with ``DistributedSampler``) when workers are started anew each epoch.

Two stages are ours: opening reads a shard only from a local file (never a ``pipe:`` or URL,
which WebDataset's opener would run or fetch) and checks its bytes against the manifest before
the tar parser sees them (a shard whose bytes changed raises
:class:`~neuralcodecs.errors.ShardChecksumError`), and decoding reads the two members a sample
has (:func:`~neuralcodecs.shards.layout.parse_sample`): WebDataset's default decoders, which
unpickle ``.pyd`` members, are never used.

Each sample is a dict: ``__key__`` (str), ``label`` (int, -1 for none), ``class`` (str),
``source`` (str), ``mirror`` (bool), and by ``output``:

- ``"latents"``: ``latents`` float32 ``(C, h, w)`` (the positions that cover the picture,
  :meth:`~neuralcodecs.codec.Latents.picture_tensor`) and, where the codec attributes its bits,
  ``bits`` float32 ``(h, w)``; no synthesis runs;
- ``"tokens"``: ``tokens`` ``(n, D)`` and ``positions`` long ``(n, 3)`` after a token-budget
  strategy (:func:`neuralcodecs.adapter.core.tokens_from_latents`); no synthesis runs;
- ``"pixels"``: ``pixels`` uint8 ``(H, W, 3)``, decoded;

plus, with ``source_root``, ``original`` uint8 ``(H, W, 3)``: the source image read from there
(mirrored for a mirror sample), for distillation from a pixel-domain teacher.  Batching with the
default collate needs samples of one size; give a ``collate_fn`` otherwise.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterator
from pathlib import Path

import torch

from ..errors import CodecArgumentError, ShardError
from .layout import looks_like_plain_tar, parse_sample
from .manifest import MANIFEST_NAME, Manifest, ShardRecord, read_manifest, read_verified_shard

OUTPUTS = ("latents", "tokens", "pixels")


def _datasets(paths) -> list[tuple[Manifest, list[ShardRecord]]]:
    """``[(manifest, the shards of it to read)]`` for dataset folders, manifests or single shard files."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise CodecArgumentError("no shards given")
    chosen: dict[Path, tuple[Manifest, dict[str, ShardRecord]]] = {}
    for item in items:
        path = Path(item)
        if path.suffix == ".tar":
            manifest = read_manifest(path.parent)
            records = [r for r in manifest.shards if r.name == path.name]
            if not records:
                raise ShardError(f"{path} is not listed in {path.parent / MANIFEST_NAME}")
        else:
            manifest = read_manifest(path)
            records = list(manifest.shards)
        key = Path(manifest.folder).resolve()
        if not manifest.complete:
            raise ShardError(f"{key} is unfinished ({len(manifest.shards)} of {manifest.shard_count} shards): rerun "
                             "ncodec encode-dataset with the same arguments to finish it")
        held = chosen.setdefault(key, (manifest, {}))
        held[1].update((r.name, r) for r in records)
    return [(manifest, sorted(records.values(), key=lambda r: r.name)) for manifest, records in chosen.values()]


@functools.lru_cache(maxsize=8)
def _codec(name: str, fingerprint: bytes):
    """The codec that made a file (its weights chosen by fingerprint), once per process."""
    from .. import registry

    return registry.load(name, fingerprint=fingerprint)


class CompressedShards(torch.utils.data.IterableDataset):
    """The samples of one or more datasets written by ``ncodec encode-dataset``.

    Args:
        paths: a dataset folder, its ``manifest.json``, one of its shard files, or a list of these.
        output: ``"latents"``, ``"tokens"`` or ``"pixels"`` (see the module docstring).
        shuffle: size of the sample shuffle buffer; 0 reads in dataset order (shards too).
        seed: seed of the shard order and of the shuffle buffers.
        projector, strategy, budget: ``output="tokens"``: a token projector for the files' codec
            (:func:`neuralcodecs.adapter.train_projector.load_projector`) or None, a token-budget
            strategy and its budget (:func:`neuralcodecs.adapter.core.tokens_from_latents`).
        source_root: a folder the samples' source names are relative to (e.g. the manifest's
            ``source_root``); each sample then also carries ``original`` pixels.
    Raises:
        ShardError: a manifest is missing, malformed or unfinished, a shard is not listed or its
            size differs (checked here); its SHA-256 is checked when a worker opens it
            (:class:`~neuralcodecs.errors.ShardChecksumError`).
    """

    def __init__(self, paths, output: str = "latents", shuffle: int = 0, seed: int = 0, projector=None,
                 strategy: str = "all", budget=None, source_root: str | os.PathLike | None = None):
        super().__init__()
        if output not in OUTPUTS:
            raise CodecArgumentError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if isinstance(shuffle, bool) or not isinstance(shuffle, int) or shuffle < 0:
            raise CodecArgumentError(f"shuffle is a buffer size in samples (0: none), got {shuffle!r}")
        if output != "tokens" and (projector is not None or budget is not None or strategy != "all"):
            raise CodecArgumentError("projector, strategy and budget are for output='tokens'")
        if output == "tokens":
            from ..adapter.strategies import get_strategy

            get_strategy(strategy)
        self.output, self.shuffle, self.seed = output, shuffle, seed
        self.projector, self.strategy, self.budget = projector, strategy, budget
        self.source_root = Path(source_root) if source_root is not None else None
        if self.source_root is not None and not self.source_root.is_dir():
            raise CodecArgumentError(f"source root not found: {self.source_root}")
        self.manifests = []
        self.shards: list[tuple[str, ShardRecord]] = []
        for manifest, records in _datasets(paths):
            self.manifests.append(manifest)
            for record in records:
                path = manifest.path_of(record)
                try:
                    size = path.stat().st_size
                except OSError:
                    raise ShardError(f"shard missing: {path} (listed in its manifest)") from None
                if size != record.bytes:
                    from ..errors import ShardChecksumError

                    raise ShardChecksumError(f"{path}: {size} bytes, but the manifest lists {record.bytes}: the shard "
                                             "was altered or truncated; rerun ncodec encode-dataset on its folder")
                self.shards.append((str(path), record))
        self.epoch = 0

    def __len__(self) -> int:
        """Samples in all the shards (over every rank and worker together)."""
        return sum(record.samples for _, record in self.shards)

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s shard order and shuffle seeds on the next pass."""
        self.epoch = int(epoch)

    # ------------------------------------------------------------------ the pipeline
    def __iter__(self) -> Iterator[dict]:
        try:
            import webdataset as wds
        except ImportError as exc:
            raise ShardError(f"reading shards needs webdataset: pip install 'neuralcodecs[scale]' ({exc})") from None
        from webdataset.tariterators import group_by_keys, tar_file_expander
        from webdataset.utils import pytorch_worker_info

        epoch = self.epoch
        self.epoch += 1
        rank, _, worker, _ = pytorch_worker_info()
        stages = [
            wds.SimpleShardList([url for url, _ in self.shards], seed=f"{self.seed}:{epoch}" if self.shuffle else None),
            wds.split_by_node,
            wds.split_by_worker,
            self._open_verified,
            tar_file_expander,
            group_by_keys,
        ]
        if self.shuffle:
            stages.append(wds.shuffle(self.shuffle, initial=min(self.shuffle, 100),
                                      rng=random.Random(f"{self.seed}:{epoch}:{rank}:{worker}")))
        stages.append(wds.map(self.decode_sample))
        return iter(wds.DataPipeline(*stages))

    def _open_verified(self, sources: Iterator[dict]) -> Iterator[dict]:
        """``{"url"}`` -> ``{"url", "stream"}``: the shard's bytes, checked against the manifest."""
        import io

        records = dict(self.shards)
        for source in sources:
            url = source["url"]
            data = read_verified_shard(records[url], url)
            if not looks_like_plain_tar(data):
                raise ShardError(f"{url} is not a plain tar file (ncodec encode-dataset writes uncompressed ustar)")
            yield {"url": url, "stream": io.BytesIO(data)}

    # ------------------------------------------------------------------ one sample
    def decode_sample(self, raw: dict) -> dict:
        """A grouped sample (member name -> bytes) -> the output dict (see the module docstring)."""
        from ..bitstream import unpack

        sample = parse_sample(raw)
        out = {"__key__": raw["__key__"], "label": sample.label, "class": sample.class_name, "source": sample.source,
               "mirror": sample.mirror}
        header, sections = unpack(sample.ncb)
        codec = _codec(header.codec, header.fingerprint)
        if self.output == "pixels":
            pixels = codec.decode_parsed(header, sections)
            out["pixels"] = torch.from_numpy(pixels if pixels.flags.writeable and pixels.flags.c_contiguous else pixels.copy())
        else:
            latents = codec.latents_parsed(header, sections)
            if self.output == "latents":
                out["latents"] = latents.picture_tensor().float().contiguous()
                if latents.bits is not None:
                    h, w = latents.picture_grid
                    out["bits"] = latents.bits[..., :h, :w].float().contiguous()
            else:
                out["tokens"], out["positions"] = self._tokens(latents, header)
        if self.source_root is not None:
            out["original"] = self._original(sample)
        return out

    def _tokens(self, latents, header) -> tuple[torch.Tensor, torch.Tensor]:
        from ..adapter.core import check_projector_source, tokens_from_latents

        projector = self.projector
        if projector is not None:
            check_projector_source(projector, header.codec, header.fingerprint)
        return tokens_from_latents(latents, projector, self.strategy, self.budget).sample(0)

    def _original(self, sample) -> torch.Tensor:
        import numpy as np

        from ..image.io import load_image

        pixels, _ = load_image(self.source_root / sample.source)
        return torch.from_numpy(np.array(pixels[:, ::-1] if sample.mirror else pixels))


def training_shards(shards, codec, quality: float, output: str = "latents", source_root=None) -> CompressedShards:
    """:class:`CompressedShards` of ``shards`` for a trainer that distills from a pixel-domain
    teacher: every manifest must list files of the loaded ``codec``'s weights at ``quality``, and
    samples carry their ``original`` pixels from ``source_root`` (default: the manifests' one
    source folder).

    Raises:
        CodecArgumentError: the shards hold another codec, weights or quality, or come from
            several source folders and no ``source_root`` is given.
    """
    dataset = CompressedShards(shards, output)
    for m in dataset.manifests:
        if (m.codec, m.weights_fingerprint, m.quality) != (codec.name, codec.fingerprint.hex(), float(quality)):
            raise CodecArgumentError(f"{m.folder} holds {m.codec} q{m.quality:g} files of weights "
                                     f"{m.weights_fingerprint[:12]}, not {codec.name} q{quality:g} of weights "
                                     f"{codec.fingerprint.hex()[:12]}")
    roots = sorted({m.source_root for m in dataset.manifests})
    if source_root is None and len(roots) > 1:
        raise CodecArgumentError(f"the shards come from several source folders ({', '.join(roots)}): give source_root")
    return CompressedShards(shards, output, source_root=source_root if source_root is not None else roots[0])


def dataset_order(items: list[tuple[str, bool]]) -> torch.Tensor:
    """The permutation that sorts samples by ``(source name, mirror)``: examples gathered through
    DataLoader workers (which interleave shards) put back in one order."""
    keys = [(source, bool(mirror)) for source, mirror in items]
    return torch.tensor(sorted(range(len(keys)), key=keys.__getitem__), dtype=torch.long)
