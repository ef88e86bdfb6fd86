"""``ncodec demo``: a tour of the library on the bundled photo, in about two minutes on a 2-core CPU.

* ``ncodec demo``: a crop of the photo through every ready image codec at its fastest effort and
  through JPEG, WebP and AVIF, all at about one file size (:mod:`.image_tour`); prints the table
  best PSNR first and says who wins; writes every file, a side-by-side PNG of enlarged crops and a
  rate-distortion plot.
* ``ncodec demo --video``: a short camera move over the photo through ``stem``, an implicit codec
  (``nerv``) and x264 at one file size (:mod:`.video_tour`); a table and a PNG of frames.
* ``ncodec demo --tokens``: the photo's file turned into visual tokens under a budget by a few
  strategies, what each kept drawn over the picture (:mod:`.tokens_tour`).

Outputs go into a new ``./ncodec-demo`` folder (``-1``, ``-2``... when taken) or ``--out``; an
existing output is kept unless ``--force``; everything is written at the end, atomically, and
nothing is left behind on failure (:mod:`.outputs`).
"""

from __future__ import annotations

from ..errors import CodecArgumentError
from .media import CROP, PHOTO

MODES = ("image", "video", "tokens")


def run_demo(out_dir: str | None = None, force: bool = False, device: str = "cpu", mode: str = "image",
             codecs: list[str] | None = None, log=print) -> int:
    """Run one tour; returns the process exit code.

    Args:
        out_dir: output folder (default: a new ``./ncodec-demo``).
        force: overwrite outputs of an earlier run in ``out_dir``.
        mode: ``"image"``, ``"video"`` or ``"tokens"``.
        codecs: the codecs to tour (default: every ready image codec; ``stem`` and ``nerv`` for
            video; the default image codec for tokens).
        log: where progress lines and tables go.
    """
    if mode not in MODES:
        raise CodecArgumentError(f"demo mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "video":
        from .video_tour import run

        return run(out_dir, force, device, codecs, log)
    if mode == "tokens":
        from .tokens_tour import run

        return run(out_dir, force, device, codecs, log)
    return _run_image(out_dir, force, device, codecs, log)


def _run_image(out_dir, force, device, codecs, log) -> int:
    from ..codec import IMAGE
    from . import image_tour
    from .common import ready_codecs
    from .media import photo_crop
    from .outputs import output_folder, write_outputs

    names = ready_codecs(IMAGE, codecs)
    if not names:
        raise CodecArgumentError("no image codec with weights is installed")
    folder = output_folder(out_dir, image_tour.output_names(names), force)
    crop = photo_crop()
    log(f"ncodec demo: a {crop.shape[1]}x{crop.shape[0]} crop of {PHOTO.name} through {len(names)} neuralcodecs codecs "
        f"({', '.join(names)}) and {', '.join(image_tour.ANCHOR_LABELS[a] for a in image_tour.available_anchors())} "
        f"at one file size")
    tour = image_tour.run_image_tour(crop, names, device, log)
    files = image_tour.tour_files(tour)
    write_outputs(folder, files, force)
    log("")
    log(f"target {tour.target_bytes} bytes ({tour.target_bpp:.3f} bpp): {tour.target_source}")
    log(image_tour.table(tour))
    log("")
    for line in image_tour.verdict(tour):
        log(line)
    log("")
    log(f"wrote {folder}/: side_by_side.png (enlarged crops), rd.png (rate-distortion), results.json, original.png "
        f"and every file ({', '.join(r.filename for r in tour.rows)}); {tour.seconds:.0f} s")
    return 0


__all__ = ["PHOTO", "CROP", "MODES", "run_demo"]
