"""Video media: reading and writing clips (:mod:`.io`: y4m, raw .yuv, mp4/mkv through PyAV, frame
folders), what video codecs accept as frames (:mod:`.frames`), training clips
(:mod:`.training_data`) and the classical video anchors x264, x265 and SVT-AV1 (:mod:`.anchors`).

:mod:`.io` is the entry point; it delegates to :mod:`.clip` (the :class:`~.clip.Video` type),
:mod:`.colour` (the colour rule, conversions, PSNR), :mod:`.yuvfiles` (y4m and raw .yuv) and
:mod:`.pyav` (everything PyAV).  This package knows no codec: the video codecs live in
:mod:`neuralcodecs.stem` and :mod:`neuralcodecs.inr`, the video evaluation in
:mod:`neuralcodecs.evaluation.video`.

Nothing heavy is imported here; import the sub-modules you need.
"""
