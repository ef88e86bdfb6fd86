"""What WaLLoC's spatial prediction saves: Kodak bpp with and without it, same latents.

Every Kodak image is encoded at each quality twice with the shipped weights: with the MED
prediction residuals under the residual priors (what ``walloc`` writes) and with the symbols
under the per-channel symbol priors (the first walloc streams).  The latents, hence the decoded
pixels, are identical; only the entropy coding differs.  Real file sizes.  For reference, the
authors' coding: every latent channel of the same file as an 8-bit grey lossless WebP
(Pillow, ``method=6``; the sum of the WebP files, no container).

Usage: python benchmarks/walloc_prediction.py [--kodak DIR]
Outputs: benchmarks/results/walloc_prediction.{json,md}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import io

import numpy as np
from PIL import Image

from common import DEFAULT_KODAK, RESULTS  # noqa: E402

from neuralcodecs import load_codec  # noqa: E402
from neuralcodecs.image.io import load_image  # noqa: E402


def webp_bytes(codec, pixels: np.ndarray, quality: float) -> int:
    """Bytes of every latent channel of ``pixels``' file as a lossless 8-bit grey WebP."""
    from neuralcodecs import latents

    symbols = (latents(codec.encode(pixels, quality=quality)).tensor.numpy() + 127).astype(np.uint8)
    total = 0
    for plane in symbols:
        buffer = io.BytesIO()
        Image.fromarray(plane).save(buffer, format="WEBP", lossless=True, quality=100, method=6)
        total += len(buffer.getvalue())
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    args = ap.parse_args()
    codec = load_codec("walloc")
    if codec.residual_priors is None:
        raise SystemExit("the shipped walloc weights have no residual priors")
    pictures = [load_image(p)[0] for p in sorted(Path(args.kodak).glob("*.png"))]
    residual_priors, rows = codec.residual_priors, []
    for q in codec.quality.ladder:
        bpp = {}
        for mode, priors in (("prediction", residual_priors), ("symbols", None)):
            codec.residual_priors = priors
            bpp[mode] = float(np.mean([8 * len(codec.encode(x, quality=q)) / (x.shape[0] * x.shape[1]) for x in pictures]))
        codec.residual_priors = residual_priors
        bpp["webp_lossless"] = float(np.mean([8 * webp_bytes(codec, x, q) / (x.shape[0] * x.shape[1]) for x in pictures]))
        rows.append({"quality": q, "channels": codec.model.latent_channels[int(q) - 1], **bpp,
                     "saving_pct": 100 * (1 - bpp["prediction"] / bpp["symbols"])})
    (RESULTS / "walloc_prediction.json").write_text(json.dumps({"images": len(pictures), "rows": rows}, indent=1) + "\n")
    lines = [f"Kodak ({len(pictures)} images), shipped walloc weights, same latents: real file sizes.", "",
             "| quality | latent channels | bpp, MED prediction residuals | bpp, symbols under per-channel priors | saving | bpp, lossless WebP per channel |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['quality']:g} | {r['channels']} | {r['prediction']:.3f} | {r['symbols']:.3f} | {r['saving_pct']:.1f}% | "
              f"{r['webp_lossless']:.3f} |" for r in rows]
    (RESULTS / "walloc_prediction.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
