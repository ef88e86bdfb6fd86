"""The ncodec command as real subprocesses, over a table of bad inputs for every codec kind.

Each case must end with exit status 2, exactly one ``error:`` line on stderr (no traceback), the
message the case names, and no file left behind (the outputs the case names do not exist and the
working folder holds only what was there before).  Cases where permissions matter run as an
unprivileged user (``nobody``, through ``setpriv``) when the tests run as root; they are skipped
when that user cannot run this interpreter.
"""

from __future__ import annotations

import functools
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralcodecs.hostile import nerv_stream

CONFORMANCE = Path(__file__).resolve().parents[1] / "bitstreams" / "conformance"
NERV = CONFORMANCE / "v2-nerv-rgb-72x56x5-q0.01.ncb"
HYPERPRIOR = CONFORMANCE / "v2-hyperprior-rgb-96x64-q2.ncb"
NOBODY = 65534


class RunsCode:
    """A pickle payload that creates a file when it is unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@functools.lru_cache(maxsize=1)
def unprivileged_prefix() -> tuple[str, ...] | None:
    """The command prefix that runs as ``nobody`` (root only), if that user can import the package."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    prefix = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all")
    probe = subprocess.run([*prefix, sys.executable, "-c", "import neuralcodecs.cli"], capture_output=True,
                           cwd="/", timeout=120)
    return prefix if probe.returncode == 0 else None


def ncodec(args, cwd: Path, unprivileged: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    prefix: tuple[str, ...] = ()
    if unprivileged and os.geteuid() == 0:
        prefix = unprivileged_prefix()
        if prefix is None:
            pytest.skip("running as root without a way to run as an unprivileged user")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([*prefix, sys.executable, "-m", "neuralcodecs.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=env)


def assert_one_error(done: subprocess.CompletedProcess, *words: str) -> str:
    err = done.stderr
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]  # progress bars aside
    assert done.returncode == 2, (done.returncode, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert len(lines[0]) < 600, f"an error line of {len(lines[0])} characters"
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture()
def workdir(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def gif(path: Path, frames: int = 4, size: int = 32) -> Path:
    images = []
    for t in range(frames):
        a = np.zeros((size, size, 3), np.uint8)
        a[..., 0] = 40 * t
        a[t : t + 8, :, 1] = 200
        images.append(Image.fromarray(a))
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0)
    return path


# --------------------------------------------------------------------------- the table


def case_text_file_as_png(w: Path):
    (w / "notes.png").write_text("not an image\n")
    return ["encode", "notes.png", "-o", "out.ncb"], ["notes.png", "not a readable image"], ["out.ncb"]


def case_animated_gif_to_an_image_codec(w: Path):
    gif(w / "anim.gif")
    return ["encode", "anim.gif", "-o", "out.ncb", "--codec", "hyperprior"], ["4 frames", "video codec"], ["out.ncb"]


def case_multipage_tiff_to_the_overfitted_codec(w: Path):
    pages = [Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)) for i in range(3)]
    pages[0].save(w / "pages.tif", save_all=True, append_images=pages[1:])
    return ["encode", "pages.tif", "-o", "out.ncb", "--codec", "overfit"], ["3 frames", "video codec"], ["out.ncb"]


def case_pickled_fit_state(w: Path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(w / "in.png")
    (w / "state.fit").write_bytes(pickle.dumps({"model": RunsCode(w / "pwned")}))
    return (["encode", "in.png", "-o", "out.ncb", "--codec", "overfit", "--fit-state", "state.fit"],
            ["not a neuralcodecs fitting state"], ["out.ncb", "pwned"])


def case_pickled_fit_state_for_video(w: Path):
    frames = w / "frames"
    frames.mkdir()
    for t in range(3):
        Image.fromarray(np.full((32, 32, 3), 50 * t, np.uint8)).save(frames / f"f{t}.png")
    (w / "state.fit").write_bytes(pickle.dumps({"model": RunsCode(w / "pwned")}))
    return (["encode", "frames", "-o", "out.ncb", "--codec", "nirvana", "--fit-state", "state.fit", "--effort", "fast"],
            ["not a neuralcodecs fitting state"], ["out.ncb", "pwned"])


def case_one_pixel_clip_for_nerv(w: Path):
    frames = w / "tiny"
    frames.mkdir()
    for t in range(3):
        Image.fromarray(np.full((1, 1, 3), 80 * t, np.uint8)).save(frames / f"f{t}.png")
    return ["encode", "tiny", "-o", "out.ncb", "--codec", "nerv"], ["too small for nerv"], ["out.ncb"]


def case_model_larger_than_the_clip(w: Path):
    frames = w / "small"
    frames.mkdir()
    for t in range(3):
        Image.fromarray(np.full((32, 32, 3), 80 * t, np.uint8)).save(frames / f"f{t}.png")
    return ["encode", "small", "-o", "out.ncb", "--codec", "nirvana", "--size", "0.3M"], ["larger than the clip"], ["out.ncb"]


def case_transparent_frames_for_video(w: Path):
    folder = w / "rgba"
    folder.mkdir()
    for t in range(3):
        a = np.full((16, 16, 4), 255, np.uint8)
        a[0, 0, 3] = 0
        Image.fromarray(a).save(folder / f"f{t}.png")
    return ["encode", "rgba", "-o", "out.ncb", "--codec", "stem"], ["transparent", "flatten"], ["out.ncb"]


def case_frame_range_of_thirty_million(w: Path):
    shutil.copy(NERV, w / "clip.ncb")
    return ["decode", "clip.ncb", "-o", "out.y4m", "--frames", "0-29999999"], ["0..4", "0-29999999"], ["out.y4m"]


def case_frame_range_beyond_the_stream(w: Path):
    shutil.copy(NERV, w / "clip.ncb")
    return ["decode", "clip.ncb", "-o", "out.y4m", "--frames", "0-99999"], ["0..4"], ["out.y4m"]


def case_huge_nerv_network_at_the_default_budget(w: Path):
    (w / "bomb.ncb").write_bytes(nerv_stream(100_000, 20, 20, 10_000_000))
    return ["decode", "bomb.ncb", "-o", "out.y4m"], ["compute budget", "--max-compute"], ["out.y4m"]


def case_bad_compute_budget(w: Path):
    shutil.copy(NERV, w / "clip.ncb")
    return ["decode", "clip.ncb", "-o", "out.y4m", "--max-compute", "forever"], ["compute budget"], ["out.y4m"]


def case_image_stream_with_two_frames(w: Path):
    from neuralcodecs import bitstream

    header, sections = bitstream.unpack(HYPERPRIOR.read_bytes())
    header.frames = 2
    (w / "two.ncb").write_bytes(bitstream.pack(header, sections, section_frames=[0, 0], keyframes=[0]))
    return ["decode", "two.ncb", "-o", "out.y4m"], ["image codec", "1 frame"], ["out.y4m"]


def case_restore_lost_on_a_video(w: Path):
    shutil.copy(NERV, w / "clip.ncb")
    return ["decode", "clip.ncb", "-o", "out.y4m", "--simulate-loss", "0.1"], ["codebook"], ["out.y4m"]


def case_truncated_image_stream(w: Path):
    (w / "cut.ncb").write_bytes(HYPERPRIOR.read_bytes()[:-9])
    return ["decode", "cut.ncb", "-o", "out.png"], ["ends"], ["out.png"]


CASES = {name[5:]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_error_line_and_leaves_nothing(name, workdir):
    args, words, outputs = CASES[name](workdir)
    before = listing(workdir)
    done = ncodec(args, workdir)
    assert_one_error(done, *words)
    for output in outputs:
        assert not (workdir / output).exists(), output
    assert listing(workdir) == before


def test_video_decode_into_an_unwritable_folder_fails_before_decoding():
    """As an unprivileged user: the folder is checked first (once 12-16 s and 1.1 GB of decoding)."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="ncodec-perm-"))
    try:
        (work / "locked").mkdir()
        shutil.copy(NERV, work / "clip.ncb")
        os.chmod(work, 0o777)
        os.chmod(work / "clip.ncb", 0o644)
        os.chmod(work / "locked", 0o555)
        before = listing(work)
        for out in ("locked/frames", "locked/clip.y4m"):
            done = ncodec(["decode", "clip.ncb", "-o", out], work, unprivileged=True)
            assert_one_error(done, "not writable")
            assert "frame/s" not in done.stderr  # refused before the first frame
        assert listing(work) == before
    finally:
        os.chmod(work / "locked", 0o755)
        shutil.rmtree(work)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_video_decode_into_a_folder_even_root_cannot_write_fails_before_decoding(workdir):
    """Permissions say nothing to root: a pseudo file system refuses the files os.access allows."""
    shutil.copy(NERV, workdir / "clip.ncb")
    for out in ("/proc/ncodec-frames", "/proc/ncodec-clip.y4m"):
        done = ncodec(["decode", "clip.ncb", "-o", out], workdir)
        assert_one_error(done, "not writable")
        assert "frame/s" not in done.stderr


def test_an_animated_gif_without_a_codec_is_encoded_as_a_clip(workdir):
    from neuralcodecs import bitstream

    gif(workdir / "anim.gif", frames=4, size=64)
    done = ncodec(["encode", "anim.gif", "-o", "out.ncb"], workdir)
    assert done.returncode == 0, done.stderr[-2000:]
    header = bitstream.read_header((workdir / "out.ncb").read_bytes())
    assert (header.codec, header.frames, header.width, header.fps) == ("stem", 4, 64, (25, 1))
