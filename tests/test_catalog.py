"""ncodec list: per codec the quality, the cost of each effort level, the weights' provenance and
the headline measured result, from the sidecars and the shipped summary of benchmarks/results."""

import importlib
import json
from pathlib import Path

import pytest

from neuralcodecs import catalog, paths, registry
from neuralcodecs.cli import main
from neuralcodecs.codec import CodecOption

ROOT = Path(__file__).resolve().parents[1]


def listed(capsys) -> dict:
    assert main(["list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_json_fields(capsys):
    data = listed(capsys)
    codecs = {c["name"]: c for c in data["codecs"]}
    assert sorted(codecs) == registry.names()
    assert [a["name"] for a in data["anchors"]] == ["jpeg", "webp", "avif", "jpeg2000"]
    for c in codecs.values():
        assert {"name", "kind", "ready", "description", "quality", "options", "weights", "measured"} <= set(c)
        assert c["quality"]["default"] == registry.spec(c["name"]).quality.default and c["quality"]["text"]
        assert c["weights"]["text"] and c["measured"]["text"]

    # effort levels: the declared cost and the measured time (overfit on Kodak, from the summary)
    effort = next(o for o in codecs["overfit"]["options"] if o["name"] == "effort")
    assert [(lv["level"], lv["amount"], lv["unit"]) for lv in effort["levels"]] == [
        ("fast", 5, "minutes per 768x512 image"), ("medium", 10, "minutes per 768x512 image"),
        ("best", 30, "minutes per 768x512 image")]
    assert [lv["default"] for lv in effort["levels"]] == [True, False, False]
    assert all(lv["measured"]["minutes_per_image_and_rate_point"] > 0 for lv in effort["levels"])
    assert [lv["measured"]["steps"] for lv in effort["levels"]] == [1000, 1854, 10000]  # the runs' own steps
    s2lic_effort = next(o for o in codecs["s2lic"]["options"] if o["name"] == "effort")
    assert [lv["amount"] for lv in s2lic_effort["levels"]] == [0, 30, 120]
    nerv_effort = next(o for o in codecs["nerv"]["options"] if o["name"] == "effort")
    assert [lv["unit"] for lv in nerv_effort["levels"]] == ["epochs"] * 3

    # provenance, as the sidecars record it
    for name in ("hyperprior", "mcquic", "s2lic", "walloc", "stem", "vqgan"):
        side = json.loads(registry.spec(name).weights_path.with_suffix(".json").read_text())
        w = codecs[name]["weights"]
        assert w["policy"] == "shipped" and w["file"] == f"{name}.safetensors" and w["fingerprint"] == side["fingerprint"]
        assert [d["folder"] for d in w["data"]] == [Path(d["folder"]).name for d in side["training"]["data"]]
    assert codecs["mcquic"]["weights"]["steps"] == 4236 and codecs["mcquic"]["weights"]["hours"] == pytest.approx(1.083)
    assert codecs["hyperprior"]["weights"]["hours"] is None  # its sidecar does not record it: not guessed
    assert "training time not recorded" in codecs["hyperprior"]["weights"]["text"]
    vq = codecs["vqgan"]["weights"]  # three stages, each with its own minutes
    assert [s["stage"] for s in vq["stages"]] == ["autoencoder", "codebooks", "restoration"]
    assert vq["hours"] == pytest.approx(sum(s["minutes"] for s in vq["stages"]) / 60, abs=1e-3)
    assert codecs["overfit"]["weights"]["policy"] == "stream" and "fingerprint" not in codecs["overfit"]["weights"]

    # headline results
    hp = codecs["hyperprior"]["measured"]
    assert hp["comparisons"][0]["against"] == "webp" and hp["comparisons"][0]["bd_rate_pct"] > 0
    assert "BD-rate" in hp["text"] and "kodak_eval.json" in hp["source"]
    assert codecs["stem"]["measured"]["weights_fingerprint"] == codecs["stem"]["weights"]["fingerprint"]
    assert all(c["measured"]["text"] != catalog.NOT_MEASURED for c in codecs.values())


def test_list_text_shows_costs_provenance_and_results(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("overfit "):out.index("\ns2lic ")]
    assert "fast (default): 5 minutes per 768x512 image; 4.8 min per image and rate point at 1,000 steps" in block
    assert "fitted to each image at encode time" in block and "BD-rate +78.3%" in block
    assert "mcquic.safetensors 6eb231fb: 4,236 steps, 1.08 h on the CPU, trained on bsds500 (500 images)" in out


def test_without_the_summary_nothing_is_claimed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "ASSETS_DIR", tmp_path)
    data = listed(capsys)
    assert data["measurements"] is None
    assert all(c["measured"] == {"text": catalog.NOT_MEASURED} for c in data["codecs"])
    overfit = next(c for c in data["codecs"] if c["name"] == "overfit")
    assert all(lv["measured"] is None for lv in overfit["options"][0]["levels"])
    assert main(["list"]) == 0
    assert f"measured  {catalog.NOT_MEASURED}" in capsys.readouterr().out


def test_a_result_of_other_weights_says_so(tmp_path, monkeypatch, capsys):
    summary = json.loads(catalog.measured_path().read_text())
    summary["codecs"]["hyperprior"]["result"]["weights_fingerprint"] = "00" * 16
    (tmp_path / catalog.MEASURED_FILE).write_text(json.dumps(summary))
    monkeypatch.setattr(paths, "ASSETS_DIR", tmp_path)
    hp = next(c for c in listed(capsys)["codecs"] if c["name"] == "hyperprior")
    assert hp["measured"]["other_weights"] is True and "measured with other weights (00000000)" in hp["measured"]["text"]


@pytest.mark.skipif(not (ROOT / "benchmarks" / "results" / "kodak_eval.json").exists(), reason="no benchmarks/results")
def test_the_shipped_summary_is_what_the_results_files_give(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    summary = importlib.import_module("measured_summary")
    assert catalog.measured_path().read_text() == summary.render(summary.build()), \
        "neuralcodecs/assets/measured.json is out of date: run python benchmarks/measured_summary.py"


def test_option_costs_name_every_choice():
    with pytest.raises(ValueError, match="every choice"):
        CodecOption("effort", str, "fast", "", choices=("fast", "best"), costs=(("fast", 1, "steps"),))
