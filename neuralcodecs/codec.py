"""The codec contract: what every family (image or video, amortized or overfitted) offers.

A codec is what :func:`neuralcodecs.registry.load` returns.  ``cli``, ``evaluate``,
``ratecontrol``, ``demo``, ``train`` and ``adapter`` use codecs only through this contract
and through the registry entry (:class:`neuralcodecs.registry.CodecSpec`), never by name.

* :class:`QualitySpec` -- the accepted qualities (a continuous range with a step, or a
  ladder of discrete values), the default, and the sweep a rate-distortion run uses.
  Higher quality always means more bits.
* :class:`CodecOption` -- a codec-specific encode option (effort, model size, intra
  period...), declared so that the command line exposes it without naming codecs.
* :class:`Latents` -- the entropy-decoded latents of a file, their grid and the bits spent
  per position, obtained without running the synthesis transform.
* :class:`Objective` -- what the shared training loop needs from a trainable codec.
* :class:`Codec` -- the interface itself: ``encode``, ``decode``, ``latents``.

This module imports neither torch nor numpy at import time: the registry and the light
commands (``ncodec list``, ``ncodec info``) read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import CodecArgumentError

IMAGE, VIDEO = "image", "video"
#: a codec that takes an image and whose decode gives a task's output (class probabilities) or
#: features, never pixels: supervised codecs such as ``student``
FEATURES = "features"
KINDS = (IMAGE, VIDEO, FEATURES)
#: the kinds whose codecs take an image (and write image streams)
IMAGE_INPUT_KINDS = (IMAGE, FEATURES)
#: the weights are a file shipped in the package, named in every stream by its fingerprint
WEIGHTS_SHIPPED = "shipped"
#: the weights travel inside the stream (overfitted codecs: NeRV, Cool-chic...)
WEIGHTS_IN_STREAM = "stream"
WEIGHTS_POLICIES = (WEIGHTS_SHIPPED, WEIGHTS_IN_STREAM)


def range_grid(low: float, high: float, step: float) -> list[float]:
    """``low, low + step, ..., high`` (the last value clamped to ``high``), ascending."""
    count = int(round((high - low) / step))
    return [min(high, round(low + i * step, 9)) for i in range(count + 1)]


@dataclass(frozen=True)
class QualitySpec:
    """Accepted qualities of a codec.

    Attributes:
        low, high: the accepted range (``ladder`` values when a ladder is given).
        default: quality used when none is given.
        step: smallest increment that changes the stream (rate control searches on it);
            ``1 / 256`` for continuously variable codecs.
        sweep: the rate points of a rate-distortion evaluation.
        ladder: the only accepted values, ascending, for codecs with discrete rate points
            (a k-means codebook ladder, model sizes); ``None`` for a range.
        unit: what the number means, for help texts (``"level"``, ``"codebook size"``).
    """

    low: float
    high: float
    default: float
    step: float
    sweep: tuple[float, ...]
    ladder: tuple[float, ...] | None = None
    unit: str = "level"

    def __post_init__(self):
        if not (self.low <= self.default <= self.high) or self.step <= 0:
            raise ValueError(f"inconsistent quality spec {self}")
        if self.ladder is not None and list(self.ladder) != sorted(set(self.ladder)):
            raise ValueError("a quality ladder must be strictly ascending")

    @classmethod
    def from_ladder(cls, values, default: float, unit: str = "level") -> "QualitySpec":
        values = tuple(float(v) for v in values)
        return cls(values[0], values[-1], float(default), 1.0, values, values, unit)

    def check(self, quality: Any) -> float:
        """The quality as a float; :class:`CodecArgumentError` unless it is accepted."""
        if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not math.isfinite(quality):
            raise CodecArgumentError(f"quality must be a number, got {quality!r}")
        quality = float(quality)
        if self.ladder is not None:
            if quality not in self.ladder:
                raise CodecArgumentError(
                    f"quality must be one of {', '.join(f'{v:g}' for v in self.ladder)} ({self.unit}), got {quality:g}"
                )
        elif not self.low <= quality <= self.high:
            raise CodecArgumentError(f"quality must lie in [{self.low:g}, {self.high:g}], got {quality:g}")
        return quality

    def grid(self) -> list[float]:
        """Every quality rate control may try, ascending (the ladder, or the range by ``step``)."""
        if self.ladder is not None:
            return list(self.ladder)
        return range_grid(self.low, self.high, self.step)

    def describe(self) -> str:
        if self.ladder is not None:
            return f"one of {', '.join(f'{v:g}' for v in self.ladder)} ({self.unit}), default {self.default:g}"
        fractional = ", fractional ok" if self.step < 1 else ""
        return f"{self.low:g}..{self.high:g}{fractional}, default {self.default:g}"


@dataclass(frozen=True)
class CodecOption:
    """A codec-specific encode option, exposed on the command line as ``--NAME``.

    Attributes:
        name: keyword of ``Codec.encode`` (``effort``); the flag is ``--effort``.
        type: ``int``, ``float`` or ``str``.
        default: value when the option is not given.
        help: one line for ``--help``.
        choices: accepted values, if a closed set.
        minimum, maximum: accepted range for numbers.
        costs: what each choice costs, ``((choice, amount, unit), ...)`` such as
            ``(("fast", 1000, "fitting steps"), ...)``, for levels of work (effort); ``ncodec list``
            shows them beside the measured time.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    costs: tuple[tuple[str, float, str], ...] = ()

    def __post_init__(self):
        if self.costs and (self.choices is None or [c[0] for c in self.costs] != list(self.choices)):
            raise ValueError(f"option {self.name}: costs must name every choice, in order")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """The value converted to ``type``; :class:`CodecArgumentError` if it is not accepted."""
        try:
            converted = self.type(value)
        except (TypeError, ValueError):
            raise CodecArgumentError(f"{self.flag} must be {self.type.__name__}, got {value!r}") from None
        if isinstance(converted, float) and not math.isfinite(converted):
            raise CodecArgumentError(f"{self.flag} must be finite, got {value!r}")
        if self.choices is not None and converted not in self.choices:
            raise CodecArgumentError(f"{self.flag} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.minimum is not None and converted < self.minimum:
            raise CodecArgumentError(f"{self.flag} must be at least {self.minimum:g}, got {value!r}")
        if self.maximum is not None and converted > self.maximum:
            raise CodecArgumentError(f"{self.flag} must be at most {self.maximum:g}, got {value!r}")
        return converted


def refinement_effort(steps: dict[str, int], help: str, unit: str = "latent-refinement steps") -> CodecOption:
    """The ``effort`` option of a trained codec whose encoder refines its latents per image:
    ``steps`` maps each level (``fast`` first, 0 steps: the analysis output) to its amount of
    work in ``unit`` (:func:`neuralcodecs.fitting.refine` steps, or search rounds)."""
    return CodecOption("effort", str, "fast", help, choices=tuple(steps),
                       costs=tuple((effort, n, unit) for effort, n in steps.items()))


@dataclass
class Latents:
    """Entropy-decoded latents of one file, for downstream models (no synthesis run).

    Attributes:
        tensor: float32 ``[C, h, w]`` (image) or ``[T, C, h, w]`` (video): the latents in the
            units the codec's synthesis transform consumes (dequantized, gains undone).
        stride: ``(sy, sx)`` pixels per latent position; position ``(i, j)`` covers pixels
            ``[i*sy, (i+1)*sy) x [j*sx, (j+1)*sx)`` of the padded picture.
        height, width: the true picture size in pixels (the grid may cover padding).
        bits: float32 ``[h, w]`` or ``[T, h, w]``: bits the file spends per position (all
            channels, side information spread evenly over the positions it serves), or
            ``None`` where the codec cannot attribute its bits.
        codec: registry name of the codec that made the file.
        quality: the file's quality, if the codec has one.
        side: codec-specific extra tensors (hyper-latents, codebook indices...).
    """

    tensor: Any
    stride: tuple[int, int]
    height: int
    width: int
    bits: Any = None
    codec: str = ""
    quality: float | None = None
    side: dict = field(default_factory=dict)

    @property
    def grid(self) -> tuple[int, int]:
        """``(h, w)``: latent positions per frame."""
        return tuple(self.tensor.shape[-2:])

    @property
    def picture_grid(self) -> tuple[int, int]:
        """``(ceil(height / sy), ceil(width / sx))``: the positions that cover the picture itself."""
        return -(-self.height // self.stride[0]), -(-self.width // self.stride[1])

    def picture_tensor(self):
        """``tensor`` without the positions that cover only padding (``[..., :h, :w]`` of :attr:`picture_grid`)."""
        h, w = self.picture_grid
        return self.tensor[..., :h, :w]

    @property
    def frames(self) -> int:
        return 1 if self.tensor.dim() == 3 else int(self.tensor.shape[0])


@dataclass
class Objective:
    """What the shared training loop (:mod:`neuralcodecs.train`) calls.

    Attributes:
        build: ``build(**model_args) -> nn.Module``: a fresh trainable model.
        data: the training data kind: ``"image_crops"`` (random crops of image folders);
            video families add ``"latent_pairs"`` (built by ``make_data``), ``"frame_pairs"``
            and ``"clips"``.
        loss: ``loss(model, batch) -> {"loss", "bpp", "mse"}`` (scalars; ``loss`` is
            minimized) for a batch ``(B, 3, crop, crop)`` of the data kind.
        aux_loss: ``aux_loss(model) -> scalar`` optimized separately (CompressAI's
            entropy-bottleneck quantiles), or ``None``.
        is_aux_parameter: which named parameters the auxiliary optimizer owns.
        export: ``export(checkpoint, out_path, calibration_dirs) -> report`` that freezes a
            checkpoint into a shipped weights file, or ``None``.
        validate: ``validate(model, batch) -> {"loss", "bpp", "psnr"}``: the rate-distortion
            loss with real rounding (no noise), averaged over the codec's rate points, and the
            per-rate-point lists of estimated bpp and PSNR (dB); ``None`` if not offered.
            ``benchmarks/training_curve.py`` plots it against CPU time.
    """

    build: Callable
    data: str
    loss: Callable
    aux_loss: Callable | None = None
    is_aux_parameter: Callable[[str], bool] = lambda name: False
    export: Callable | None = None
    validate: Callable | None = None
    make_data: Callable | None = None  # make_data(train_config, seed) -> sampler with .batch(n), for data kinds the loop does not build


class Codec:
    """The interface of every codec the registry hands out.

    Subclasses set ``name``, ``kind``, ``quality`` (a :class:`QualitySpec`), ``options``
    and ``weights_policy``, and implement :meth:`encode`, :meth:`decode_parsed`,
    :meth:`decode_estimate` and, where they have them, :meth:`latents_parsed`,
    :meth:`symbol_arrays`, :meth:`index_grid` and :meth:`decode_restored`.  Everything a
    caller (the CLI, evaluation, the adapter, benchmarks, tests) uses is declared here; what a
    codec does not offer raises :class:`CodecArgumentError` saying so.  Image codecs derive from
    :class:`neuralcodecs.image.base.ImageCodec`, which does input rules and the container.

    ``budget`` arguments are :class:`neuralcodecs.budget.Budget` (``None``: the defaults);
    ``progress`` shows a progress bar on stderr for work that takes long (fitting, video).
    """

    name: str = ""
    kind: str = IMAGE
    quality: QualitySpec
    options: tuple[CodecOption, ...] = ()
    weights_policy: str = WEIGHTS_SHIPPED
    fingerprint: bytes = bytes(16)
    #: fingerprints of earlier decoder revisions this codec still decodes (it writes ``fingerprint``)
    readable_fingerprints: tuple[bytes, ...] = ()

    # ------------------------------------------------------------------ encoding
    def encode(self, media, quality: float | None = None, progress: bool = False, **options) -> bytes:
        """Encode an image (``HxWx3``) or a video (``TxHxWx3``) into a complete ``.ncb`` file."""
        raise NotImplementedError

    # ------------------------------------------------------------------ decoding
    def decode(self, data: bytes, frames=None, budget=None, progress: bool = False):
        """Decode a file made by this codec: uint8 ``HxWx3`` or ``TxHxWx3``; a ``features`` codec
        gives its task's output instead (float32 ``(1000,)`` class probabilities for ``student``).

        ``frames`` (video): which frames to return (:func:`neuralcodecs.frame_selection.wanted_frames`).
        """
        from .bitstream import unpack

        header, sections = unpack(data)
        return self.decode_parsed(header, sections, frames=frames, budget=budget, progress=progress)

    def decode_parsed(self, header, sections, frames=None, budget=None, progress: bool = False):
        """:meth:`decode` of an already unpacked file (:func:`neuralcodecs.bitstream.unpack`).
        Checks the stream and the budget (:meth:`decode_estimate`) before any decoding work."""
        raise NotImplementedError

    def decode_estimate(self, header, sections, frames=None):
        """:class:`neuralcodecs.budget.DecodeEstimate` of decoding ``frames`` (default: all) of a
        stream whose header and sections were checked, from the header (and, for overfitted
        codecs, the architecture it carries) alone: nothing is decoded or built."""
        raise NotImplementedError

    def latents(self, data: bytes) -> Latents:
        """The file's entropy-decoded latents (:class:`Latents`), without synthesis."""
        from .bitstream import unpack

        header, sections = unpack(data)
        return self.latents_parsed(header, sections)

    def latents_parsed(self, header, sections) -> Latents:
        raise CodecArgumentError(f"codec {self.name!r} has no latents to read without decoding")

    # ------------------------------------------------------------------ features codecs
    def features(self, data: bytes, budget=None) -> dict:
        """A ``features`` codec's decoded outputs by name (float32 arrays: the task's output and
        the activations behind it); other codecs decode to pixels and refuse."""
        from .bitstream import unpack

        header, sections = unpack(data)
        return self.features_parsed(header, sections, budget)

    def features_parsed(self, header, sections, budget=None) -> dict:
        raise CodecArgumentError(f"codec {self.name!r} decodes to pixels; it has no features to write")

    def output_labels(self) -> list[str]:
        """Names of the entries of a ``features`` codec's :meth:`decode` output (class names)."""
        raise CodecArgumentError(f"codec {self.name!r} decodes to pixels, not to labelled outputs")

    def symbol_arrays(self, header, sections) -> list:
        """The entropy-decoded integer symbols of a stream, in section order, as numpy arrays
        (conformance digests, device-consistency checks)."""
        raise CodecArgumentError(f"codec {self.name!r} does not expose its entropy-decoded symbols")

    # ------------------------------------------------------------------ codebook codecs
    def index_grid(self, header) -> tuple[int, int] | None:
        """``(h, w)`` of the index map a codebook codec codes for ``header``'s picture; ``None``
        for codecs without one."""
        return None

    def decode_restored(self, header, sections, lost, method: str = "transformer", budget=None):
        """Decode as if the indices marked in ``lost`` (bool ``(h, w)``, :meth:`index_grid`) had
        not arrived, restoring them first (codebook codecs)."""
        raise CodecArgumentError(f"codec {self.name!r} codes no index maps: it cannot restore lost indices")

    # ------------------------------------------------------------------ checks
    def check_identity(self, header, mismatch: str) -> None:
        """``bitstreams/FORMAT.md`` checks 14-16: the stream names this codec
        (:class:`UnknownCodecError`), keeps its kind's stream rules (image or video,
        :class:`HeaderFieldError`) and was made with this codec's weights or decoder revision
        (:class:`WeightsMismatchError` with ``mismatch`` as its message)."""
        from .bitstream import check_image_stream, check_video_stream
        from .errors import UnknownCodecError, WeightsMismatchError

        if header.codec != self.name:
            raise UnknownCodecError(f"file was made by codec {header.codec!r}, not {self.name!r}")
        (check_image_stream if self.kind in IMAGE_INPUT_KINDS else check_video_stream)(header)
        if header.fingerprint != self.fingerprint and header.fingerprint not in self.readable_fingerprints:
            raise WeightsMismatchError(mismatch)

    # ------------------------------------------------------------------ options
    def check_options(self, options: dict) -> dict:
        """Options for :meth:`encode`, checked against the declared ones (defaults filled in)."""
        declared = {o.name: o for o in self.options}
        unknown = sorted(set(options) - set(declared))
        if unknown:
            have = ", ".join(o.flag for o in self.options) or "none"
            raise CodecArgumentError(f"codec {self.name!r} has no option {', '.join(unknown)} (its options: {have})")
        return {name: o.check(options[name]) if name in options else o.default for name, o in declared.items()}


def named_configuration(configs: dict[str, dict], codec: str, config: str, overrides: dict) -> dict:
    """Model arguments of ``codec``'s named ``config`` (one of ``configs``) with ``overrides`` applied."""
    if config not in configs:
        raise ValueError(f"unknown {codec} configuration {config!r}; choose from {', '.join(configs)}")
    return {**configs[config], **overrides}
