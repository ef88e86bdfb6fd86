"""Decode milliseconds of the overfitted image codec, before and after, measured in the same run (issue 27).

* **Kodak files**: the streams ``overfit_kodak.py --fit-states DIR`` kept (``DIR/*.ncb``, revision
  3), each also transcoded to revision 2 (the same latents, ARM and parameters; only the latent
  section's table differs), so that the code of an earlier commit (``--before PATH``, a git
  worktree) decodes the very same pictures;
* **presets**: one stream per decoder preset, fitted for ``--preset-steps`` steps on a 768x512
  centre crop of the first Sun-Hays photo (not Kodak): the decoder's cost does not depend on how
  long the fit ran, only its widths and the latents' statistics.

Sizes: every file in the folder as revision 3 and transcoded to revision 2.  Times: ``--files``
of them (spread over the folder).  Every variant decodes in its own process on one thread (a warm-up decode, then the best of two
per file); rounds interleave the variants so a slow minute of the machine hits all of them, and
the table gives each variant's median over the rounds of its mean over the files.  Run it alone.

    python benchmarks/overfit_decode.py --streams /work/runs/kodak27/states --before /tmp/base447
    -> benchmarks/results/overfit_decode.{json,md}
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, run_in_checkout, write_result


def decode_worker(files: list[str]) -> list[float]:
    """Best-of-two milliseconds per file, after one warm-up decode (one thread: the caller's)."""
    import neuralcodecs as nc

    out = []
    nc.decode(Path(files[0]).read_bytes())
    for f in files:
        data = Path(f).read_bytes()
        times = []
        for _ in range(2):
            started = time.perf_counter()
            nc.decode(data)
            times.append(time.perf_counter() - started)
        out.append(1000 * min(times))
    return out


def transcode_to_revision_2(data: bytes) -> bytes:
    """The same picture as a revision 2 stream (latent section re-coded under revision 2's table)."""
    import dataclasses

    from neuralcodecs import bitstream
    from neuralcodecs.inr.overfit.codec import OverfitCodec, revision_fingerprint
    from neuralcodecs.inr.overfit.coding import encode_grids

    header, sections = bitstream.unpack(data)
    cfg, _, net, ints = OverfitCodec()._decoded_sections(header, sections)
    return bitstream.pack(dataclasses.replace(header, fingerprint=revision_fingerprint(2)),
                          [sections[0], sections[1], encode_grids(net, ints, cfg.offsets, 2)])


def preset_streams(folder: Path, steps: int) -> dict[str, Path]:
    """One revision 3 stream per preset, fitted ``steps`` steps on the Sun-Hays crop."""
    import numpy as np

    from fit_step import kodak_size_picture
    from neuralcodecs.inr.overfit.codec import OverfitCodec
    from neuralcodecs.inr.overfit.model import PRESETS

    pixels = (kodak_size_picture()[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    out = {}
    for preset in PRESETS:
        path = folder / f"sunhays_{preset}_{steps}.ncb"
        if not path.exists():
            path.write_bytes(OverfitCodec().encode(pixels, quality=3, steps=steps, preset=preset))
        out[preset] = path
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=Path, required=True, help="a folder of overfit_kodak.py --fit-states files")
    parser.add_argument("--before", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset-steps", type=int, default=100)
    parser.add_argument("--files", type=int, default=4, help="Kodak files timed (spread over the folder's; 0: all)")
    parser.add_argument("--out", type=Path, default=RESULTS / "overfit_decode")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from neuralcodecs.inr.overfit.model import PRESETS, OverfitConfig, macs_per_pixel

    torch.set_num_threads(1)
    every = sorted(args.streams.glob("kodim*.ncb"))
    if not every:
        raise SystemExit(f"no kodim*.ncb in {args.streams}: run overfit_kodak.py --fit-states {args.streams} first")
    work = Path(tempfile.mkdtemp(prefix="overfit_decode_"))
    sizes = []  # (file, revision 3 bytes, revision 2 bytes): every file, the sizes of both tables
    for f in every:
        path = work / f.name
        path.write_bytes(transcode_to_revision_2(f.read_bytes()))
        sizes.append((f.name, f.stat().st_size, path.stat().st_size))
    kodak = every[:: -(-len(every) // args.files)][: args.files] if args.files and len(every) > args.files else every
    revision_2 = [work / f.name for f in kodak]
    presets = preset_streams(args.streams, args.preset_steps)
    variants = []  # (label, tree, files)
    if args.before:
        variants.append(("before, Kodak files as revision 2", args.before, revision_2))
    variants += [("after, Kodak files as revision 2", ROOT, revision_2), ("after, Kodak files (revision 3)", ROOT, kodak)]
    variants += [(f"after, preset {p} ({args.preset_steps}-step fit, Sun-Hays)", ROOT, [presets[p]]) for p in PRESETS]
    samples: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    for r in range(args.rounds):
        for label, tree, files in variants:
            ms = run_in_checkout(tree, "overfit_decode", f"decode_worker({[str(f) for f in files]!r})", threads=1)
            samples[label].append(statistics.mean(ms))
            print(f"round {r + 1}: {label}: {samples[label][-1]:.0f} ms", flush=True)
    rows = []
    for label, _, files in variants:
        preset = label.split("preset ")[1].split(" ")[0] if "preset " in label else "cpu"
        rows.append({"variant": label, "files": len(files), "ms_per_image": round(statistics.median(samples[label]), 1),
                     "samples": [round(s, 1) for s in samples[label]],
                     "macs_per_pixel": round(macs_per_pixel(OverfitConfig(**PRESETS[preset])))})
    totals = {"revision_3_bytes": sum(s[1] for s in sizes), "revision_2_bytes": sum(s[2] for s in sizes)}
    result = {"meta": {"kodak_files": [f.name for f in kodak], "rounds": args.rounds, "before": str(args.before or ""),
                       "preset_steps": args.preset_steps, "cpu": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
                       "sized_files": len(sizes), **totals},
              "rows": rows, "sizes": [{"file": n, "revision_3_bytes": b3, "revision_2_bytes": b2} for n, b3, b2 in sizes]}
    write_result(args.out, result, markdown(result))
    return 0


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [f"Decode of the overfitted codec on one thread, {len(meta['kodak_files'])} Kodak files (768x512) and one "
             "768x512 Sun-Hays file per preset; median over rounds of the mean per file "
             "(`python benchmarks/overfit_decode.py`)", "",
             "| variant | MAC/px | ms per image (median) | rounds |", "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['variant']} | {r['macs_per_pixel']} | {r['ms_per_image']:.0f} | "
                     f"{', '.join(f'{s:.0f}' for s in r['samples'])} |")
    saving = [100 * (1 - s["revision_3_bytes"] / s["revision_2_bytes"]) for s in result["sizes"]]
    lines += ["", f"The same fits as files: {meta['sized_files']} Kodak files, {meta['revision_3_bytes']:,} bytes as revision 3 "
              f"against {meta['revision_2_bytes']:,} as revision 2, {100 * (1 - meta['revision_3_bytes'] / meta['revision_2_bytes']):.1f}% "
              f"smaller in all (per file {min(saving):.1f}% to {max(saving):.1f}%)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
