"""The ncodec command, run in-process."""

import json

import numpy as np
import pytest
from PIL import Image

import neuralcodecs
from neuralcodecs import bitstream
from neuralcodecs.cli import main


@pytest.fixture()
def small_png(tmp_path, small_photo):
    path = tmp_path / "in.png"
    Image.fromarray(small_photo).save(path)
    return path


def test_encode_info_decode(tmp_path, small_png, capsys):
    ncb, png = tmp_path / "a.ncb", tmp_path / "a.png"
    assert main(["encode", str(small_png), "-o", str(ncb), "--quality", "3"]) == 0
    assert main(["info", str(ncb), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["codec"] == "hyperprior" and info["width"] == 256 and info["height"] == 192
    assert info["bytes"] == ncb.stat().st_size
    assert main(["decode", str(ncb), "-o", str(png)]) == 0
    decoded = np.asarray(Image.open(png))
    assert decoded.shape == (192, 256, 3) and np.array_equal(decoded, neuralcodecs.decode(ncb.read_bytes()))


def test_existing_outputs_are_kept_without_force(tmp_path, small_png, capsys):
    out = tmp_path / "a.ncb"
    out.write_bytes(b"precious")
    assert main(["encode", str(small_png), "-o", str(out)]) == 2
    assert out.read_bytes() == b"precious"
    assert "--force" in capsys.readouterr().err
    assert main(["encode", str(small_png), "-o", str(out), "--force"]) == 0
    assert out.read_bytes()[:4] == b"\x89NCB"


def test_bad_inputs_exit_2_with_a_message_and_no_output(tmp_path, small_png, capsys):
    junk = tmp_path / "junk.ncb"
    junk.write_bytes(b"\x89NCB\x01\x00\x10")
    assert main(["decode", str(junk), "-o", str(tmp_path / "x.png")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert main(["encode", str(small_png), "-o", str(tmp_path / "y.ncb"), "--quality", "42"]) == 2
    assert not (tmp_path / "y.ncb").exists()
    assert main(["encode", str(tmp_path / "none.png"), "-o", str(tmp_path / "z.ncb")]) == 2


def test_max_bytes_is_never_exceeded_and_impossible_budgets_fail_cleanly(tmp_path, codec, small_photo, capsys):
    crops = [small_photo[:64, :64], small_photo[50:150, 20:220], small_photo]
    low = codec.quality.low
    for i, crop in enumerate(crops):
        path = tmp_path / f"c{i}.png"
        Image.fromarray(np.ascontiguousarray(crop)).save(path)
        smallest = len(codec.encode(np.ascontiguousarray(crop), quality=low))
        for budget in (600, 1500, 4000, smallest - 1, smallest):
            out = tmp_path / f"c{i}_{budget}.ncb"
            rc = main(["encode", str(path), "-o", str(out), "--max-bytes", str(budget)])
            if budget >= smallest:
                assert rc == 0 and out.stat().st_size <= budget
            else:
                assert rc == 2 and not out.exists()
    out = tmp_path / "tiny.ncb"
    assert main(["encode", str(tmp_path / "c2.png"), "-o", str(out), "--max-bytes", "50"]) == 2
    assert "no hyperprior quality fits" in capsys.readouterr().err and not out.exists()


def test_target_bpp_lands_near_the_target(tmp_path, small_png, capsys):
    out = tmp_path / "t.ncb"
    assert main(["encode", str(small_png), "-o", str(out), "--target-bpp", "0.5"]) == 0
    bpp = out.stat().st_size * 8 / (256 * 192)
    assert abs(bpp - 0.5) < 0.1


def test_list_names_the_codec(capsys):
    assert main(["list"]) == 0
    assert "hyperprior" in capsys.readouterr().out


def test_failures_are_one_error_line_exit_2_and_leave_nothing(tmp_path, small_png, capsys):
    (tmp_path / "adir").mkdir()
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"curves": [{"name": "a", "results": {"bpp": [0.1, "x"], "psnr-rgb": [30, 31]}}]}')
    cases = [
        ["encode", str(small_png), "-o", str(tmp_path / "missing" / "x.ncb")],
        ["encode", str(small_png), "-o", str(tmp_path / "adir")],
        ["encode", str(small_png), "-o", str(tmp_path / "x.ncb"), "--device", "tpu9"],
        ["train", "--data", str(tmp_path / "nosuch"), "--out", str(tmp_path / "run"), "--steps", "1"],
        ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--model-args", "{N:1"],
        ["export", str(tmp_path / "none.pt"), "-o", str(tmp_path / "w.safetensors"), "--calibration-data", str(tmp_path)],
        ["plot", str(bad_json), "-o", str(tmp_path / "p.png")],
        ["eval", "--dataset", str(tmp_path), "--limit", "-1", "--json", str(tmp_path / "r.json")],
        ["encode", str(small_png), "-o", str(tmp_path / "x.ncb"), "--no-such-flag"],
    ]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), (argv, err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_decode_writes_what_the_extension_says_or_refuses(tmp_path, small_png, capsys):
    ncb = tmp_path / "a.ncb"
    assert main(["encode", str(small_png), "-o", str(ncb), "--quality", "2"]) == 0
    for name, fmt in (("a.bmp", "BMP"), ("a.jpg", "JPEG"), ("a.webp", "WEBP")):
        assert main(["decode", str(ncb), "-o", str(tmp_path / name)]) == 0
        assert Image.open(tmp_path / name).format == fmt
    assert main(["decode", str(ncb), "-o", str(tmp_path / "a.gif")]) == 2
    assert not (tmp_path / "a.gif").exists()


def test_info_and_list_do_not_import_torch(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    stream = Path(__file__).resolve().parents[1] / "bitstreams" / "conformance" / "v1-hyperprior-rgb-96x64-q2.ncb"
    code = (
        "import sys; from neuralcodecs.cli import main; "
        f"assert main(['info', {str(stream)!r}]) == 0; assert main(['list']) == 0; assert main(['list', '--json']) == 0; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    out = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_s2lic_encode_takes_its_effort_option_and_decodes(tmp_path, small_photo, capsys):
    import torch

    from neuralcodecs.image.s2lic.frozen import FrozenLadder
    from neuralcodecs.image.s2lic.model import LadderModel
    from neuralcodecs.image.s2lic.weights import export_weights

    args = dict(N=16, M=32, transform="conv", lambdas=[0.004, 0.03],
                context=dict(slices=2, checkerboard=True, context="acgc", param_hidden=[32], context_width=16))
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    export_weights(FrozenLadder.from_trained(LadderModel(**args), torch.rand(2, 3, 64, 64)), weights, args)
    png = tmp_path / "in.png"
    Image.fromarray(small_photo[:64, :96]).save(png)
    ncb, out = tmp_path / "a.ncb", tmp_path / "a.png"
    assert main(["encode", str(png), "-o", str(ncb), "--codec", "s2lic", "--weights", str(weights),
                 "--quality", "1.5", "--effort", "fast"]) == 0
    assert main(["info", str(ncb), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["codec"] == "s2lic" and info["config"]["quality_x256"] == 384
    assert main(["decode", str(ncb), "-o", str(out), "--weights", str(weights)]) == 0
    assert np.asarray(Image.open(out)).shape == (64, 96, 3)
    assert main(["encode", str(png), "-o", str(tmp_path / "b.ncb"), "--codec", "s2lic", "--weights", str(weights),
                 "--effort", "extreme"]) == 2
    assert "--effort" in capsys.readouterr().err


def test_mcquic_encodes_at_a_ladder_quality_and_decodes(tmp_path, small_photo, capsys):
    import torch

    from neuralcodecs.image.mcquic.model import McQuicModel
    from neuralcodecs.image.mcquic.weights import export_weights

    args = dict(channels=8, ladder=[[1, [8, 4, 4]], [2, [16, 8, 4]]])
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    export_weights(McQuicModel(**args), weights, args)
    png = tmp_path / "in.png"
    Image.fromarray(small_photo[:50, :70]).save(png)
    ncb, out = tmp_path / "a.ncb", tmp_path / "a.png"
    assert main(["encode", str(png), "-o", str(ncb), "--codec", "mcquic", "--weights", str(weights), "--quality", "2"]) == 0
    assert main(["info", str(ncb), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["codec"] == "mcquic" and info["config"] == {"quality": 2}
    assert main(["decode", str(ncb), "-o", str(out), "--weights", str(weights)]) == 0
    assert np.asarray(Image.open(out)).shape == (50, 70, 3)
    assert main(["encode", str(png), "-o", str(tmp_path / "b.ncb"), "--codec", "mcquic", "--weights", str(weights),
                 "--quality", "2.5"]) == 2
    assert "quality" in capsys.readouterr().err


def test_vqgan_decode_restores_simulated_and_given_losses(tmp_path, small_photo, capsys):
    import torch

    from neuralcodecs.image.vqgan.model import VQGANModel
    from neuralcodecs.image.vqgan.weights import export_weights
    from neuralcodecs.transmission import drop_indices

    args = dict(ch=8, ch_mult=[1, 1, 2], res_blocks=1, code_dim=8, ladder=[4, 16], restorer=[16, 1, 2, 4])
    torch.manual_seed(0)
    model = VQGANModel(**args)
    with torch.no_grad():  # codewords drawn from the picture's own features: varied indices
        x = torch.from_numpy(small_photo[:40, :52].copy()).permute(2, 0, 1)[None].float() / 255
        z = model.features(x, 16).permute(0, 2, 3, 1).reshape(-1, 8)
        model.quantizers["16"].codebook.data.copy_(z[torch.randperm(z.shape[0])[:16]])
    model.init_ladder()
    weights = tmp_path / "tiny.safetensors"
    export_weights(model, weights, args, {4: torch.ones(4, dtype=torch.int64), 16: torch.arange(1, 17)})
    png = tmp_path / "in.png"
    Image.fromarray(small_photo[:40, :52]).save(png)
    ncb = tmp_path / "a.ncb"
    assert main(["encode", str(png), "-o", str(ncb), "--codec", "vqgan", "--weights", str(weights), "--quality", "16"]) == 0
    common = ["--weights", str(weights)]
    assert main(["decode", str(ncb), "-o", str(tmp_path / "plain.png"), *common]) == 0
    codec = neuralcodecs.load_codec("vqgan", weights=weights)
    header, sections = bitstream.unpack(ncb.read_bytes())
    plain = np.asarray(Image.open(tmp_path / "plain.png"))
    assert np.array_equal(plain, codec.decode(ncb.read_bytes()))
    simulated = {}
    for fraction, seed, method in (("0", "0", "transformer"), ("0.2", "0", "transformer"), ("0.2", "0", "nearest"),
                                   ("0.2", "1", "nearest")):
        out = tmp_path / f"sim-{fraction}-{seed}-{method}.png"
        assert main(["decode", str(ncb), "-o", str(out), "--simulate-loss", fraction, "--loss-seed", seed,
                     "--restore-method", method, *common]) == 0
        simulated[fraction, seed, method] = got = np.asarray(Image.open(out))
        # the seed draws round(fraction * 130) of the 10 x 13 indices; exactly those are restored
        lost = drop_indices((10, 13), float(fraction), int(seed))
        assert lost.sum() == round(float(fraction) * 130)
        assert np.array_equal(got, codec.decode_restored(header, sections, lost, method))
    assert np.array_equal(simulated["0", "0", "transformer"], plain)  # nothing dropped: the lossless decode
    for key in (("0.2", "0", "transformer"), ("0.2", "0", "nearest"), ("0.2", "1", "nearest")):
        assert not np.array_equal(simulated[key], plain), key  # 26 indices dropped and guessed: other pixels
    assert not np.array_equal(simulated["0.2", "0", "nearest"], simulated["0.2", "1", "nearest"])  # another seed, other losses
    mask = np.full((10, 13), 255, dtype=np.uint8)
    mask[0, 0] = 0  # one index arrives: the nearest fill copies it everywhere
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert main(["decode", str(ncb), "-o", str(tmp_path / "given.png"), "--restore-lost", str(tmp_path / "mask.png"),
                 "--restore-method", "nearest", *common]) == 0
    given = np.asarray(Image.open(tmp_path / "given.png"))
    _, indices = codec.indices(header, sections)
    assert len(np.unique(indices)) > 1
    assert given.shape == plain.shape == (40, 52, 3)
    assert np.array_equal(given, codec.decode_index_map(np.full_like(indices, indices[0, 0]), 16, 40, 52))
    np.save(tmp_path / "wrong.npy", np.zeros((3, 3)))
    assert main(["decode", str(ncb), "-o", str(tmp_path / "w.png"), "--restore-lost", str(tmp_path / "wrong.npy"), *common]) == 2
    assert "index grid" in capsys.readouterr().err
