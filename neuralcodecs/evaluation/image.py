"""Image evaluation (``ncodec eval --dataset``): learned codecs and classical anchors, side by side, on an image folder.

For every image, codec and quality: the real file's bytes (bpp counts the complete file,
header included), PSNR-RGB, PSNR-Y and PSNR-YUV (BT.601 full-range YCbCr, 6:1:1 weights, as
video coding reports), MS-SSIM, encode and decode seconds.  Contenders are the registry's
image codecs (their ``QualitySpec.sweep`` unless qualities are given) and the classical
anchors; a video codec is refused here: ``ncodec eval --video SOURCE`` evaluates video codecs
and the video anchors on clips (:mod:`neuralcodecs.evaluation.video`, same schema).
Curves are averages over images (as CompressAI does: mean of per-image bpp and per-image
PSNR) in CompressAI's results schema, plus per-image values and a ``meta`` block (machine,
versions, date, dataset and the checksum of its files, device, the metrics measured); a learned
codec's curve also names the fingerprint of the weights measured (``weights_fingerprint``).
``metrics=("psnr",)`` (``--metrics psnr``) skips MS-SSIM, the costliest measurement of a point.

With ``partial`` (``ncodec eval`` passes ``rd.json.partial.jsonl``) every point is written as
soon as it is measured (:class:`~neuralcodecs.evaluation.common.PartialResults`); a rerun with
the same arguments reads them back and measures only the rest.  A codec is named or given
loaded (:func:`neuralcodecs.load_codec`).

``--task classify`` adds machine-perception quality: a fixed classifier runs on every
decoded image and on the original; each point reports top-1 accuracy against the labels
and agreement with the prediction on the uncompressed image.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..anchors import ANCHORS
from ..codec import FEATURES, IMAGE, IMAGE_INPUT_KINDS, Codec
from ..data import IMAGE_SUFFIXES
from ..errors import CodecArgumentError
from ..metrics import ms_ssim, psnr, psnr_ycbcr
from .common import DEFAULT_METRICS, PartialResults, codec_entries, entry_name, machine_meta, parse_metrics, resumed_note


# --------------------------------------------------------------------------- contenders


@dataclass
class Contender:
    """One codec in an evaluation: how to encode, decode and which qualities to sweep."""

    name: str
    description: str
    qualities: list[float]
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    device: str = "cpu"
    latents: Callable | None = None  # bytes -> Latents (learned codecs)
    fingerprint: bytes | None = None  # of the learned codec's weights
    kind: str = IMAGE  # FEATURES: decode gives class probabilities (a supervised codec), not pixels


def build_contender(name: str | Codec, qualities: list[float] | None, device: str = "cpu") -> Contender:
    """A learned codec (a registry name, or a codec already loaded: it runs where it was loaded) or a
    classical anchor."""
    from .. import registry

    if isinstance(name, Codec):
        codec, name = name, name.name
        if codec.kind not in IMAGE_INPUT_KINDS:
            raise CodecArgumentError(f"{name!r} is a {codec.kind} codec; image folders evaluate image codecs "
                                     "(ncodec eval --video SOURCE evaluates video codecs)")
        description = registry.spec(name).description if name in registry.names() else type(codec).__name__
    elif name in ANCHORS:
        a = ANCHORS[name]
        return Contender(name, a.description, list(qualities or a.sweep), a.encode, a.decode, "cpu")
    else:
        spec = registry.spec(name)
        if spec.kind not in IMAGE_INPUT_KINDS:
            raise CodecArgumentError(f"{name!r} is a {spec.kind} codec; image folders evaluate image codecs "
                                     "(ncodec eval --video SOURCE evaluates video codecs)")
        codec, description = registry.load(name, device=device), spec.description
    for q in qualities or []:
        codec.quality.check(q)
    return Contender(
        name,
        f"neuralcodecs {name}: {description}",
        list(qualities or codec.quality.sweep),
        lambda pixels, q: codec.encode(pixels, quality=q),
        codec.decode,
        device,
        codec.latents,
        codec.fingerprint,
        codec.kind,
    )


def default_codec_args() -> list[str]:
    """Every registered codec with shipped weights, then every anchor (overfitted codecs, which fit a
    network to every image, only when asked for)."""
    from .. import registry

    learned = [n for n in registry.names(IMAGE) if registry.spec(n).ready and not registry.spec(n).capabilities.get("overfitted")]
    return learned + list(ANCHORS)


# --------------------------------------------------------------------------- dataset


def list_dataset(folder: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The images under ``folder`` in sorted order; with ``limit``, that many evenly spaced
    ones (so a class-per-folder dataset keeps every class)."""
    root = Path(folder)
    if not root.is_dir():
        raise CodecArgumentError(f"dataset folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CodecArgumentError(f"no images in {root}")
    if limit and limit < len(files):
        files = [files[i * len(files) // limit] for i in range(limit)]
    return files


def dataset_checksum(files: list[Path], root: Path) -> str:
    """SHA-256 over the sorted (relative path, content SHA-256) list."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\t")
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


# --------------------------------------------------------------------------- per-image work

_WORKER: dict = {}


def _init_worker(codec_args: list[tuple[str, list[float] | None]], device: str, threads: int, classifier_factory,
                 point_classifier_paths=(), pixel_domain=True, metrics=DEFAULT_METRICS):
    import torch

    if threads:
        torch.set_num_threads(threads)
    _WORKER["contenders"] = [build_contender(n, q, device) for n, q in codec_args]
    _WORKER["classifier"] = classifier_factory() if classifier_factory else None
    _WORKER["point_classifiers"] = load_point_classifiers(point_classifier_paths)
    _WORKER["pixel_domain"] = pixel_domain
    _WORKER["metrics"] = metrics


def load_point_classifiers(paths, contenders: list[Contender] | None = None) -> dict[tuple[str, str, float], Callable]:
    """``{(domain, codec, quality): classifier}`` of point-classifier weights files.

    ``domain`` is ``latent`` (:class:`~neuralcodecs.downstream.train_latent.LatentClassifier`,
    reads the file's latents) or ``pixel`` (:class:`~neuralcodecs.downstream.train_latent.TunedPixelClassifier`,
    fine-tuned on that point's decoded pixels).  With ``contenders``, every classifier must serve
    one of their points and have been trained on files of the same codec weights:
    :class:`CodecArgumentError` otherwise.
    """
    from ..downstream.train_latent import load_point_classifier

    found = {}
    for path in paths:
        classifier = load_point_classifier(path)
        key = (classifier.domain, classifier.codec, float(classifier.meta["quality"]))
        if contenders is not None:
            match = next((c for c in contenders if c.name == key[1] and key[2] in c.qualities), None)
            if match is None:
                raise CodecArgumentError(f"{key[0]} classifier {path} is for {key[1]} quality {key[2]:g}, which this evaluation does not run")
            if classifier.meta.get("codec_fingerprint") != (match.fingerprint.hex() if match.fingerprint is not None else ""):
                raise CodecArgumentError(f"{key[0]} classifier {path} was trained on files of other {key[1]} weights")
        if key in found:
            raise CodecArgumentError(f"two {key[0]} classifiers for {key[1]} quality {key[2]:g}")
        found[key] = classifier
    return found


def evaluate_image(path: Path, contenders: list[Contender], classifier=None, name: str | None = None,
                   point_classifiers: dict | None = None, pixel_domain: bool = True, metrics=DEFAULT_METRICS,
                   done: dict | None = None, facts: dict | None = None, on_result: Callable[[dict], None] | None = None) -> dict:
    """All points of all contenders on one image.

    Returns ``{"name": file name, "pixels": H*W, "points": {contender: [point, ...]}}`` with a
    point ``{quality, bytes, bpp, psnr-rgb, psnr-y, psnr-yuv, ms-ssim-rgb, encoding_time,
    decoding_time}`` (``ms-ssim-rgb`` only when ``metrics`` has ``ms-ssim``; plus
    ``original_prediction`` with a classifier; ``prediction`` and ``classify_time`` of the
    decoded pixels when ``pixel_domain``; ``latent_prediction`` and ``latent_time`` -- reading the
    file's latents and classifying them, no synthesis -- where ``point_classifiers`` has a latent
    classifier for the point's ``(codec, quality)``; ``tuned_prediction`` and ``tuned_time`` where it
    has a pixel classifier fine-tuned on that point's decoded pixels).

    ``done``: ``{(codec, quality): point}`` and ``facts``: ``{"original_prediction": k}`` measured
    before (an interrupted run); they are used as they are.  ``on_result(entry)`` receives every
    new result as a :class:`~neuralcodecs.evaluation.common.PartialResults` line, as it is measured.
    """
    from ..image.io import load_image

    name = name or path.name
    done, facts = done or {}, facts or {}
    emit = on_result or (lambda entry: None)
    original, _ = load_image(path)
    num_pixels = original.shape[0] * original.shape[1]
    record = {"name": name, "pixels": num_pixels, "points": {}}
    if classifier is not None:
        if "original_prediction" not in facts:
            facts = {**facts, "original_prediction": int(classifier(original))}
            emit({"item": name, "facts": {"original_prediction": facts["original_prediction"]}})
        record["original_prediction"] = facts["original_prediction"]
    for c in contenders:
        points = []
        for q in c.qualities:
            point = done.get((c.name, float(q)))
            if point is None:
                point = measure_point(original, c, q, metrics, classifier if pixel_domain else None, point_classifiers)
                emit({"item": name, "codec": c.name, "quality": q, "point": point})
            points.append(point)
        record["points"][c.name] = points
    return record


def measure_point(original: np.ndarray, c: Contender, q: float, metrics=DEFAULT_METRICS, classifier=None,
                  point_classifiers: dict | None = None) -> dict:
    """One point of :func:`evaluate_image`: code ``original`` with ``c`` at quality ``q`` and measure."""
    num_pixels = original.shape[0] * original.shape[1]
    t0 = time.perf_counter()
    data = c.encode(original, q)
    t1 = time.perf_counter()
    decoded = c.decode(data)
    t2 = time.perf_counter()
    if c.kind == FEATURES:  # the file decodes to the task's output: no pixels to measure
        return {"quality": q, "bytes": len(data), "bpp": len(data) * 8 / num_pixels, "encoding_time": t1 - t0,
                "decoding_time": t2 - t1, "task_prediction": int(np.argmax(decoded)), "task_time": t2 - t1}
    psnr_y, psnr_yuv = psnr_ycbcr(original, decoded)
    point = {
        "quality": q,
        "bytes": len(data),
        "bpp": len(data) * 8 / num_pixels,
        "psnr-rgb": psnr(original, decoded),
        "psnr-y": psnr_y,
        "psnr-yuv": psnr_yuv,
    }
    if "ms-ssim" in metrics:
        point["ms-ssim-rgb"] = ms_ssim(original, decoded)
    point["encoding_time"] = t1 - t0
    point["decoding_time"] = t2 - t1
    if classifier is not None:
        t3 = time.perf_counter()
        point["prediction"] = int(classifier(decoded))
        point["classify_time"] = time.perf_counter() - t3
    tuned = (point_classifiers or {}).get(("pixel", c.name, float(q)))
    if tuned is not None:
        t3 = time.perf_counter()
        point["tuned_prediction"] = int(tuned(decoded))
        point["tuned_time"] = time.perf_counter() - t3
    latent_classifier = (point_classifiers or {}).get(("latent", c.name, float(q)))
    if latent_classifier is not None and c.latents is not None:
        t3 = time.perf_counter()
        point["latent_prediction"] = int(latent_classifier(c.latents(data)))
        point["latent_time"] = time.perf_counter() - t3
    return point


def _evaluate_in_worker(path: Path, name: str, done: dict, facts: dict) -> tuple[dict, list[dict]]:
    """:func:`evaluate_image` in a worker process: the record and its new result lines (the parent
    writes them)."""
    lines: list[dict] = []
    record = evaluate_image(path, _WORKER["contenders"], _WORKER["classifier"], name, _WORKER["point_classifiers"],
                            _WORKER["pixel_domain"], _WORKER["metrics"], done, facts, lines.append)
    return record, lines


# --------------------------------------------------------------------------- aggregation

_METRICS = ("bpp", "psnr-rgb", "psnr-y", "psnr-yuv", "ms-ssim-rgb", "encoding_time", "decoding_time")
_PER_IMAGE = ("bytes", "bpp", "psnr-rgb", "psnr-y", "ms-ssim-rgb")


def _measured(fields: tuple[str, ...], metrics) -> tuple[str, ...]:
    return tuple(f for f in fields if f != "ms-ssim-rgb" or "ms-ssim" in metrics)


# (result prefix, point key, time key): classifying decoded pixels, with the model fine-tuned on
# the point's decoded pixels, classifying the file's latents, a features codec's own decoded output
_CLASSIFY_PATHS = (("", "prediction", "classify_time"), ("tuned_", "tuned_prediction", "tuned_time"),
                   ("latent_", "latent_prediction", "latent_time"), ("task_", "task_prediction", "task_time"))
_FEATURES_METRICS = ("bpp", "encoding_time", "decoding_time")
_FEATURES_PER_IMAGE = ("bytes", "bpp")


def aggregate(records: list[dict], contenders: list[Contender], labels: dict[str, int] | None = None,
              metrics=DEFAULT_METRICS) -> list[dict]:
    """Average per-image points into one curve per contender (CompressAI schema; ``ms-ssim-rgb``
    only when ``metrics`` has ``ms-ssim``); a learned codec's curve names its weights' fingerprint."""
    curves = []
    for c in contenders:
        if c.kind == FEATURES:
            fields, per_image_fields = _FEATURES_METRICS, _FEATURES_PER_IMAGE
        else:
            fields, per_image_fields = _measured(_METRICS, metrics), _measured(_PER_IMAGE, metrics)
        results: dict[str, list] = {m: [] for m in fields}
        results["quality"] = list(c.qualities)
        per_image = {}
        if labels is not None:
            for prefix, _, _ in _CLASSIFY_PATHS:
                for field in ("top1", "agreement", "time"):
                    results[f"{prefix}{field}"] = []
        for i in range(len(c.qualities)):
            points = [r["points"][c.name][i] for r in records]
            for m in fields:
                results[m].append(float(np.mean([p[m] for p in points])))
            if labels is not None:
                for prefix, key, time_key in _CLASSIFY_PATHS:
                    have = all(key in p for p in points)
                    mean = lambda values: float(np.mean(values)) if have else None  # noqa: E731
                    results[f"{prefix}top1"].append(mean([have and p[key] == labels[r["name"]] for p, r in zip(points, records)]))
                    results[f"{prefix}agreement"].append(mean([have and p[key] == r["original_prediction"] for p, r in zip(points, records)]))
                    results[f"{prefix}time"].append(mean([p.get(time_key, 0.0) for p in points]))
        for prefix, _, _ in _CLASSIFY_PATHS if labels is not None else ():
            if all(v is None for v in results[f"{prefix}top1"]):
                for field in ("top1", "agreement", "time"):
                    del results[f"{prefix}{field}"]
        for r in records:
            per_image[r["name"]] = {m: [p[m] for p in r["points"][c.name]] for m in per_image_fields}
        curve = {"name": c.name, "description": c.description, "results": results, "per_image": per_image}
        if c.fingerprint is not None:
            curve["weights_fingerprint"] = c.fingerprint.hex()
        curves.append(curve)
    return curves


def run_evaluation(
    dataset: str | os.PathLike,
    codec_args,
    device: str = "cpu",
    jobs: int = 1,
    limit: int | None = None,
    classifier_factory: Callable | None = None,
    labels_for: Callable[[Path], int] | None = None,
    progress: bool = True,
    point_classifier_paths: tuple = (),
    pixel_domain: bool = True,
    metrics=DEFAULT_METRICS,
    partial: str | os.PathLike | None = None,
    restart: bool = False,
    identity: dict | None = None,
) -> dict:
    """Evaluate and return the JSON-ready result (``meta`` + ``curves``).

    Args:
        dataset: folder of images (searched recursively).
        codec_args: the codecs, each a name, ``"NAME:q1,q2"``, a loaded codec
            (:func:`neuralcodecs.load_codec`; evaluated in this process, so ``jobs`` 1) or a pair
            ``(name or codec, qualities or None)``; qualities default to the codec's sweep.
        metrics: ``("psnr", "ms-ssim")`` (default) or ``("psnr",)``, or ``"psnr,ms-ssim"``.
        partial: a JSON-lines file that receives every point as it is measured; if it holds the
            points of an interrupted run with the same arguments they are read back and not
            measured again (:class:`~neuralcodecs.evaluation.common.PartialResults`); other
            arguments are refused unless ``restart``, which starts the file over.
        identity: more of what decides the numbers, compared on resuming (the command line adds
            the classifier's weights file).
        progress: a progress bar over the points, with the time left.
    """
    from tqdm import tqdm

    metrics = parse_metrics(metrics)
    root = Path(dataset)
    files = list_dataset(root, limit)
    names = {p: str(p.relative_to(root)) for p in files}
    entries = codec_entries(codec_args)
    if len({entry_name(n) for n, _ in entries}) != len(entries):
        raise CodecArgumentError("each codec may appear once; give several qualities as NAME:q1,q2")
    if jobs > 1 and any(isinstance(n, Codec) for n, _ in entries):
        raise CodecArgumentError("a loaded codec is evaluated in this process: use jobs=1, or give the codec by name "
                                 "so that each worker process loads it")
    contenders = [build_contender(n, q, device) for n, q in entries]  # validates the specs
    features = [c.name for c in contenders if c.kind == FEATURES]
    if features and labels_for is None:
        raise CodecArgumentError(f"{', '.join(features)} decode to class probabilities, not pixels: evaluate them with "
                                 "--task classify (and --class-map)")
    point_classifiers = load_point_classifiers(point_classifier_paths, contenders)  # typed errors first
    checksum = dataset_checksum(files, root)
    run = {
        "kind": "image", "dataset": str(root.resolve()), "images": len(files), "checksum": checksum,
        "codecs": [[c.name, c.qualities, c.fingerprint.hex() if c.fingerprint is not None else None] for c in contenders],
        "metrics": list(metrics), "device": str(device), "classify": classifier_factory is not None,
        "pixel_domain": pixel_domain, "point_classifiers": [str(Path(p).resolve()) for p in point_classifier_paths],
        **(identity or {}),
    }
    store = PartialResults(partial, run, restart) if partial is not None else None
    total = len(files) * sum(len(c.qualities) for c in contenders)
    with store if store is not None else contextlib.nullcontext():
        done = {names[p]: store.points(names[p]) if store else {} for p in files}
        facts = {names[p]: store.facts(names[p]) if store else {} for p in files}
        bar = tqdm(total=total, initial=sum(map(len, done.values())), desc="eval", unit="point",
                   disable=not progress, dynamic_ncols=True)
        if store is not None and store.resumed and progress:
            bar.write(f"resuming: {store.resumed} of {total} points read back from {store.path}")

        def record_result(entry: dict) -> None:
            if store is not None:
                store.add(entry)
            if "point" in entry:
                bar.set_postfix_str(f"{entry['item']} {entry['codec']} {entry['quality']:g}")
                bar.update(1)

        records: list[dict] = []
        with bar:
            if jobs <= 1:
                classifier = classifier_factory() if classifier_factory else None
                for path in files:
                    n = names[path]
                    records.append(evaluate_image(path, contenders, classifier, n, point_classifiers, pixel_domain,
                                                  metrics, done[n], facts[n], record_result))
            else:
                threads = max(1, (os.cpu_count() or 1) // jobs)
                context = multiprocessing.get_context("spawn")  # fork after torch's thread pools start is unsafe
                with ProcessPoolExecutor(
                    jobs, mp_context=context, initializer=_init_worker,
                    initargs=(entries, device, threads, classifier_factory, tuple(point_classifier_paths), pixel_domain, metrics)
                ) as pool:
                    futures = [pool.submit(_evaluate_in_worker, p, names[p], done[names[p]], facts[names[p]]) for p in files]
                    for fut in as_completed(futures):
                        record, lines = fut.result()
                        for entry in lines:
                            record_result(entry)
                        records.append(record)
                order = {names[p]: i for i, p in enumerate(files)}
                records.sort(key=lambda r: order[r["name"]])
        resumed = resumed_note(store)
    labels = {names[p]: labels_for(p) for p in files} if labels_for else None
    meta = machine_meta(device)
    meta["dataset"] = {"path": str(root), "images": len(files), "checksum": checksum}
    meta["jobs"] = jobs
    meta["metrics"] = list(metrics)
    if resumed:
        meta["resumed"] = resumed
    out = {"meta": meta, "curves": aggregate(records, contenders, labels, metrics)}
    if labels is not None:
        out["uncompressed"] = {
            "top1": float(np.mean([r["original_prediction"] == labels[r["name"]] for r in records])),
            "images": len(records),
        }
    return out
