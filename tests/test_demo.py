"""``ncodec demo``: the image tour, ``--video`` and ``--tokens``, on sizes shrunk for the test suite.

The tours run end to end through the command line with a small crop, a short clip and a few
fitting steps (monkeypatched); what they print and write is checked, not their timing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from neuralcodecs import decode, registry
from neuralcodecs.cli import main
from neuralcodecs.demo import image_tour, media, outputs, tokens_tour, video_tour
from neuralcodecs.errors import CodecArgumentError

MAGIC = b"\x89NCB"


@pytest.fixture
def quick_fits(monkeypatch):
    """Overfitted codecs fit a few steps (image) and epochs (video) instead of effort fast's 1000 / 60."""
    from neuralcodecs.inr import options as inr_options
    from neuralcodecs.inr.overfit import options as overfit_options

    monkeypatch.setitem(overfit_options.EFFORT_STEPS, "fast", 20)
    monkeypatch.setitem(inr_options.EFFORT_EPOCHS, "fast", 3)


def _ready_image_codecs() -> list[str]:
    return [n for n in registry.names("image") if registry.spec(n).ready]


def _table_rows(printed: str, header: str) -> list[list[str]]:
    """The rows of the table printed under the line starting with ``header`` (until a blank line)."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [header]) + 1
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_image_tour_holds_every_ready_codec_and_the_anchors_sorted_by_psnr(tmp_path, monkeypatch, capsys, quick_fits):
    monkeypatch.setattr(media, "CROP", (432, 128, 496, 176))  # 64x48 of the parrots' heads
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    rows = _table_rows(printed, "codec")
    names = [r[1] for r in rows]
    assert sorted(names) == sorted(_ready_image_codecs() + ["JPEG", "WebP", "AVIF"])
    psnrs = [float(r[7]) for r in rows]  # the PSNR-RGB column
    assert psnrs == sorted(psnrs, reverse=True)
    assert "Winner at " in printed and f": {names[0]} (" in printed

    result = json.loads((out / "results.json").read_text())
    assert [r["label"] for r in result["rows"]] == names
    assert [r["psnr-rgb"] for r in result["rows"]] == sorted((r["psnr-rgb"] for r in result["rows"]), reverse=True)
    crop = np.asarray(Image.open(out / "original.png"))
    assert crop.shape == (48, 64, 3)
    for row in result["rows"]:
        data = (out / row["file"]).read_bytes()
        assert len(data) == row["bytes"]
        if row["learned"]:
            assert data[:4] == MAGIC
            assert decode(data).shape == crop.shape  # a real file, decodable from its bytes alone
    overfitted = [r for r in result["rows"] if r["name"] == "overfit"]
    if overfitted:  # the overfitted codec sets the target size
        assert result["target_bytes"] == overfitted[0]["bytes"]
    assert Image.open(out / "side_by_side.png").width > 5 * 64
    assert Image.open(out / "rd.png").format == "PNG"

    assert main(["demo", "--out", str(out)]) == 2  # the outputs exist: kept without --force
    assert "--force" in capsys.readouterr().err


def test_image_tour_can_be_limited_to_named_codecs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(media, "CROP", (432, 128, 496, 176))
    assert main(["demo", "--out", str(tmp_path / "d"), "--codec", "hyperprior", "--codec", "walloc"]) == 0
    result = json.loads((tmp_path / "d" / "results.json").read_text())
    assert sorted(r["name"] for r in result["rows"]) == ["avif", "hyperprior", "jpeg", "walloc", "webp"]
    # without an overfitted codec the target is the default rate
    assert result["target_bytes"] == round(image_tour.DEFAULT_TARGET_BPP * 64 * 48 / 8)
    assert main(["demo", "--out", str(tmp_path / "e"), "--codec", "stem"]) == 2  # a video codec
    assert not (tmp_path / "e").exists()


def test_image_tour_goes_on_without_avif_where_pillow_lacks_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(media, "CROP", (432, 128, 496, 176))
    monkeypatch.setattr(image_tour, "available_anchors", lambda: ["jpeg", "webp"])
    assert main(["demo", "--out", str(tmp_path / "d"), "--codec", "walloc"]) == 0
    assert "AVIF: skipped" in capsys.readouterr().out
    result = json.loads((tmp_path / "d" / "results.json").read_text())
    assert sorted(r["name"] for r in result["rows"]) == ["jpeg", "walloc", "webp"]
    assert not (tmp_path / "d" / "avif.avif").exists()


def _row(label, psnr, learned, size=1000):
    return image_tour.Coded(label, label, learned, 1.0, b"x" * size, np.zeros((8, 8, 3), np.uint8), 0.0, f"{label}.x", "")


def _tour(rows_psnr):
    rows = []
    for label, psnr, learned, *size in rows_psnr:
        row = _row(label, psnr, learned, *size)
        row.psnr = psnr
        rows.append(row)
    rows.sort(key=lambda r: -r.psnr)
    return image_tour.ImageTour(np.zeros((100, 80, 3), np.uint8), 1000, "test", rows)


def test_verdict_names_the_winner_and_every_loss():
    lost = image_tour.verdict(_tour([("JPEG", 30.0, False), ("WebP", 31.0, False), ("hp", 30.5, True), ("vq", 15.0, True, 100)]))
    assert lost[0].startswith("Winner at 1.00 bpp: WebP (a classical codec)")
    assert "hp (30.50 dB), loses to WebP by 0.50 dB" in lost[1]
    assert any("Behind all 2 classical codecs: vq" in line for line in lost)
    assert any(line.startswith("* vq:") and "90% smaller" in line for line in lost)  # off the target size, said so
    won = image_tour.verdict(_tour([("JPEG", 30.0, False), ("hp", 32.0, True)]))
    assert won[0].startswith("Winner at 1.00 bpp: hp (a neuralcodecs codec)")
    assert "beats every classical codec" in won[1]


def test_video_tour_writes_its_table_and_frames(tmp_path, monkeypatch, capsys, quick_fits):
    monkeypatch.setattr(media, "CLIP_FRAMES", 4)
    out = tmp_path / "v"
    assert main(["demo", "--video", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = _table_rows(printed, "codec")
    expected = [n for n in video_tour.DEFAULT_CODECS if registry.spec(n).ready] + ["x264"]
    assert sorted(r[1] for r in rows) == sorted(expected)
    result = json.loads((out / "video_results.json").read_text())
    psnrs = [r["psnr-rgb"] for r in result["rows"]]
    assert psnrs == sorted(psnrs, reverse=True)
    for row in result["rows"]:
        data = (out / row["file"]).read_bytes()
        if row["learned"]:
            assert decode(data).shape == (4, *media.CLIP_SIZE, 3)
    frames = Image.open(out / "video_frames.png")
    assert frames.height > (len(expected) + 1) * media.CLIP_SIZE[0]  # a row per codec and the original


def test_tokens_tour_draws_each_strategy_and_rate_keeps_the_most_bits(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["demo", "--tokens", "--out", str(out)]) == 0
    result = json.loads((out / "tokens.json").read_text())
    rows = {r["strategy"]: r for r in result["rows"]}
    assert set(rows) == set(tokens_tour.STRATEGIES)
    assert all(r["tokens"] == tokens_tour.BUDGET for r in rows.values())
    # "rate" keeps the positions with the most bits: no other choice of as many covers more
    assert all(rows["rate"]["bits_covered"] >= r["bits_covered"] for r in rows.values())
    assert (out / "photo.ncb").read_bytes()[:4] == MAGIC
    picture = Image.open(out / "tokens.png")
    assert picture.width > 2 * 768 * tokens_tour.SCALE
    assert "rate_nms" in capsys.readouterr().out


def test_tokens_tour_refuses_a_codec_without_latents_before_any_work(tmp_path):
    with pytest.raises(CodecArgumentError):
        tokens_tour.tour_codec(["stem"])
    assert main(["demo", "--tokens", "--video", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_a_failing_tour_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("stop")

    monkeypatch.setattr(tokens_tour, "tokens_png", fail)
    assert main(["demo", "--tokens", "--out", str(tmp_path / "new")]) == 2  # one error line
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    assert main(["demo", "--tokens", "--out", str(tmp_path / "old")]) == 2
    assert list((tmp_path / "old").iterdir()) == []


def test_write_outputs_removes_what_it_wrote_when_a_write_fails(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    calls = []
    real = outputs.atomic_write_bytes

    def third_fails(path, data, overwrite=True):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, data, overwrite=overwrite)

    monkeypatch.setattr(outputs, "atomic_write_bytes", third_fails)
    with pytest.raises(OSError):
        outputs.write_outputs(folder, {"a": b"1", "b": b"2", "c": b"3"}, force=False)
    assert not folder.exists()
    folder.mkdir()
    (folder / "keep").write_bytes(b"mine")
    calls.clear()
    with pytest.raises(OSError):
        outputs.write_outputs(folder, {"a": b"1", "b": b"2", "c": b"3"}, force=False)
    assert sorted(p.name for p in folder.iterdir()) == ["keep"]


def test_default_folder_is_new(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ncodec-demo").mkdir()
    (tmp_path / "ncodec-demo-1").mkdir()
    assert outputs.output_folder(None, ["x"], force=False).name == "ncodec-demo-2"
