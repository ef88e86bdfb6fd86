"""Write conformance streams of the current format version with their decoded checksums.

Each stream gets, in ``conformance/manifest.json``: the format version, codec, weights
fingerprint, the SHA-256 of its decoded pixels (uint8 H x W x 3, C order), the SHA-256 of
its decoded latents (int64 z and y symbols, C order, z first) and a reference PNG of the
decoded pixels -- or, for a ``features`` codec, the SHA-256 of its decoded output (float32
class probabilities) and that output as a reference ``.npy``.  Streams of earlier versions are never rewritten: a new format version adds
its own ``v<N>-*`` files.

Usage: python bitstreams/make_conformance.py [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import neuralcodecs as nc  # noqa: E402
from neuralcodecs import bitstream  # noqa: E402
from neuralcodecs.codec import IMAGE_INPUT_KINDS  # noqa: E402
from neuralcodecs.demo import PHOTO  # noqa: E402

FOLDER = Path(__file__).resolve().parent / "conformance"


def latent_digest(codec, data: bytes) -> str:
    """SHA-256 of the decoded integer symbols (int64, C order, section order)."""
    header, sections = bitstream.unpack(data)
    digest = hashlib.sha256()
    for symbols in codec.symbol_arrays(header, sections):
        digest.update(np.ascontiguousarray(np.asarray(symbols).astype("<i8")).tobytes())
    return digest.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rewrite this version's streams")
    args = ap.parse_args()
    version = bitstream.FORMAT_VERSION
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    cases = []
    from neuralcodecs import registry

    # codecs with shipped weights; features codecs (student) take images too and record their decoded output
    for name in (n for n in registry.names() if registry.spec(n).kind in IMAGE_INPUT_KINDS and registry.spec(n).ready):
        spec = registry.spec(name).quality
        ladder = spec.ladder
        # continuous qualities: a whole, a high fractional and a middle fractional one; ladders: low, high, middle
        low, high, middle = (2.0, 7.5, 5.25) if ladder is None else (ladder[0], ladder[-1], ladder[len(ladder) // 2])
        cases += [
            (name, f"v{version}-{name}-rgb-96x64-q{low:g}.ncb", photo[150:214, 420:516], low),
            (name, f"v{version}-{name}-gray-40x40-q{high:g}.ncb", photo[200:240, 100:140, 1], high),
            (name, f"v{version}-{name}-rgb-33x17-q{middle:g}.ncb", photo[300:317, 600:633], middle),
        ]
    for name in (n for n in registry.names("video") if registry.spec(n).ready):
        # a synthetic pan over the demo photo (2 pixels per frame): intra, predicted and a second intra frame
        clip = np.stack([photo[120 + t : 176 + t, 400 + 2 * t : 472 + 2 * t] for t in range(5)])
        spec = registry.spec(name)
        q = 0.01 if spec.capabilities.get("overfitted") else spec.quality.default  # overfitted: a 10k-value network
        cases.append((name, f"v{version}-{name}-rgb-72x56x5-q{q:g}.ncb", clip, q))
    manifest_path = FOLDER / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"streams": []}
    existing = {s["file"] for s in manifest["streams"]}
    FOLDER.mkdir(exist_ok=True)
    for codec_name, name, pixels, quality in cases:
        codec = nc.load_codec(codec_name)
        if codec.readable_fingerprints:  # a codec that still decodes earlier revisions: streams named by revision
            name = name.replace(f"-{codec_name}-", f"-{codec_name}-r{codec.revision}-")
        if name in existing and not args.force:
            print(f"{name}: exists, kept")
            continue
        declared = {o.name for o in codec.options}
        options = {k: v for k, v in (("intra_period", 3), ("effort", "fast")) if k in declared}
        data = codec.encode(np.ascontiguousarray(pixels), quality=quality, **options)
        decoded = nc.decode(data)
        (FOLDER / name).write_bytes(data)
        header = nc.read_header(data)
        features = registry.spec(codec_name).kind == "features"
        if features:  # class probabilities, float32: the reference is the array itself
            reference = name.replace(".ncb", ".decoded.npy")
            np.save(FOLDER / reference, decoded, allow_pickle=False)
        else:
            reference = name.replace(".ncb", ".decoded.png")
            Image.fromarray(decoded.reshape(-1, *decoded.shape[-2:])).save(FOLDER / reference)  # video: frames stacked vertically
        entry = {
            "file": name,
            "format_version": version,
            "codec": header.codec,
            "weights_fingerprint": header.fingerprint.hex(),
            "width": header.width,
            "height": header.height,
            "frames": header.frames,
            "config": header.config,
            "sha256_decoded_latents": latent_digest(codec, data),
        }
        digest = hashlib.sha256(np.ascontiguousarray(decoded).tobytes()).hexdigest()
        entry.update({"sha256_decoded_output": digest, "reference_npy": reference} if features else
                     {"sha256_decoded_pixels": digest, "reference_png": reference})
        manifest["streams"] = [s for s in manifest["streams"] if s["file"] != name] + [entry]
        print(f"{name}: {len(data)} bytes")
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
