"""The wheel stands alone: build it, install it into a fresh virtual environment outside the
repository, and run the demo and the decoding of every conformance stream from there.

Steps (each timed): ``python -m build --wheel``; ``python -m venv``; ``pip install <wheel>`` (the
package registries, or this machine's wheel cache); in an empty folder outside the checkout,
``ncodec demo`` and ``ncodec decode`` of every stream of ``bitstreams/conformance`` with its
decoded pixels checked against the SHA-256 its manifest records.  Note that the pixels of a
stream decoded on one machine may differ from the manifest's on another only if its synthesis
is not thread-independent (every codec's is, by test).  Prints and writes the
wheel's size, what it holds, and the times.

    python benchmarks/wheel_check.py [--keep DIR]  ->  benchmarks/results/wheel_check.{json,md}
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from common import RESULTS, ROOT  # noqa: E402

CONFORMANCE = ROOT / "bitstreams" / "conformance"


def run(command: list[str], cwd: Path, timeout: float = 1800) -> tuple[float, str]:
    began = time.time()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.time() - began, done.stdout


def expected_digests() -> dict[str, str]:
    """File name -> SHA-256 of the decoded pixels, from the conformance manifest."""
    manifest = json.loads((CONFORMANCE / "manifest.json").read_text())
    return {e["file"]: e["sha256_decoded_pixels"] for e in manifest["streams"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="build the environment here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="ncodec-wheel-"))
    base.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    try:
        dist = base / "dist"
        report["build_s"], _ = run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], ROOT)
        wheel = next(dist.glob("neuralcodecs-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            infos = z.infolist()
        report["wheel"] = wheel.name
        report["wheel_mib"] = wheel.stat().st_size / 2**20
        report["installed_mib"] = sum(i.file_size for i in infos) / 2**20
        report["weights"] = sorted(i.filename for i in infos if "/weights/" in i.filename and i.filename.endswith(".safetensors"))
        venv = base / "venv"
        report["venv_s"], _ = run([sys.executable, "-m", "venv", str(venv)], base)
        python, ncodec = venv / "bin" / "python", venv / "bin" / "ncodec"
        report["install_s"], _ = run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], base)
        outside = base / "outside"
        outside.mkdir()
        report["demo_s"], demo_out = run([str(ncodec), "demo"], outside)
        report["demo_tail"] = demo_out.strip().splitlines()[-12:]
        digests = expected_digests()
        decoded = {}
        began = time.time()
        for stream in sorted(CONFORMANCE.glob("*.ncb")):
            local = outside / stream.name
            shutil.copy(stream, local)
            code = ("import hashlib, sys, numpy, neuralcodecs as nc; "
                    "print(hashlib.sha256(numpy.ascontiguousarray(nc.decode(sys.argv[1])).tobytes()).hexdigest())")
            _, out = run([str(python), "-c", code, str(local)], outside)
            decoded[stream.name] = out.strip() == digests.get(stream.name)
            run([str(ncodec), "decode", str(local), "-o", str(outside / (stream.stem + (".y4m" if "x5" in stream.stem else ".png")))], outside)
        report["conformance_s"] = time.time() - began
        report["conformance_match"] = decoded
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "wheel_check.json").write_text(json.dumps(report, indent=2))
    ok = sum(report.get("conformance_match", {}).values())
    lines = [f"| wheel | {report['wheel']}: {report['wheel_mib']:.1f} MiB ({report['installed_mib']:.1f} MiB unpacked, "
             f"{len(report['weights'])} weights files) |", "|---|---|",
             f"| build | {report['build_s']:.0f} s |", f"| fresh venv + pip install | {report['venv_s'] + report['install_s']:.0f} s |",
             f"| `ncodec demo` outside the checkout | {report['demo_s']:.0f} s |",
             f"| conformance streams decoded outside the checkout | {ok} of {len(report['conformance_match'])} match their "
             f"pixel SHA-256 ({report['conformance_s']:.0f} s) |"]
    (RESULTS / "wheel_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
