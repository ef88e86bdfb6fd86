"""CompressedShards: what a sample holds, worker sharding and shuffling, and the refusals."""

import hashlib
import io
import json
import pickle
import shutil
import tarfile

import numpy as np
import pytest
import torch
from shard_samples import CODEC

import neuralcodecs
from neuralcodecs.adapter.core import tokens_from_latents
from neuralcodecs.errors import CodecArgumentError, ShardChecksumError, ShardError
from neuralcodecs.image.io import load_image
from neuralcodecs.shards import CompressedShards, read_manifest


def _ncb_files(folder) -> dict[str, bytes]:
    files = {}
    for record in read_manifest(folder).shards:
        with tarfile.open(folder / record.name) as tar:
            files.update({m.name.split(".")[0]: tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".ncb")})
    return files


def _copy(dataset, tmp_path):
    return shutil.copytree(dataset, tmp_path / "copy")


def test_latents_and_tokens_are_entropy_decoded_without_synthesis(dataset, monkeypatch):
    files = _ncb_files(dataset)
    expected = {key: neuralcodecs.latents(data) for key, data in files.items()}
    codec_class = type(neuralcodecs.load_codec(CODEC))

    def synthesis(*args, **kwargs):
        raise RuntimeError("the synthesis transform ran")

    monkeypatch.setattr(codec_class, "_decode_sections", synthesis)
    seen = []
    for sample in CompressedShards(dataset, "latents"):
        lat = expected[sample["__key__"]]
        assert torch.equal(sample["latents"], lat.picture_tensor().float())
        h, w = lat.picture_grid
        assert torch.equal(sample["bits"], lat.bits[:h, :w].float())
        seen.append(sample["__key__"])
    assert seen == sorted(files)  # shuffle=0: dataset order
    for sample in CompressedShards(dataset, "tokens", strategy="uniform", budget=4):
        tokens, positions = tokens_from_latents(expected[sample["__key__"]], None, "uniform", 4).sample(0)
        assert torch.equal(sample["tokens"], tokens) and torch.equal(sample["positions"], positions)
    with pytest.raises(RuntimeError, match="synthesis"):  # pixels do need it: the patch would have caught it
        next(iter(CompressedShards(dataset, "pixels")))


def test_pixels_labels_and_originals(dataset, image_folder):
    files = _ncb_files(dataset)
    samples = list(CompressedShards(dataset, "pixels", source_root=image_folder))
    assert [(s["class"], s["label"], s["mirror"]) for s in samples[::2]] == [("cat", 0, False)] * 4 + [("dog", 1, False)] * 4 + [("", -1, False)]
    for sample in samples:
        assert np.array_equal(sample["pixels"].numpy(), neuralcodecs.decode(files[sample["__key__"]]))
        original, _ = load_image(image_folder / sample["source"])
        assert np.array_equal(sample["original"].numpy(), original[:, ::-1] if sample["mirror"] else original)


@pytest.mark.parametrize("workers", [0, 2])
def test_workers_share_out_the_shards_and_every_epoch_sees_every_sample_once(dataset, workers):
    shards = CompressedShards(dataset, "latents", shuffle=6, seed=3)
    loader = torch.utils.data.DataLoader(shards, batch_size=None, num_workers=workers, persistent_workers=workers > 0)
    epochs = [[s["__key__"] for s in loader] for _ in range(2)]
    everything = sorted(_ncb_files(dataset))
    assert [sorted(e) for e in epochs] == [everything, everything] and len(shards) == 18
    assert epochs[0] != epochs[1] and epochs[0] != everything  # shuffled, differently each epoch
    again = CompressedShards(dataset, "latents", shuffle=6, seed=3)
    again.set_epoch(1)
    loader = torch.utils.data.DataLoader(again, batch_size=None, num_workers=workers)
    assert [s["__key__"] for s in loader] == epochs[1]  # (seed, epoch) fixes the order


def test_batches_collate_through_dataloader_workers(dataset):
    loader = torch.utils.data.DataLoader(CompressedShards(dataset, "latents"), batch_size=4, num_workers=2)
    batches = list(loader)  # every crop is 32x48: one latent grid size
    assert sum(len(b["label"]) for b in batches) == 18
    assert all(b["latents"].dim() == 4 and b["latents"].shape[0] == len(b["label"]) == len(b["source"]) for b in batches)


def test_a_shard_whose_bytes_changed_is_refused(dataset, tmp_path):
    copy = _copy(dataset, tmp_path)
    shard = copy / "shard-000004.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 1  # inside the first sample's member: same size, other bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardChecksumError, match="SHA-256"):
        list(CompressedShards(copy, "latents"))
    # (a DataLoader whose worker raised takes torch 5 s per worker to shut down: one worker)
    loader = torch.utils.data.DataLoader(CompressedShards(copy, "latents"), batch_size=None, num_workers=1)
    with pytest.raises(ShardChecksumError):  # the worker's typed error reaches the training loop
        list(loader)
    shard.write_bytes(bytes(data[:-512]))
    with pytest.raises(ShardChecksumError, match="bytes"):
        CompressedShards(copy)  # a size change is caught before any worker starts


def test_unfinished_unlisted_and_foreign_datasets_are_refused(dataset, tmp_path):
    copy = _copy(dataset, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    with pytest.raises(ShardError, match="not listed"):
        CompressedShards(copy / "shard-000009.tar")
    assert len(CompressedShards(copy / "shard-000002.tar")) == 3
    (copy / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(ShardError, match="unfinished"):
        CompressedShards(copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "version": 9}))
    with pytest.raises(ShardError, match="version"):
        CompressedShards(copy)
    with pytest.raises(ShardError, match="no manifest"):
        CompressedShards(tmp_path)
    # a gzip file listed with its right checksum is still not read (tar would decompress it on the fly)
    gz = io.BytesIO()
    import gzip

    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as f:
        f.write((copy / "shard-000000.tar").read_bytes())
    (copy / "shard-000000.tar").write_bytes(gz.getvalue())
    manifest["shards"][0].update(bytes=len(gz.getvalue()), sha256=hashlib.sha256(gz.getvalue()).hexdigest())
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="plain tar"):
        list(CompressedShards(copy / "shard-000000.tar"))
    with pytest.raises(CodecArgumentError):
        CompressedShards(copy, "features")
    with pytest.raises(CodecArgumentError):
        CompressedShards(copy, "latents", budget=4)


class _Trap:
    """Unpickling this calls ``Path.touch`` on a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return self.marker.touch, ()


def test_members_other_than_the_sample_s_own_are_never_decoded(dataset, tmp_path):
    copy = _copy(dataset, tmp_path)
    marker = tmp_path / "unpickled"
    shard = copy / "shard-000000.tar"
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data))
            if member.name.endswith(".ncb"):
                for ext in ("pyd", "pickle"):
                    trap = pickle.dumps(_Trap(marker))
                    info = tarfile.TarInfo(member.name.replace(".ncb", f".{ext}"))
                    info.size = len(trap)
                    tar.addfile(info, io.BytesIO(trap))
    shard.write_bytes(buffer.getvalue())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"][0].update(bytes=len(buffer.getvalue()), sha256=hashlib.sha256(buffer.getvalue()).hexdigest())
    (copy / "manifest.json").write_text(json.dumps(manifest))
    samples = list(CompressedShards(copy / "shard-000000.tar", "latents"))
    assert len(samples) == 3 and not marker.exists()
    pickle.loads(pickle.dumps(_Trap(marker)))  # the trap works: it would have been seen
    assert marker.exists()
