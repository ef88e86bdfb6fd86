"""``encode_dataset``: encode an image folder or file list into WebDataset shards, resumably.

The samples are numbered in source order (:mod:`.sources`) and shard ``k`` holds samples
``[k * shard_size, (k + 1) * shard_size)``.  An engine (:mod:`.engines`) encodes them in any
order; this process alone writes: it keeps each shard's samples until the shard is whole, writes
it atomically (:mod:`neuralcodecs.atomic`), then rewrites ``manifest.json`` with the shard's size
and SHA-256.  Shard bytes therefore depend only on the sources, codec weights and quality.

Resume: a run on a folder that holds a manifest of the same settings (:data:`.manifest.SETTINGS`)
keeps every listed shard whose size and SHA-256 still match and encodes the others -- a shard
interrupted while being written was never listed, so it is redone.  A manifest of other settings
is refused (:class:`ShardError`) unless ``force`` starts over.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from ..errors import CodecArgumentError, ShardError
from .layout import EncodedSample, shard_bytes, shard_name
from .manifest import MANIFEST_NAME, SETTINGS, Manifest, ShardRecord, check_shard_bytes, read_manifest
from .sources import SourceList, list_sources


def _settings(manifest: Manifest) -> dict:
    return {name: getattr(manifest, name) for name in SETTINGS}


def _verified_records(previous: Manifest, wanted: Manifest) -> tuple[list[ShardRecord], list[str]]:
    """The shards of ``previous`` that are still intact and where ``wanted`` puts them, and notes on the others."""
    kept, notes = [], []
    for record in previous.shards:
        number = int(record.name[len("shard-"):-len(".tar")]) if record.name.startswith("shard-") else -1
        if record.name != shard_name(number) or number >= wanted.shard_count or \
                record.samples != len(wanted.shard_samples(number)):
            notes.append(f"{record.name}: not a shard of this layout, redone")
            continue
        path = previous.path_of(record)
        try:
            check_shard_bytes(record, path.read_bytes(), path)
        except (OSError, ShardError) as exc:
            notes.append(f"{record.name}: {exc}; redone")
            continue
        kept.append(record)
    return kept, notes


def _start_over(out: Path, previous: Manifest | None) -> None:
    """Remove what an earlier run wrote in ``out``: its listed shards and its manifest, nothing else."""
    names = [r.name for r in previous.shards] if previous else []
    for name in names + [MANIFEST_NAME]:
        (out / name).unlink(missing_ok=True)


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files of :func:`neuralcodecs.atomic.atomic_write_bytes` left by a killed run."""
    for path in out.glob(".shard-*.tar.*.tmp"):
        path.unlink(missing_ok=True)
    for path in out.glob(f".{MANIFEST_NAME}.*.tmp"):
        path.unlink(missing_ok=True)


def prepare(out: Path, wanted: Manifest, force: bool) -> tuple[Manifest, list[str]]:
    """The manifest to continue in ``out`` (finished shards kept) and notes on what was discarded."""
    previous = None
    if (out / MANIFEST_NAME).exists():
        try:
            previous = read_manifest(out)
        except ShardError:
            if not force:
                raise
    elif not force and any(out.glob("shard-*.tar")):
        raise ShardError(f"{out} holds shard files but no {MANIFEST_NAME}: choose an empty folder, or pass --force "
                         "to overwrite them")
    if force:
        _start_over(out, previous)
        previous = None
    notes: list[str] = []
    if previous is not None:
        theirs, ours = _settings(previous), _settings(wanted)
        differ = [k for k in SETTINGS if theirs[k] != ours[k]]
        if differ:
            raise ShardError(f"{out} holds a dataset made with other settings ({', '.join(differ)} differ): choose "
                             "another output folder, or pass --force to delete it and start over")
        wanted.shards, notes = _verified_records(previous, wanted)
    _remove_stale_temporaries(out)
    return wanted, notes


def encode_dataset(source: str | os.PathLike, out: str | os.PathLike, codec: str, quality: float | None = None,
                   shard_size: int = 1000, jobs: int | None = 1, engine: str = "local", mirror: bool = False,
                   force: bool = False, progress: bool = True) -> Manifest:
    """Encode every image of ``source`` (a folder or a file list, :func:`~.sources.list_sources`)
    with ``codec`` at ``quality`` into shards of ``shard_size`` samples in the folder ``out``.

    Args:
        quality: the codec's quality (default: its default quality).
        jobs: worker processes (``local``), or the most Ray tasks at once (``ray``; None: every CPU).
        engine: ``"local"`` or ``"ray"`` (:mod:`.engines`).
        mirror: also encode each image's mirror image, as the next sample.
        force: delete an earlier dataset in ``out`` and start over.
        progress: a progress bar on stderr (images per second, time left).
    Returns:
        The complete :class:`~.manifest.Manifest`.
    Raises:
        CodecArgumentError: bad arguments or sources; UnknownCodecError: no such codec;
        ShardError: ``out`` holds another dataset.
    """
    from .. import registry
    from .engines import engine as pick_engine
    from .encoding import worker_codec

    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise CodecArgumentError(f"shard size must be a positive number of samples, got {shard_size!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise CodecArgumentError(f"jobs must be a positive number, got {jobs!r}")
    run = pick_engine(engine)
    spec = registry.spec(codec)
    if spec.kind != "image":
        raise CodecArgumentError(f"encode-dataset encodes images; {codec!r} is a {spec.kind} codec")
    quality = spec.quality.check(spec.quality.default if quality is None else quality)
    sources = list_sources(source, mirror)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CodecArgumentError(f"output {out} exists and is not a folder")
    model = worker_codec(codec)  # the weights fingerprint; also the codec of an in-process run
    quality = model.quality.check(quality)
    wanted = Manifest(codec=codec, weights_fingerprint=model.fingerprint.hex(), quality=quality, mirror=mirror,
                      samples=len(sources.samples), shard_size=shard_size, classes=list(sources.classes),
                      source_root=str(sources.root), sources_sha256=sources.digest, folder=out)
    out.mkdir(parents=True, exist_ok=True)
    manifest, notes = prepare(out, wanted, force)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr, flush=True)
    write_missing_shards(manifest, sources, run, jobs, progress)
    return manifest


def write_missing_shards(manifest: Manifest, sources: SourceList, run, jobs: int | None, progress: bool) -> None:
    """Encode and write the shards ``manifest`` does not list yet, then mark it complete."""
    from tqdm import tqdm

    out = manifest.folder
    done = {r.name for r in manifest.shards}
    todo = [k for k in range(manifest.shard_count) if shard_name(k) not in done]
    manifest.complete = False
    manifest.write(out)
    tasks = [sources.samples[i].task() for k in todo for i in manifest.shard_samples(k)]
    waiting: dict[int, dict[int, EncodedSample]] = {k: {} for k in todo}
    bar = tqdm(total=manifest.samples, initial=manifest.samples - len(tasks), unit="img", dynamic_ncols=True,
               desc=f"encode {manifest.codec} q{manifest.quality:g}", disable=not progress)
    with bar:
        for row in run(tasks, manifest.codec, manifest.quality, jobs):
            sample = EncodedSample.from_row(row)
            number = sample.index // manifest.shard_size
            waiting[number][sample.index] = sample
            bar.update(1)
            if len(waiting[number]) == len(manifest.shard_samples(number)):
                manifest.shards.append(write_shard(out, number, list(waiting.pop(number).values())))
                manifest.write(out)
    if waiting:
        raise ShardError(f"the engine returned no result for {sum(len(manifest.shard_samples(k)) for k in waiting)} samples")
    manifest.complete = True
    manifest.write(out)


def write_shard(out: Path, number: int, samples: list[EncodedSample]) -> ShardRecord:
    """Write shard ``number`` atomically; its :class:`ShardRecord`."""
    from ..atomic import atomic_write_bytes

    data = shard_bytes(samples)
    name = shard_name(number)
    atomic_write_bytes(out / name, data)
    return ShardRecord(name, len(samples), len(data), hashlib.sha256(data).hexdigest())
