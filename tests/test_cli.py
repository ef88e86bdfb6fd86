"""The ncodec command, run in-process."""

import json

import numpy as np
import pytest
from PIL import Image

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
    assert np.asarray(Image.open(png)).shape == (192, 256, 3)


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
    low, _ = codec.quality_range
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
