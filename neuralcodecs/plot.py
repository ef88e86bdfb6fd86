"""``ncodec plot``: rate-distortion curves and a BD-rate table.

Reads ``ncodec eval`` JSON files (``{"meta", "curves": [...]}``) and CompressAI results
files (one curve: ``{"name", "description", "results": {"bpp", "psnr-rgb" or "psnr",
"ms-ssim-rgb" or "ms-ssim"}}``), so published curves can be overlaid.  MS-SSIM is drawn
and compared in dB, ``-10 log10(1 - MS-SSIM)``.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

from .errors import CodecArgumentError
from .metrics import bd_psnr, bd_rate

METRIC_KEYS = {"psnr": ("psnr-rgb", "psnr"), "ms-ssim": ("ms-ssim-rgb", "ms-ssim")}


def _numbers(values, key: str) -> list[float]:
    """Finite floats, or :class:`CodecArgumentError` naming the field."""
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise CodecArgumentError(f"results field {key!r} holds a value that is not a number: {values!r:.80}") from None
    if not all(math.isfinite(v) for v in out):
        raise CodecArgumentError(f"results field {key!r} holds a non-finite value")
    return out


def _quality_values(results: dict, metric: str) -> list[float] | None:
    for key in METRIC_KEYS[metric]:
        if key in results:
            values = _numbers(results[key], key)
            if metric == "ms-ssim":
                values = [-10 * math.log10(max(1e-12, 1 - v)) for v in values]
            return values
    return None


def load_curves(paths: list[str | Path], metric: str) -> list[dict]:
    """``[{"name", "description", "bpp", "quality"}]`` from eval or CompressAI JSON files."""
    curves = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CodecArgumentError(f"cannot read results file {path}: {exc}") from None
        entries = data["curves"] if isinstance(data, dict) and "curves" in data else [data]
        for entry in entries:
            try:
                results = entry["results"]
                bpp = _numbers(results["bpp"], "bpp")
            except (KeyError, TypeError, AttributeError):
                raise CodecArgumentError(f"{path}: not an eval or CompressAI results file") from None
            quality = _quality_values(results, metric)
            if quality is None:
                continue
            if len(quality) != len(bpp) or len(bpp) < 2:
                raise CodecArgumentError(f"{path}: curve {entry.get('name', '?')!r} needs as many {metric} values as bpp values, at least 2")
            name = entry.get("name", Path(path).stem)
            if any(c["name"] == name for c in curves):
                name = f"{name} ({Path(path).stem})"
            curves.append({"name": name, "description": entry.get("description", ""), "bpp": bpp, "quality": quality})
    if not curves:
        raise CodecArgumentError(f"no curve with {metric} values in {', '.join(map(str, paths))}")
    return curves


def bd_table(curves: list[dict], anchor: str, metric: str) -> str:
    """Markdown table of BD-rate (and BD-quality) of every curve against ``anchor``."""
    ref = next((c for c in curves if c["name"] == anchor), None)
    if ref is None:
        raise CodecArgumentError(f"anchor {anchor!r} is not among the curves: {', '.join(c['name'] for c in curves)}")
    unit = "dB" if metric == "psnr" else "dB (MS-SSIM)"
    lines = [
        f"| codec | BD-rate vs {anchor} ({metric}) | BD-{metric} vs {anchor} | bpp range |",
        "|---|---:|---:|---|",
    ]
    for c in curves:
        if c is ref:
            continue
        try:
            rate = f"{bd_rate(ref['bpp'], ref['quality'], c['bpp'], c['quality']):+.2f}%"
        except ValueError:
            rate = "no overlap"
        try:
            dq = f"{bd_psnr(ref['bpp'], ref['quality'], c['bpp'], c['quality']):+.3f} {unit}"
        except ValueError:
            dq = "no overlap"
        lines.append(f"| {c['name']} | {rate} | {dq} | {min(c['bpp']):.3f}-{max(c['bpp']):.3f} |")
    return "\n".join(lines)


def plot_curves(curves: list[dict], metric: str, title: str | None = None) -> bytes:
    """PNG bytes of the rate-distortion plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=120)
    markers = "osD^v<>phX*"
    for i, c in enumerate(curves):
        pts = sorted(zip(c["bpp"], c["quality"]))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[i % len(markers)], markersize=4, label=c["name"])
    ax.set_xlabel("bits per pixel (complete file)")
    ax.set_ylabel("PSNR-RGB [dB]" if metric == "psnr" else "MS-SSIM [dB]  (-10 log10(1 - MS-SSIM))")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def run_plot_cli(args) -> int:
    from .atomic import atomic_write_bytes

    from .cli_checks import check_output

    out = check_output(args.output, args.force, suffixes=(".png",))
    curves = load_curves(args.results, args.metric)
    table = bd_table(curves, args.anchor, args.metric)
    atomic_write_bytes(out, plot_curves(curves, args.metric, args.title), overwrite=args.force)
    print(table)
    print(f"\nwrote {out}")
    return 0
