"""What ``ncodec list`` says of each codec, read at run time and without torch.

Per codec: kind, whether it is ready, quality range or ladder, options with the cost of each
effort level (declared: :attr:`~neuralcodecs.codec.CodecOption.costs`; measured: the time it
took), where the weights come from (the shipped weights' sidecar JSON: data, steps, hours,
device; or "fitted to each input, carried in the file") and the headline measured result.

Measured numbers come from ``neuralcodecs/assets/measured.json``, a small summary that
``python benchmarks/measured_summary.py`` makes from ``benchmarks/results/``: the results
folder is not part of an installed package, and a summary shipped beside the weights keeps
``ncodec list`` the same in a checkout and in a wheel (and fast: no curve is read, no BD-rate
computed).  A test keeps the summary equal to what the results files give.  Where the summary
or a codec's entry is missing, the codec is "not measured in this installation"; where the
measurement recorded the fingerprint of other weights than the installed ones, it says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import paths, registry

#: the summary of benchmarks/results/ shipped in the package
MEASURED_FILE = "measured.json"
NOT_MEASURED = "not measured in this installation"


def measured_path() -> Path:
    return paths.ASSETS_DIR / MEASURED_FILE


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_measured() -> dict | None:
    """The shipped summary's ``codecs`` table, or ``None`` when it is missing or unreadable."""
    data = _read_json(measured_path())
    codecs = data.get("codecs") if data else None
    return codecs if isinstance(codecs, dict) else None


def read_sidecar(entry) -> dict | None:
    """The sidecar JSON of a codec's shipped weights (``weights/NAME.json``), or ``None``."""
    if entry.weights is None:
        return None
    return _read_json(entry.weights_path.with_suffix(".json"))


# --------------------------------------------------------------------------- weights


def weights_provenance(entry) -> dict:
    """Where a codec's weights come from: ``{"policy", "text", ...}``; for shipped weights the
    file, whether it is present, its fingerprint, the training data, steps, hours and device as
    the sidecar records them (``None`` where it does not)."""
    if entry.weights is None:
        kind = "clip" if entry.kind == "video" else "image"
        return {"policy": entry.weights_policy, "text": f"fitted to each {kind} at encode time; they travel in the file"}
    out = {"policy": entry.weights_policy, "file": entry.weights, "present": entry.weights_path.exists()}
    side = read_sidecar(entry)
    if side is None:
        out["text"] = f"{entry.weights}{'' if out['present'] else ' (not installed)'}: no sidecar JSON, provenance unknown"
        return out
    training = side.get("training") or {}
    unit = "frames" if entry.kind == "video" else "images"
    data = [{"folder": Path(d.get("folder", "?")).name, unit: d.get("images")} for d in training.get("data", [])]
    stages = [{"stage": s.get("stage"), "steps": s.get("last_log_step"), "minutes": s.get("train_minutes")}
              for s in side.get("stages", [])]
    if stages and all(s["minutes"] is not None for s in stages):
        steps = sum(s["steps"] or 0 for s in stages)
        hours = round(sum(s["minutes"] for s in stages) / 60, 3)
    else:
        steps = training.get("total_steps", training.get("steps"))
        hours = training.get("total_hours", training.get("hours"))
    out.update({"fingerprint": side.get("fingerprint"), "data": data, "steps": steps, "hours": hours,
                "device": training.get("device")})
    if stages:
        out["stages"] = stages
    if side.get("image_codec"):
        out["builds_on"] = side["image_codec"]
    out["text"] = _weights_text(out, unit)
    return out


def _weights_text(w: dict, unit: str) -> str:
    head = f"{w['file']} {(w['fingerprint'] or '')[:8]}".rstrip() + ("" if w["present"] else " (not installed)")
    how = [f"{w['steps']:,} steps" if w["steps"] is not None else "steps not recorded"]
    if w["hours"] is not None:
        where = "the CPU" if w["device"] == "cpu" else (w["device"] or "an unrecorded device")
        how.append(f"{w['hours']:.2f} h on {where}")
    else:
        how.append("training time not recorded")
    if w.get("stages"):
        how.append("in " + ", ".join(f"{s['stage']} {s['minutes']:.0f} min" for s in w["stages"]))
    data = " + ".join(f"{d['folder']} ({d[unit]} {unit})" if d.get(unit) is not None else d["folder"] for d in w["data"])
    text = f"{head}: {', '.join(how)}" + (f", trained on {data}" if data else "")
    if w.get("builds_on"):
        b = w["builds_on"]
        text += f"; on the frozen transforms of {b.get('name')} {str(b.get('fingerprint', ''))[:8]}".rstrip()
    return text


# --------------------------------------------------------------------------- measured


def measured_result(entry, measured: dict | None, installed_fingerprint: str | None) -> dict:
    """The headline result of a codec from the shipped summary, ``{"text", ...}``."""
    if measured is None or "result" not in measured.get(entry.name, {}):
        return {"text": NOT_MEASURED}
    result = dict(measured[entry.name]["result"])
    when = ", ".join(v for v in (result.get("date"), result.get("source")) if v)
    text = f"{result.get('text', '')} [{when}]" if when else result.get("text", "")
    measured_with = result.get("weights_fingerprint")
    if measured_with and installed_fingerprint and measured_with != installed_fingerprint:
        result["other_weights"] = True
        text += f" -- measured with other weights ({measured_with[:8]}), not the installed ones"
    result["text"] = text
    return result


def _option(option, measured_effort: dict) -> dict:
    out = {"name": option.name, "flag": option.flag, "type": option.type.__name__, "default": option.default,
           "help": option.help, "choices": list(option.choices) if option.choices else None}
    if option.minimum is not None or option.maximum is not None:
        out["range"] = [option.minimum, option.maximum]
    if option.costs:
        out["levels"] = [
            {"level": level, "amount": amount, "unit": unit, "default": level == option.default,
             "measured": measured_effort.get(level)}
            for level, amount, unit in option.costs
        ]
    return out


# --------------------------------------------------------------------------- entries


def describe(name: str, measured: dict | None = None) -> dict:
    """Everything ``ncodec list --json`` says of codec ``name`` (``measured``: the summary's table,
    read once for all codecs by :func:`describe_all`)."""
    entry = registry.spec(name)
    q = entry.quality
    weights = weights_provenance(entry)
    effort = (measured or {}).get(name, {}).get("effort", {})
    return {
        "name": name,
        "kind": entry.kind,
        "ready": entry.ready,
        "description": entry.description,
        "quality": {"low": q.low, "high": q.high, "default": q.default, "step": q.step,
                    "ladder": list(q.ladder) if q.ladder is not None else None, "unit": q.unit,
                    "sweep": list(q.sweep), "text": q.describe()},
        "options": [_option(o, effort if o.name == "effort" else {}) for o in entry.options],
        "weights": weights,
        "measured": measured_result(entry, measured, weights.get("fingerprint")),
    }


def describe_all() -> dict:
    """``{"codecs": [describe(name) ...], "anchors": [...], "measurements": path or None}``."""
    from .anchors import ANCHORS

    measured = read_measured()
    return {
        "codecs": [describe(name, measured) for name in registry.names()],
        "anchors": [{"name": name, "description": a.description} for name, a in ANCHORS.items()],
        "measurements": str(measured_path()) if measured is not None else None,
    }


def format_text(catalog: dict) -> str:
    """The ``ncodec list`` text: a block per codec, then the anchors."""
    lines = []
    for c in catalog["codecs"]:
        ready = "ready" if c["ready"] else "no weights shipped"
        lines.append(f"{c['name']:11s} {c['kind']:5s}  {ready}  {c['description']}")
        lines.append(f"  {'quality':9s} {c['quality']['text']}")
        for o in c["options"]:
            lines.append(f"  {o['flag']:9s} {o['help']}")
            for level in o.get("levels", []):
                cost = f"{level['amount']:g} {level['unit']}"
                seen = level["measured"]["text"] if level["measured"] else "time not measured"
                default = " (default)" if level["default"] else ""
                lines.append(f"  {'':9s}   {level['level']}{default}: {cost}; {seen}")
        lines.append(f"  {'weights':9s} {c['weights']['text']}")
        lines.append(f"  {'measured':9s} {c['measured']['text']}")
    lines.append("anchors (eval/plot): " + ", ".join(a["name"] for a in catalog["anchors"]))
    if catalog["measurements"] is None:
        lines.append(f"measured results: {NOT_MEASURED} (no {MEASURED_FILE} in the package)")
    return "\n".join(lines)
