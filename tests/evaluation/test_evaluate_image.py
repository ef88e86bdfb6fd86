"""ncodec eval / plot on a tiny dataset, with a tiny classifier made here."""

import json

import numpy as np
import pytest
from PIL import Image

from neuralcodecs.cli import main
from neuralcodecs.errors import CodecArgumentError, WeightsError
from neuralcodecs.evaluation.common import parse_codec_arg
from neuralcodecs.evaluation.image import run_evaluation
from neuralcodecs.perception import folder_labels


def dominant_channel(pixels: np.ndarray) -> int:
    """A three-class 'classifier': the channel with the largest mean."""
    return int(np.argmax(pixels.reshape(-1, 3).mean(0)))


def tiny_classifier_factory():
    return dominant_channel


def tinted(crop: np.ndarray, channel: int) -> np.ndarray:
    """The crop with ``channel`` lifted far above the others: its dominant channel by construction."""
    out = crop.astype(np.float32) * 0.4
    out[..., channel] += 150
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, photo):
    """Three tinted crops; labels come from the folder names, chosen independently of the
    classifier: the blue-tinted crop is filed under "red" on purpose, so a correct top-1
    on the originals is exactly 2/3 while agreement with the originals' predictions is 1."""
    root = tmp_path_factory.mktemp("data")
    crops = [photo[100:196, 420:548], photo[400:496, 0:128], photo[0:96, 0:128]]
    filed = [("red", 0), ("green", 1), ("red", 2)]  # (folder, tint channel)
    for i, (crop, (folder, channel)) in enumerate(zip(crops, filed)):
        (root / folder).mkdir(exist_ok=True)
        Image.fromarray(tinted(np.ascontiguousarray(crop), channel)).save(root / folder / f"img{i}.png")
    (root / "classes.txt").write_text("red stuff 0\ngreen leaves 1\nblue sky 2\n")
    return root


def test_parse_codec_arg():
    assert parse_codec_arg("jpeg") == ("jpeg", None)
    assert parse_codec_arg("hyperprior:1,2.5") == ("hyperprior", [1.0, 2.5])


def test_rd_and_classification_results_follow_the_schema(dataset):
    specs = [("hyperprior", [2.0, 6.0]), ("jpeg", [20.0, 80.0]), ("webp", [30.0])]
    result = run_evaluation(
        dataset, specs, classifier_factory=tiny_classifier_factory,
        labels_for=folder_labels(dataset / "classes.txt"), progress=False,
    )
    assert result["meta"]["dataset"]["images"] == 3 and len(result["meta"]["dataset"]["checksum"]) == 64
    names = [c["name"] for c in result["curves"]]
    assert names == ["hyperprior", "jpeg", "webp"]
    for curve in result["curves"]:
        r = curve["results"]
        n = len(r["quality"])
        for key in ("bpp", "psnr-rgb", "psnr-y", "psnr-yuv", "ms-ssim-rgb", "encoding_time", "decoding_time", "top1", "agreement"):
            assert len(r[key]) == n
        assert all(0 <= v <= 1 for v in r["top1"] + r["agreement"])
        # top-1 is measured against the folder labels, agreement against the originals' predictions
        assert r["top1"][-1] == pytest.approx(2 / 3) and r["agreement"][-1] == 1.0
        per = curve["per_image"]
        assert sorted(k.split("/")[1] for k in per) == ["img0.png", "img1.png", "img2.png"]
        for i in range(n):  # curve points are means of the per-image values, bpp from real bytes
            assert r["bpp"][i] == pytest.approx(np.mean([p["bpp"][i] for p in per.values()]))
            assert all(p["bpp"][i] == p["bytes"][i] * 8 / (96 * 128) for p in per.values())
    hp = result["curves"][0]["results"]
    assert hp["bpp"][0] < hp["bpp"][1] and hp["psnr-rgb"][0] < hp["psnr-rgb"][1]
    assert result["uncompressed"]["top1"] == pytest.approx(2 / 3)


def test_worker_processes_give_the_same_numbers(dataset):
    specs = [("hyperprior", [3.0]), ("jpeg", [50.0])]
    one = run_evaluation(dataset, specs, jobs=1, progress=False)
    two = run_evaluation(dataset, specs, jobs=2, progress=False)
    for a, b in zip(one["curves"], two["curves"]):
        assert a["per_image"] == b["per_image"]


def test_eval_and_plot_commands(dataset, tmp_path, capsys):
    out = tmp_path / "rd.json"
    assert main(["eval", "--dataset", str(dataset), "--codec", "hyperprior:2,5", "--codec", "webp:20,60,90",
                 "--codec", "jpeg:20,60,90", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [c["name"] for c in data["curves"]] == ["hyperprior", "webp", "jpeg"]
    png = tmp_path / "rd.png"
    assert main(["plot", str(out), "--anchor", "webp", "-o", str(png)]) == 0
    table = capsys.readouterr().out
    assert "| jpeg |" in table and "| hyperprior |" in table
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(out), "--anchor", "nosuch", "-o", str(tmp_path / "x.png")]) == 2


def test_latent_domain_classification_reads_the_files_latents(dataset, tmp_path):
    import torch

    from neuralcodecs.downstream.latent_mobilenet import LatentMobileNet, PixelMobileNet
    from neuralcodecs.downstream.train_latent import save_classifier

    def always(model, label):
        """``model`` made to predict ``label`` whatever it is shown (a zero last layer, one bias)."""
        with torch.no_grad():
            last = model.classifier[-1] if hasattr(model, "classifier") else model.net.classifier[-1]
            last.weight.zero_()
            last.bias.zero_()
            last.bias[label] = 1.0
        return model.eval()

    torch.manual_seed(0)
    path = tmp_path / "latent.safetensors"
    from neuralcodecs import load_codec

    fingerprint = load_codec("hyperprior").fingerprint
    # labels (folders) are red 0, green 1, red 0; the originals' predictions (tints) are 0, 1, 2
    save_classifier(always(LatentMobileNet(192, 16), 0), path, "hyperprior", 3.0, {"note": "always 0"}, fingerprint)
    save_classifier(LatentMobileNet(192, 16).eval(), tmp_path / "other.safetensors", "hyperprior", 3.0, {}, b"x" * 16)
    tuned = tmp_path / "tuned.safetensors"
    save_classifier(always(PixelMobileNet(), 1), tuned, "hyperprior", 2.0, {"note": "always 1"}, fingerprint)
    specs = [("hyperprior", [2.0, 3.0]), ("jpeg", [50.0])]
    labels = folder_labels(dataset / "classes.txt")
    both = run_evaluation(dataset, specs, classifier_factory=tiny_classifier_factory, labels_for=labels,
                          progress=False, point_classifier_paths=(path, tuned))
    hp, jpeg = (c["results"] for c in both["curves"])
    assert hp["latent_top1"][0] is None and hp["latent_top1"][1] is not None  # only the classifier's quality
    # always 0: right on the two images filed under red, agreeing with the original on the red-tinted one
    assert hp["latent_top1"][1] == pytest.approx(2 / 3) and hp["latent_agreement"][1] == pytest.approx(1 / 3)
    assert hp["latent_time"][1] > 0 and len(hp["top1"]) == 2
    assert hp["tuned_top1"][0] is not None and hp["tuned_top1"][1] is None and hp["tuned_time"][0] > 0
    assert hp["tuned_top1"][0] == pytest.approx(1 / 3) and hp["tuned_agreement"][0] == pytest.approx(1 / 3)  # always 1
    assert "latent_top1" not in jpeg and "tuned_top1" not in jpeg and len(jpeg["top1"]) == 1
    latent_only = run_evaluation(dataset, specs, classifier_factory=tiny_classifier_factory, labels_for=labels,
                                 progress=False, point_classifier_paths=(path,), pixel_domain=False)
    hp_only = latent_only["curves"][0]["results"]
    assert "top1" not in hp_only and hp_only["latent_top1"] == hp["latent_top1"]  # same files, same predictions
    with pytest.raises(WeightsError):
        run_evaluation(dataset, specs, progress=False, point_classifier_paths=(tmp_path / "missing.safetensors",))
    for bad_specs, classifier in (([("hyperprior", [2.0])], path), (specs, tmp_path / "other.safetensors"),
                                  ([("hyperprior", [3.0]), ("hyperprior", [2.0])], path)):
        with pytest.raises(CodecArgumentError):  # no such point / other codec weights / a codec twice
            run_evaluation(dataset, bad_specs, progress=False, point_classifier_paths=(classifier,))
    assert main(["eval", "--dataset", str(dataset), "--codec", "hyperprior:3", "--domain", "latent",
                 "--json", str(tmp_path / "x.json")]) == 2  # latent domain without a latent classifier
    assert main(["eval", "--dataset", str(dataset), "--codec", "hyperprior:3", "--latent-classifier", str(path),
                 "--json", str(tmp_path / "y.json")]) == 2  # a latent classifier in the pixel domain
    import torchvision

    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), tmp_path / "mobilenet.pth")
    common = ["eval", "--dataset", str(dataset), "--codec", "hyperprior:2,3", "--task", "classify", "--classifier-weights",
              str(tmp_path / "mobilenet.pth"), "--class-map", str(dataset / "classes.txt")]
    assert main(common + ["--domain", "both", "--latent-classifier", str(tuned), "--json", str(tmp_path / "z.json")]) == 2
    assert main(common + ["--pixel-classifier", str(path), "--json", str(tmp_path / "w.json")]) == 2  # wrong kinds
