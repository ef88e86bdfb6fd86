"""The untrusted-input cases of issue #25 from the shell: exit status, message, wall time, peak memory.

Each case is a shell command on files it makes (a pickled fit state, a small NeRV stream that
announces a 55M-parameter network and 100,000 frames, a text file named ``.png``, an animated GIF,
a one-pixel image...).  The command runs ``python -m neuralcodecs.cli`` (or ``python -c``) under
``/usr/bin/time`` with ``--timeout`` seconds, against this checkout or, with ``--checkout DIR``,
another one (``git worktree add DIR <commit>`` makes the "before" of a change), and writes one row
per case: exit status, the last line of stderr, wall seconds, peak resident memory, and what the
case checks (a marker file a pickle would create, the output left behind).

    python benchmarks/hostile_cases.py [--checkout DIR] [--label before] [--timeout 60]
      -> benchmarks/results/hostile_cases_<label>.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

KODIM23 = SHARED_DATA / "images" / "kodak" / "kodim23.png"
NERV_CONFORMANCE = ROOT / "bitstreams" / "conformance" / "v2-nerv-rgb-72x56x5-q0.01.ncb"
HYPERPRIOR_CONFORMANCE = ROOT / "bitstreams" / "conformance" / "v2-hyperprior-rgb-96x64-q2.ncb"
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


class RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def prepare(work: Path) -> None:
    """The input files of every case, made once with this checkout's library."""
    from PIL import Image

    from neuralcodecs import bitstream
    from neuralcodecs.hostile import nerv_stream

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(work / "small.png")
    Image.fromarray(np.array([[[200, 30, 90]]], np.uint8)).save(work / "one.png")
    with open(work / "state.fit", "wb") as f:
        pickle.dump({"model": RunsCode(work / "pwned")}, f)
    (work / "notes.png").write_text("not an image\n")
    frames = [Image.fromarray(np.full((32, 32, 3), 50 * t, np.uint8)) for t in range(4)]
    frames[0].save(work / "anim.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    for folder, size, alpha, count in (("tiny", 1, False, 3), ("clip", 64, False, 8), ("rgba", 16, True, 3)):
        (work / folder).mkdir()
        for t in range(count):
            a = np.full((size, size, 4 if alpha else 3), 60 * t, np.uint8)
            if alpha:
                a[..., 3] = 255
                a[0, 0, 3] = 0
            Image.fromarray(a).save(work / folder / f"f{t}.png")
    (work / "bomb.ncb").write_bytes(nerv_stream(100_000, 20, 20, 55_000_000))
    shutil.copy(NERV_CONFORMANCE, work / "clip.ncb")
    header, sections = bitstream.unpack(HYPERPRIOR_CONFORMANCE.read_bytes())
    header.frames = 2
    (work / "two.ncb").write_bytes(bitstream.pack(header, sections, section_frames=[0, 0], keyframes=[0]))
    (work / "locked").mkdir()
    os.chmod(work, 0o777)
    for p in work.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(work / "locked", 0o555)


NC = "{python} -m neuralcodecs.cli"
CASES = [
    ("pickled --fit-state, overfit encode", f"{NC} encode small.png -o o1.ncb --codec overfit --fit-state state.fit", "pwned"),
    ("pickled --fit-state, nerv encode", f"{NC} encode clip -o o2.ncb --codec nerv --effort fast --fit-state state.fit", "pwned"),
    ("nerv stream: 55M parameters x 100,000 frames of 20x20", f"{NC} decode bomb.ncb -o o3.y4m", "o3.y4m"),
    ("text file named .png", f"{NC} encode notes.png -o o4.ncb", "o4.ncb"),
    ("encode kodim23.png (hyperprior, quality 4)", f"{NC} encode {KODIM23} -o o5.ncb", None),
    ("video decode into a folder nobody can write (/proc, even as root)", f"{NC} decode clip.ncb -o /proc/ncodec-frames", None),
    ("--frames 0-29999999", f"{NC} decode clip.ncb -o o6.y4m --frames 0-29999999", "o6.y4m"),
    ("--frames 0-99999", f"{NC} decode clip.ncb -o o7.y4m --frames 0-99999", "o7.y4m"),
    ("transparent frames to a video codec", f"{NC} encode rgba -o o8.ncb --codec stem", "o8.ncb"),
    ("4-frame animated GIF to an image codec", f"{NC} encode anim.gif -o o9.ncb --codec hyperprior", "o9.ncb"),
    ("1x1 image, overfit", f"{NC} encode one.png -o o10.ncb --codec overfit", None),
    ("3-frame 1x1 clip, nerv", f"{NC} encode tiny -o o11.ncb --codec nerv --effort fast", None),
    ("image stream with frames = 2 decoded to .y4m", f"{NC} decode two.ncb -o o12.y4m", "o12.y4m"),
    ("nc.decode(video, restore_lost=mask)", "{python} -c \"import numpy, neuralcodecs as nc; "
     "nc.decode(open('clip.ncb','rb').read(), restore_lost=numpy.ones((4, 4), bool))\"", None),
    ("nc.decode(path)", "{python} -c \"import neuralcodecs as nc; print(nc.decode('clip.ncb').shape)\"", None),
    ("tokens --strategy dct --budget 64 (kodim23)", f"{NC} encode {KODIM23} -o t.ncb --force >/dev/null 2>&1; "
     f"{NC} tokens t.ncb --strategy dct --budget 64 -o t.safetensors --force", None),
    ("import neuralcodecs", "{python} -c \"import neuralcodecs\"", None),
    ("import torch", "{python} -c \"import torch\"", None),
]


def run_case(command: str, work: Path, checkout: Path, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = command.format(python=sys.executable)
    prefix = ""
    if command.startswith("NOBODY "):
        command = command[len("NOBODY "):]
        prefix = " ".join(NOBODY) + " " if os.geteuid() == 0 else ""
    shell = f"{prefix}/usr/bin/time -f '@@time %e %M' timeout {timeout} {command}"
    done = subprocess.run(["bash", "-c", shell], cwd=work, env=env, capture_output=True, text=True)
    err = [line for line in done.stderr.splitlines() if line.strip()]
    timing = [line for line in err if line.startswith("@@time")]
    wall, peak = (float(v) for v in timing[-1].split()[1:3]) if timing else (None, None)
    messages = [line for line in err if not line.startswith("@@time") and "%|" not in line and "Command exited" not in line]
    status = done.returncode if done.returncode != 124 else f"killed at {timeout:g} s"
    out = done.stdout.strip().splitlines() or [""]
    last = messages[-1] if messages else next((line.strip() for line in out if '"tokens"' in line), out[-1])
    return {"exit": status, "message": last[:300], "message_chars": len(last), "stderr_lines": len(messages),
            "traceback": any("Traceback" in m for m in messages), "wall_s": wall, "peak_mib": peak / 1024 if peak else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose neuralcodecs runs the cases")
    parser.add_argument("--label", default="after")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        work = Path(folder)
        prepare(work)
        for name, command, leftover in CASES:
            before = {p.name for p in work.iterdir()}
            row = {"case": name, **run_case(command, work, args.checkout.resolve(), args.timeout)}
            if leftover == "pwned":
                row["code_ran"] = (work / "pwned").exists()
                (work / "pwned").unlink(missing_ok=True)
            elif leftover:
                row["output_left"] = (work / leftover).exists()
            row["new_files"] = [f"{n} ({(work / n).stat().st_size:,} bytes)" if (work / n).is_file() else n
                                for n in sorted({p.name for p in work.iterdir()} - before - {"t.ncb", "t.safetensors"})]
            rows.append(row)
            print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"hostile_cases_{args.label}.json").write_text(json.dumps({"checkout": str(args.checkout), "cases": rows}, indent=2))
    lines = ["| case | exit | wall s | peak MiB | last stderr line (or output) | notes |", "|---|---|---:|---:|---|---|"]
    for r in rows:
        notes = []
        if "code_ran" in r:
            notes.append("**pickle ran code**" if r["code_ran"] else "no code ran")
        if r.get("traceback"):
            notes.append("traceback")
        if r["message_chars"] > 300:
            notes.append(f"{r['message_chars']:,}-character line")
        if r["new_files"]:
            notes.append("left: " + ", ".join(r["new_files"]))
        message = r["message"].replace("|", "\\|")
        lines.append(f"| {r['case']} | {r['exit']} | {r['wall_s'] if r['wall_s'] is not None else '-'} | "
                     f"{r['peak_mib']:.0f} | {message[:160]} | {'; '.join(notes)} |" if r["peak_mib"] else
                     f"| {r['case']} | {r['exit']} | - | - | {message[:160]} | {'; '.join(notes)} |")
    (RESULTS / f"hostile_cases_{args.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
