"""ncodec eval --video: anchors and a learned video codec on tiny clips, the schema, the CLI."""

import json
from fractions import Fraction

import numpy as np
import pytest

from neuralcodecs import registry
from neuralcodecs.cli import main
from neuralcodecs.codec import VIDEO, QualitySpec
from neuralcodecs.errors import CodecArgumentError, UnsupportedVideoError
from neuralcodecs.evaluation import video as video_evaluate
from neuralcodecs.video.anchors import encode_anchor
from neuralcodecs.evaluation.video import run_video_evaluation
from neuralcodecs.video.io import read_video, write_video

T, H, W = 8, 48, 64


def moving_pattern(t: int, h: int, w: int, seed: int = 3) -> np.ndarray:
    """Blocky texture drifting right and down under a travelling colour wave: inter prediction
    has work to do, and quality shows in bytes."""
    rng = np.random.default_rng(seed)
    blocks = np.kron(rng.integers(0, 256, (h // 4 + 8, w // 4 + 8, 1)).astype(np.float64), np.ones((4, 4, 1)))
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for k in range(t):
        colour = np.stack([25 * np.sin((xx + 2 * k) / 18.0), 10 * np.cos(yy / 9.0), -20 * np.cos((yy - k) / 15.0)], -1)
        frames.append(0.6 * blocks[k:k + h, 2 * k:2 * k + w] + 50 + colour)
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """An 8-frame 64x48 y4m clip and a 6-frame folder of PNG frames of other content."""
    root = tmp_path_factory.mktemp("clips")
    y4m = write_video(root / "moving.y4m", moving_pattern(T, H, W), Fraction(30000, 1001))
    folder = write_video(root / "pngs", moving_pattern(6, H, W, seed=11), 25)
    return y4m, folder


@pytest.fixture(scope="module")
def result(clips):
    return run_video_evaluation(list(clips), [("x264", [23, 33]), ("svtav1", [55, 39])], progress=False)


def test_schema_rates_and_metrics(clips, result):
    y4m, folder = clips
    meta = result["meta"]
    assert meta["frames"] is None and meta["threads"] == 1 and "pyav" in meta["versions"] and "cpu" in meta["machine"]
    assert [(c["name"], c["frames"], c["width"], c["height"], c["fps"]) for c in meta["clips"]] == [
        ("moving.y4m", T, W, H, "30000/1001"), ("pngs", 6, W, H, "25")]
    for info, path in zip(meta["clips"], clips):  # checksum of exactly the RGB frames evaluated
        assert info["path"] == str(path) and info["ms_ssim_padded"] is True
        assert info["sha256"] == video_evaluate.frames_checksum(read_video(path).frames)
    assert [c["name"] for c in result["curves"]] == ["x264", "svtav1"]
    for curve in result["curves"]:
        r = curve["results"]
        assert set(r) == {"quality", *video_evaluate.METRICS} and "per_image" not in curve
        assert curve["description"] and set(curve["per_clip"]) == {"moving.y4m", "pngs"}
        n = len(r["quality"])
        assert all(len(v) == n for v in r.values())
        frames = {"moving.y4m": T, "pngs": 6}
        for name, per in curve["per_clip"].items():
            for i in range(n):
                assert per["bpp"][i] == 8 * per["bytes"][i] / (frames[name] * H * W)
                planes = (per["psnr-y"][i], per["psnr-u"][i], per["psnr-v"][i])
                assert min(planes) < per["psnr-yuv"][i] < max(planes)
                assert 0 < per["ms-ssim-rgb"][i] <= 1
                assert per["encoding_fps"][i] == pytest.approx(frames[name] / per["encoding_time"][i])
        for m in video_evaluate.METRICS:  # curve = mean of the per-clip values
            for i in range(n):
                assert r[m][i] == pytest.approx(np.mean([p[m][i] for p in curve["per_clip"].values()]))
        fine, coarse = int(np.argmin(r["quality"])), int(np.argmax(r["quality"]))
        for per in curve["per_clip"].values():  # lower crf: more bits and higher PSNR, on every clip
            assert per["bytes"][fine] > per["bytes"][coarse] and per["psnr-rgb"][fine] > per["psnr-rgb"][coarse] + 1
            assert per["psnr-yuv"][fine] > per["psnr-yuv"][coarse] and per["ms-ssim-rgb"][fine] > per["ms-ssim-rgb"][coarse]


def test_bytes_are_the_anchor_file(clips, result):
    clip = read_video(clips[0])
    again = encode_anchor(clip.frames, clip.fps, "x264", 23, threads=1)  # single-threaded: the same bytes
    assert result["curves"][0]["per_clip"]["moving.y4m"]["bytes"][0] == len(again.bytes)


class LossyFakeVideoCodec:
    """A learned video codec's interface: frames quantized by the quality step, raw bytes."""

    quality = QualitySpec(1, 64, 8, 1, (32, 8))

    def __init__(self, device="cpu"):
        self.device = device

    def encode(self, frames, quality=None, fps=None):
        step = int(quality)
        body = (np.asarray(frames) // step).astype(np.uint8)
        return b"NCBF" + np.array([step, *body.shape], np.uint32).tobytes() + body.tobytes()

    def decode(self, data):
        step, t, h, w, c = np.frombuffer(data[4:24], np.uint32)
        body = np.frombuffer(data[24:], np.uint8).reshape(t, h, w, c)
        return np.minimum(body.astype(np.int32) * step + step // 2, 255).astype(np.uint8)


@pytest.fixture
def fake_video_codec(monkeypatch):
    entry = registry.CodecSpec("fakevideo", VIDEO, "a test double", f"{__name__}:LossyFakeVideoCodec",
                               LossyFakeVideoCodec.quality)  # no weights file: built as LossyFakeVideoCodec(device)
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, "fakevideo": entry})
    monkeypatch.setattr(registry, "_CACHE", {})
    return entry


def test_learned_video_codec_hook(clips, fake_video_codec):
    out = run_video_evaluation(clips[0], [("fakevideo", None)], frames=4, progress=False)
    curve = out["curves"][0]
    assert out["meta"]["frames"] == 4 and out["meta"]["clips"][0]["frames"] == 4
    assert curve["name"] == "fakevideo" and curve["results"]["quality"] == [32, 8]
    per = curve["per_clip"]["moving.y4m"]
    assert per["bytes"] == [24 + 4 * H * W * 3] * 2 and per["bpp"][0] == 8 * per["bytes"][0] / (4 * H * W)
    assert per["psnr-rgb"][1] > per["psnr-rgb"][0] + 6  # a finer step is about 12 dB better
    with pytest.raises(CodecArgumentError):
        run_video_evaluation(clips[0], [("fakevideo", [0.5])], progress=False)  # outside the quality range


def test_checks_come_before_any_coding(clips, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(video_evaluate, "encode_anchor", lambda *a, **k: calls.append(a))
    y4m = clips[0]
    bad = [
        ([y4m, tmp_path / "missing.y4m"], [("x264", [28])], UnsupportedVideoError),
        ([y4m], [("x264", [28]), ("svtav1", [30.5])], CodecArgumentError),  # SVT-AV1 crf is an integer
        ([y4m], [("x264", [28]), ("x265", [60])], CodecArgumentError),
        ([y4m], [("hyperprior", None)], CodecArgumentError),  # an image codec
        ([y4m], [("jpeg", None)], CodecArgumentError),  # an image anchor
        ([y4m], [("nosuch", None)], CodecArgumentError),
        ([y4m], [("x264", [28]), ("x264", [23])], CodecArgumentError),
        ([y4m, y4m], [("x264", [28])], CodecArgumentError),
        ([], [("x264", [28])], CodecArgumentError),
    ]
    for sources, codecs, error in bad:
        with pytest.raises(error):
            run_video_evaluation(sources, codecs, progress=False)
    with pytest.raises(CodecArgumentError, match="video codecs or anchors"):
        run_video_evaluation([y4m], [("hyperprior", None)], progress=False)
    with pytest.raises(CodecArgumentError):
        run_video_evaluation([y4m], [("x264", [28])], frames=0, progress=False)
    assert calls == []


def test_eval_video_command_and_plot(clips, tmp_path, capsys):
    out = tmp_path / "video.json"
    assert main(["eval", "--video", str(clips[0]), "--codec", "x264:28", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "x264" in printed and "bpp/PSNR" in printed and f"wrote {out}" in printed
    data = json.loads(out.read_text())
    assert data["meta"]["clips"][0]["frames"] == T and [c["name"] for c in data["curves"]] == ["x264"]
    short = tmp_path / "short.json"
    assert main(["eval", "--video", str(clips[0]), "--video", str(clips[1]), "--frames", "3",
                 "--codec", "x264:23,38", "--json", str(short)]) == 0
    data = json.loads(short.read_text())
    assert [c["frames"] for c in data["meta"]["clips"]] == [3, 3] and data["meta"]["frames"] == 3
    per = data["curves"][0]["per_clip"]["pngs"]
    assert per["bpp"] == [8 * b / (3 * H * W) for b in per["bytes"]]
    png = tmp_path / "video.png"
    assert main(["plot", str(short), "--anchor", "x264", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["plot", str(short), "--metric", "ms-ssim", "--anchor", "x264", "-o", str(tmp_path / "m.png")]) == 0
    assert "(ms-ssim)" in capsys.readouterr().out and (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_video_refusals_exit_2_and_write_nothing(clips, tmp_path, capsys):
    y4m = str(clips[0])
    existing = tmp_path / "existing.json"
    existing.write_text("{}")
    out = str(tmp_path / "r.json")
    cases = [
        ["eval", "--dataset", str(tmp_path), "--video", y4m, "--codec", "x264:28", "--json", out],
        ["eval", "--codec", "x264:28", "--json", out],
        ["eval", "--video", y4m, "--codec", "hyperprior", "--json", out],
        ["eval", "--video", y4m, "--codec", "x264:28", "--task", "classify", "--json", out],
        ["eval", "--video", y4m, "--codec", "x264:28", "--json", str(existing)],
        ["eval", "--video", str(tmp_path / "missing.mp4"), "--codec", "x264:28", "--json", out],
        ["eval", "--video", y4m, "--codec", "x264:28", "--limit", "2", "--json", out],
        ["eval", "--video", y4m, "--codec", "x264:28", "--frames", "0", "--json", out],
        ["eval", "--video", y4m, "--codec", "x264:28", "--size", "32x32", "--json", out],
        ["eval", "--dataset", str(tmp_path), "--frames", "2", "--json", out],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), (argv, err)
    assert not (tmp_path / "r.json").exists() and existing.read_text() == "{}"
    assert main(["eval", "--video", y4m, "--codec", "x264:28", "--frames", "2", "--json", str(existing), "--force"]) == 0
    assert json.loads(existing.read_text())["meta"]["frames"] == 2
