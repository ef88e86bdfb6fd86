"""ncodec eval at a user's scale: points written as measured, an interrupted run resumed,
--metrics without MS-SSIM, and loaded codecs wherever a codec name is taken."""

import json

import numpy as np
import pytest
from PIL import Image

import neuralcodecs as nc
from neuralcodecs.cli import main
from neuralcodecs.errors import CodecArgumentError
from neuralcodecs.evaluation import image as image_eval
from neuralcodecs.evaluation import video as video_eval
from neuralcodecs.evaluation.common import PartialResults, parse_metrics, partial_path
from neuralcodecs.evaluation.image import run_evaluation
from neuralcodecs.metrics import psnr as real_psnr

CODECS = ["--codec", "hyperprior:2,5", "--codec", "jpeg:30,80"]  # 3 images x 4 points
TIMES = ("encoding_time", "decoding_time")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, photo):
    root = tmp_path_factory.mktemp("images")
    for i, (y, x) in enumerate([(0, 0), (200, 300), (400, 600)]):
        Image.fromarray(np.ascontiguousarray(photo[y:y + 64, x:x + 96])).save(root / f"img{i}.png")
    return root


class Interrupt:
    """Stands in for ``psnr`` in the image evaluation: counts the points measured (one call each)
    and raises KeyboardInterrupt (Ctrl-C) at call ``at``."""

    def __init__(self, at=None):
        self.calls, self.at = 0, at

    def __call__(self, a, b):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return real_psnr(a, b)


def without_times(result: dict) -> dict:
    """The curves with the measured seconds taken out (the only values two runs do not share)."""
    curves = json.loads(json.dumps(result["curves"]))
    for curve in curves:
        for key in TIMES:
            assert len(curve["results"].pop(key)) == len(curve["results"]["quality"])
    return curves


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(dataset, tmp_path, monkeypatch, capsys):
    base = ["eval", "--dataset", str(dataset), *CODECS]
    whole = tmp_path / "whole.json"
    assert main(base + ["--json", str(whole)]) == 0
    assert not partial_path(whole).exists()  # removed once the result is written

    out = tmp_path / "rd.json"
    partial = partial_path(out)
    monkeypatch.setattr(image_eval, "psnr", Interrupt(at=6))
    assert main(base + ["--json", str(out)]) == 130  # killed while measuring the 6th point
    assert not out.exists()
    lines = [json.loads(line) for line in partial.read_text().splitlines()]
    assert lines[0]["run"]["codecs"][0][:2] == ["hyperprior", [2.0, 5.0]]
    assert sum("point" in line for line in lines) == 5  # every finished point was written

    # other arguments: refused with what differs, and the points are kept
    kept = partial.read_bytes()
    assert main(["eval", "--dataset", str(dataset), "--codec", "hyperprior:2,6", "--codec", "jpeg:30,80",
                 "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "other arguments" in err and "codecs" in err and "--force" in err
    assert main(base + ["--metrics", "psnr", "--json", str(out)]) == 2
    assert "metrics" in capsys.readouterr().err
    assert partial.read_bytes() == kept

    with partial.open("a") as f:  # a line the interruption cut short
        f.write('{"item": "img2.png", "codec": "jp')
    counter = Interrupt()
    monkeypatch.setattr(image_eval, "psnr", counter)
    assert main(base + ["--json", str(out)]) == 0
    assert counter.calls == 12 - 5  # only the points not measured before
    assert not partial.exists()
    resumed, uninterrupted = json.loads(out.read_text()), json.loads(whole.read_text())
    assert without_times(resumed) == without_times(uninterrupted)
    assert resumed["meta"]["resumed"] == {"points": 5, "from": partial.name}
    assert "resumed" not in uninterrupted["meta"]


def test_force_discards_an_unfinished_run(dataset, tmp_path, monkeypatch):
    out = tmp_path / "rd.json"
    monkeypatch.setattr(image_eval, "psnr", Interrupt(at=3))
    assert main(["eval", "--dataset", str(dataset), *CODECS, "--json", str(out)]) == 130
    counter = Interrupt()
    monkeypatch.setattr(image_eval, "psnr", counter)
    assert main(["eval", "--dataset", str(dataset), "--codec", "jpeg:50", "--json", str(out), "--force"]) == 0
    assert counter.calls == 3 and [c["name"] for c in json.loads(out.read_text())["curves"]] == ["jpeg"]


def test_worker_processes_resume_a_run_interrupted_in_one(dataset, tmp_path, monkeypatch):
    codecs = [("hyperprior", [3.0]), ("jpeg", [40.0, 90.0])]
    partial = tmp_path / "rd.json.partial.jsonl"
    monkeypatch.setattr(image_eval, "psnr", Interrupt(at=4))
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(dataset, codecs, progress=False, partial=partial)
    monkeypatch.undo()
    resumed = run_evaluation(dataset, codecs, jobs=2, progress=False, partial=partial)  # jobs is not an argument that decides numbers
    assert resumed["meta"]["resumed"]["points"] == 3
    assert len(partial.read_text().splitlines()) == 1 + 9  # the header and every point
    assert without_times(resumed) == without_times(run_evaluation(dataset, codecs, progress=False))


def test_partial_results_refuse_other_files_and_drop_damaged_lines(tmp_path):
    path = tmp_path / "x.json.partial.jsonl"
    path.write_text('{"not": "a partial file"}\n')
    with pytest.raises(CodecArgumentError, match="not the partial results"):
        PartialResults(path, {"a": 1})
    with PartialResults(path, {"a": 1}, restart=True) as store:
        store.add({"item": "i", "codec": "c", "quality": 2, "point": {"bpp": 1.0}})
        store.add({"item": "i", "codec": "c", "quality": 3, "point": {"bpp": 2.0}})
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:2] + ["{damaged"] + text[2:]) + "\n")  # a damaged line: the rest is measured again
    with PartialResults(path, {"a": 1}) as store:
        assert store.points("i") == {("c", 2.0): {"bpp": 1.0}} and store.resumed == 1
    assert len(path.read_text().splitlines()) == 2  # cut back to the last good line
    empty = tmp_path / "y.partial.jsonl"
    with pytest.raises(RuntimeError):
        with PartialResults(empty, {"a": 1}):
            raise RuntimeError("failed before the first point")
    assert not empty.exists()  # nothing measured, nothing left behind


def test_metrics_psnr_skips_ms_ssim(dataset, tmp_path, monkeypatch, capsys):
    def no_ms_ssim(a, b):
        raise AssertionError("MS-SSIM measured although --metrics psnr")

    monkeypatch.setattr(image_eval, "ms_ssim", no_ms_ssim)
    out = tmp_path / "rd.json"
    assert main(["eval", "--dataset", str(dataset), "--codec", "jpeg:30,80", "--metrics", "psnr", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    curve = data["curves"][0]
    assert data["meta"]["metrics"] == ["psnr"]
    assert "ms-ssim-rgb" not in curve["results"] and all("ms-ssim-rgb" not in p for p in curve["per_image"].values())
    assert {"bpp", "psnr-rgb", "psnr-y", "psnr-yuv", "encoding_time", "decoding_time"} <= set(curve["results"])
    assert main(["plot", str(out), "--metric", "ms-ssim", "-o", str(tmp_path / "x.png")]) == 2  # no curve to draw
    assert "no curve with ms-ssim" in capsys.readouterr().err
    for bad in ("ms-ssim", "psnr,ssim"):
        assert main(["eval", "--dataset", str(dataset), "--codec", "jpeg:30", "--metrics", bad, "--json", str(out), "--force"]) == 2
    assert parse_metrics(None) == ("psnr", "ms-ssim") == parse_metrics("ms-ssim, psnr")


def test_evaluation_takes_loaded_codecs(dataset):
    codec = nc.load_codec("mcquic")
    by_name = run_evaluation(dataset, [("mcquic", [1, 3])], progress=False, metrics="psnr")
    loaded = run_evaluation(dataset, [(codec, [1, 3])], progress=False, metrics="psnr")
    a, b = by_name["curves"][0], loaded["curves"][0]
    assert b["name"] == "mcquic" and b["per_image"] == a["per_image"]
    assert b["weights_fingerprint"] == a["weights_fingerprint"] == codec.fingerprint.hex()
    assert run_evaluation(dataset, [codec], progress=False, limit=1, metrics="psnr")["curves"][0]["results"]["quality"] == \
        list(codec.quality.sweep)
    with pytest.raises(CodecArgumentError, match="this process"):
        run_evaluation(dataset, [(codec, [1])], jobs=2, progress=False)
    with pytest.raises(CodecArgumentError, match="image codec"):
        video_eval.build_video_contender(codec, None)


def test_video_evaluation_resumes_and_skips_ms_ssim(tmp_path, monkeypatch):
    from fractions import Fraction

    from neuralcodecs.video.io import write_video

    rng = np.random.default_rng(0)
    clip = write_video(tmp_path / "c.y4m", rng.integers(0, 256, (4, 32, 48, 3), dtype=np.uint8), Fraction(25))
    codecs = [("x264", [23, 33, 43])]
    whole = video_eval.run_video_evaluation(clip, codecs, progress=False, metrics="psnr")
    assert "ms-ssim-rgb" not in whole["curves"][0]["results"] and whole["meta"]["metrics"] == ["psnr"]
    partial = tmp_path / "v.json.partial.jsonl"
    real = video_eval.psnr_rgb
    calls = []

    def interrupt_second(a, b):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(a, b)

    monkeypatch.setattr(video_eval, "psnr_rgb", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        video_eval.run_video_evaluation(clip, codecs, progress=False, metrics="psnr", partial=partial)
    monkeypatch.setattr(video_eval, "psnr_rgb", real)
    resumed = video_eval.run_video_evaluation(clip, codecs, progress=False, metrics="psnr", partial=partial)
    assert resumed["meta"]["resumed"]["points"] == 1
    assert without_times_video(resumed) == without_times_video(whole)
    with pytest.raises(CodecArgumentError, match="other arguments"):
        video_eval.run_video_evaluation(clip, codecs, progress=False, partial=partial)  # MS-SSIM too now


def without_times_video(result: dict) -> list:
    curves = json.loads(json.dumps(result["curves"]))
    for curve in curves:
        for key in TIMES + ("encoding_fps", "decoding_fps"):
            curve["results"].pop(key)
            for per in curve["per_clip"].values():
                per.pop(key)
    return curves
