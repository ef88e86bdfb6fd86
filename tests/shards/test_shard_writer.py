"""encode_dataset / ncodec encode-dataset: layout, manifest, determinism, resume, refusals."""

import hashlib
import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from shard_samples import CODEC, QUALITY

import neuralcodecs
from neuralcodecs.bitstream import COLOR_GRAY
from neuralcodecs.errors import CodecArgumentError, ShardError
from neuralcodecs.image.io import load_image
from neuralcodecs.shards import encode_dataset, list_sources, read_manifest
from neuralcodecs.shards import writer as writer_module


def _one_thread_encode(pixels_or_path) -> bytes:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return neuralcodecs.encode(pixels_or_path, codec=CODEC, quality=QUALITY)
    finally:
        torch.set_num_threads(before)


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_every_image_becomes_a_sample_in_order_with_fixed_tar_fields(dataset, image_folder):
    manifest = read_manifest(dataset)
    codec = neuralcodecs.load_codec(CODEC)
    assert (manifest.codec, manifest.weights_fingerprint, manifest.quality) == (CODEC, codec.fingerprint.hex(), QUALITY)
    assert manifest.complete and manifest.mirror and manifest.classes == ["cat", "dog"]
    assert (manifest.samples, manifest.shard_size) == (18, 3)
    assert [r.name for r in manifest.shards] == [f"shard-{k:06d}.tar" for k in range(6)]
    names = []
    for record in manifest.shards:
        data = (dataset / record.name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest(), record.samples) == (record.bytes, record.sha256, 3)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                assert (member.mtime, member.uid, member.gid, member.uname, member.gname, member.mode) == (0, 0, 0, "", "", 0o444)
                assert member.isreg() and not member.pax_headers
                names.append(member.name)
                content = tar.extractfile(member).read()
                if member.name.endswith(".json"):
                    meta = json.loads(content)
                    index = int(member.name.split(".")[0])
                elif member.name.endswith(".ncb"):
                    # the same bytes as `ncodec encode SOURCE` (one thread), or of the mirror image
                    path = image_folder / meta["source"]
                    pixels, color = load_image(path)
                    mirrored = pixels[:, ::-1, 0] if color == COLOR_GRAY else pixels[:, ::-1]
                    expected = _one_thread_encode(np.ascontiguousarray(mirrored) if meta["mirror"] else path)
                    assert content == expected
                    assert meta["mirror"] == bool(index % 2)
                    assert meta["label"] == {"cat": 0, "dog": 1, "": -1}[meta["class"]]
    sources = [s.name for s in list_sources(image_folder).samples]
    assert sources == ["cat/0.png", "cat/1.png", "cat/2.png", "cat/3.png", "dog/0.png", "dog/1.png", "dog/2.png", "dog/3.png",
                       "gray.png"]
    assert names == [f"{i:08d}.{ext}" for i in range(18) for ext in ("json", "ncb")]


def test_the_same_input_gives_the_same_bytes_whatever_the_job_count(dataset, image_folder, tmp_path):
    encode_dataset(image_folder, tmp_path / "two", CODEC, QUALITY, shard_size=3, jobs=2, mirror=True, progress=False)
    assert _files(tmp_path / "two") == _files(dataset)  # every shard and the manifest


def test_an_interrupted_run_resumes_to_the_same_shards(dataset, image_folder, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    real_write, written = writer_module.write_shard, []

    def write_then_stop(folder, number, samples):
        if len(written) == 2:
            (folder / ".shard-000002.tar.abc.tmp").write_bytes(b"half a shard")  # what a killed atomic write leaves
            raise KeyboardInterrupt
        written.append(number)
        return real_write(folder, number, samples)

    monkeypatch.setattr(writer_module, "write_shard", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        encode_dataset(image_folder, out, CODEC, QUALITY, shard_size=3, mirror=True, progress=False)
    monkeypatch.undo()
    partial = read_manifest(out)
    assert not partial.complete and [r.name for r in partial.shards] == ["shard-000000.tar", "shard-000001.tar"]
    kept = (out / "shard-000000.tar").stat().st_mtime_ns, (out / "shard-000001.tar").stat().st_mtime_ns
    (out / "shard-000001.tar").write_bytes(b"x" * partial.shards[1].bytes)  # damaged since: redone
    from neuralcodecs.shards import engines

    encoded = []
    real_task = engines.encode_task
    monkeypatch.setattr(engines, "encode_task", lambda task, codec, quality: encoded.append(task["index"]) or real_task(task, codec, quality))
    manifest = encode_dataset(image_folder, out, CODEC, QUALITY, shard_size=3, mirror=True, progress=False)
    assert manifest.complete and _files(out) == _files(dataset)
    assert (out / "shard-000000.tar").stat().st_mtime_ns == kept[0]  # intact: not rewritten
    assert sorted(encoded) == [3, 4, 5] + list(range(6, 18))  # shard 1 (damaged) and shards 2..5


def test_a_folder_of_another_dataset_is_refused_unless_forced(dataset, image_folder, tmp_path):
    out = tmp_path / "d"
    shutil.copytree(dataset, out)
    with pytest.raises(ShardError, match="quality"):
        encode_dataset(image_folder, out, CODEC, 3.0, shard_size=3, mirror=True, progress=False)
    manifest = encode_dataset(image_folder, out, CODEC, 3.0, shard_size=4, force=True, progress=False)
    assert (manifest.quality, manifest.samples, len(manifest.shards)) == (3.0, 9, 3)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"] + [f"shard-{k:06d}.tar" for k in range(3)]
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "shard-000000.tar").write_bytes(b"someone's")
    with pytest.raises(ShardError, match="no manifest"):
        encode_dataset(image_folder, stray, CODEC, QUALITY, progress=False)


def test_a_file_list_names_its_images_and_classes(image_folder, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two images\n{image_folder / 'dog/1.png'}\tpuppy\n\nsrc/cat/0.png\n".replace("src/", f"{image_folder.name}/"))
    shutil.copytree(image_folder, tmp_path / image_folder.name)
    sources = list_sources(listing)
    assert [(s.name, s.class_name, s.label) for s in sources.samples] == [
        (str(image_folder / "dog/1.png"), "puppy", 1), (f"{image_folder.name}/cat/0.png", "cat", 0)]
    assert sources.classes == ("cat", "puppy") and sources.root == tmp_path
    listing.write_text("missing.png\n")
    with pytest.raises(CodecArgumentError, match="line 1"):
        list_sources(listing)
    with pytest.raises(CodecArgumentError, match="not found"):
        list_sources(tmp_path / "nothing")


def test_encode_dataset_cli(image_folder, tmp_path, capsys):
    from neuralcodecs.cli import main

    out = tmp_path / "cli"
    assert main(["encode-dataset", str(image_folder), "-o", str(out), "--codec", CODEC, "--quality", "2", "--shard-size", "4"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["samples"], summary["shards"]) == (9, 3)
    assert summary["bytes"] == sum(r.bytes for r in read_manifest(out).shards)
    for argv, message in [(["--codec", "stem"], "encodes images"), (["--codec", CODEC, "--quality", "9"], "quality"),
                          (["--codec", CODEC, "--shard-size", "0"], "shard size"), (["--codec", CODEC, "--engine", "x"], "engine")]:
        assert main(["encode-dataset", str(image_folder), "-o", str(tmp_path / "x"), *argv]) == 2
        assert message in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not an image")
    assert main(["encode-dataset", str(bad), "-o", str(tmp_path / "y"), "--codec", CODEC]) == 2
    assert "broken.png" in capsys.readouterr().err


def test_grayscale_images_stay_grayscale(dataset):
    from neuralcodecs.bitstream import read_header

    with tarfile.open(dataset / "shard-000005.tar") as tar:  # samples 15..17: dog/3 mirror, gray, gray mirror
        headers = [read_header(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".ncb")]
    assert [h.color == COLOR_GRAY for h in headers] == [False, True, True]
