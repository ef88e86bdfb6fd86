"""What the overfitted video codecs (``nerv``, ``hnerv``, ``nirvana``) share: the stream, the
encode and decode around a fitted network, random access.

Encoding fits a network to the clip (:mod:`neuralcodecs.inr.fitting`); the file holds the
network's architecture and its quantized, entropy-coded parameters
(:mod:`neuralcodecs.inr.weight_coding`), and, per family, per-frame embeddings or per-group
parameter differences.  Stream layout (``bitstreams/FORMAT.md``, "Overfitted video sections"):

* header config ``parameters`` (the network's parameter count: the model size);
* section 0, whole stream: the architecture as canonical JSON (sorted keys, no spaces);
* then the family's sections (:meth:`OverfittedVideoCodec.payload_layout` checks them).

The weights fingerprint of these streams names the decoder revision, not a weights file:
``sha256("neuralcodecs-inr:<codec>:<revision>")[:16]``.

A subclass implements :meth:`~OverfittedVideoCodec.fit_clip` (frames -> architecture and
sections) and :meth:`~OverfittedVideoCodec.renderer` (architecture and sections -> a function
rendering any frame alone).  Frames are always rendered one at a time (batch 1), so a frame
decoded alone is bit-identical to the same frame of a full decode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import bitstream
from ..bitstream import COLOR_RGB, WHOLE_STREAM, Header
from ..budget import DecodeEstimate, check_budget
from ..codec import VIDEO, WEIGHTS_IN_STREAM, Codec, Latents
from ..errors import CodecArgumentError, CorruptPayloadError, HeaderFieldError, SectionLayoutError
from ..frame_selection import wanted_frames
from ..video.frames import load_frames
from .options import EFFORT_EPOCHS, EFFORT_OPTION, FIT_STATE_OPTION, MAX_PARAMETERS, MODEL_SIZE_QUALITY

DEFAULT_MAX_FRAMES = 100_000
DECODE_FIXED_BYTES = 256 * 2**20


@dataclass
class FittedClip:
    """What :meth:`OverfittedVideoCodec.fit_clip` returns.

    Attributes:
        architecture: JSON-able dict (section 0).
        sections: the family's sections after section 0.
        tags: frame tag of each of ``sections`` (``WHOLE_STREAM`` or a frame).
        keyframes: frames the frame index lists.
        parameters: the network's parameter count (header config).
        report: fitting measurements (``fit_seconds``, ``psnr_fitted``...), for benchmarks.
    """

    architecture: dict
    sections: list[bytes]
    tags: list[int]
    keyframes: list[int]
    parameters: int
    report: dict = field(default_factory=dict)


#: the default model size follows the content: one parameter per this many samples (``3 T H W``),
#: which is the 0.3M default at 320x180 x 132 frames (Bunny at the CPU scale: 7.6 M pixels)
SAMPLES_PER_PARAMETER = 75


def default_model_size(samples: int, quality) -> float:
    """The model size (millions of parameters) used when none is given: ``samples / 75``, at least the
    smallest and at most the default of ``quality`` (:class:`~neuralcodecs.codec.QualitySpec`), on its grid."""
    size = min(quality.default, max(quality.low, samples / SAMPLES_PER_PARAMETER / 1e6))
    return round(round(size / quality.step) * quality.step, 9)


def canonical_json(d: dict) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":")).encode("utf-8")


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float32 ``(T, 3, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(255)


def tensor_to_frame(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Model output ``(1, 3, H', W')`` -> uint8 ``(height, width, 3)`` (cropped, rounded)."""
    x = x[0, :, :height, :width].float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(1, 2, 0).contiguous().cpu().numpy()


class OverfittedVideoCodec(Codec):
    """The shared encode/decode of the implicit neural video codecs (see the module docstring)."""

    kind = VIDEO
    weights_policy = WEIGHTS_IN_STREAM
    quality = MODEL_SIZE_QUALITY
    options = (EFFORT_OPTION, FIT_STATE_OPTION)
    revision = 1  # bump when the decoder's arithmetic or the section contents change

    def __init__(self, device="cpu"):
        self.device = torch.device(device)
        self.fingerprint = hashlib.sha256(f"neuralcodecs-inr:{self.name}:{self.revision}".encode()).digest()[:16]
        self.last_report: dict = {}

    # ------------------------------------------------------------------ family hooks
    def planned_values(self, frames: int, height: int, width: int, parameters: int, options: dict) -> int:
        """The values (parameters, embeddings) a file of a ``parameters``-sized network holds for a clip of
        ``frames`` x ``height`` x ``width`` under the checked encode ``options``: what :meth:`fit_clip`
        would build, without building it."""
        raise NotImplementedError

    def fit_clip(self, frames: torch.Tensor, parameters: int, options: dict, progress: bool) -> FittedClip:
        """Fit the family's network to ``frames`` float ``(T, 3, H, W)`` with about ``parameters``
        parameters; ``options``: the checked encode options (``effort``: see :func:`epochs_of`;
        ``fit_state``: resumable fitting state file, see :func:`state_path`)."""
        raise NotImplementedError

    def renderer(self, architecture: dict, header: Header, sections: list[bytes]) -> Callable[[int], torch.Tensor]:
        """A function ``t -> (1, 3, H', W')`` float for any frame, from the checked architecture and
        the sections after section 0.  Raises :class:`CorruptPayloadError` on damaged sections."""
        raise NotImplementedError

    def check_architecture(self, architecture: dict, header: Header) -> int:
        """Validate the architecture against the header (:class:`HeaderFieldError`); return its parameter count."""
        raise NotImplementedError

    def payload_layout(self, architecture: dict, header: Header) -> tuple[list[int], list[int]]:
        """The frame tags of the sections after section 0 and the frames of the frame index."""
        raise NotImplementedError

    def activation_bytes(self, architecture: dict, header: Header) -> int:
        """Peak bytes of rendering one frame (the decode budget)."""
        raise NotImplementedError

    def frame_work(self, architecture: dict, header: Header) -> tuple[int, int]:
        """``(multiply-accumulates, parameter values read)`` of rendering one frame (the decode budget)."""
        raise NotImplementedError

    def integer_arrays(self, architecture: dict, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        """The entropy-decoded integers of the sections after section 0, in stream order (conformance digests)."""
        raise NotImplementedError

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        architecture = self.parse(header, sections)
        return self.integer_arrays(architecture, header, list(sections[1:]))

    def latents_of(self, architecture: dict, header: Header, sections: list[bytes]) -> Latents:
        raise CodecArgumentError(f"{self.name} has no per-frame latents (the whole clip is one network)")

    # ------------------------------------------------------------------ encode
    def encode(self, media, quality: float | None = None, fps=None, size=None, max_frames: int = DEFAULT_MAX_FRAMES,
               progress: bool = False, **options) -> bytes:
        """Fit a network to a clip and return the complete ``.ncb`` file.

        Args:
            media: a path (mp4/mkv/y4m/raw .yuv/frame folder), a Video, or uint8 ``(T, H, W, 3)``.
            quality: model size in millions of parameters (default: :func:`default_model_size` of the
                clip, 0.3 for a clip of 7 M pixels or more).
            fps, size: frame rate (arrays, raw files) and ``WxH`` of raw .yuv files.
            options: ``effort`` (fast/medium/best: fitting epochs), ``fit_state`` (resumable fitting).

        A network with more parameters than the clip has samples (``3 T H W``) is refused: the
        file would be larger than the raw clip (so is a clip smaller than the smallest network).
        """
        if quality is not None:
            quality = self.quality.check(quality)
        opts = self.check_options(options)
        frames, rate = load_frames(media, fps, size, max_frames)
        T, H, W, _ = frames.shape
        samples = 3 * T * H * W
        if quality is None:
            quality = default_model_size(samples, self.quality)
        planned = self.planned_values(T, H, W, int(round(quality * 1e6)), opts)
        if planned > samples:
            smallest = self.planned_values(T, H, W, int(round(self.quality.low * 1e6)), opts)
            if smallest > samples:
                raise CodecArgumentError(
                    f"a clip of {T} x {W}x{H} pixels ({samples} samples) is too small for {self.name}: its smallest "
                    f"network for it holds {smallest} values, more than the clip itself; use an image or classical codec")
            raise CodecArgumentError(
                f"a {quality:g}M {self.name} network for this clip ({T} x {W}x{H}) holds {planned} values, larger than "
                f"the clip's {samples} samples; choose a smaller --size (the smallest, {self.quality.low:g}M, holds "
                f"{smallest})")
        started = time.time()
        fitted = self.fit_clip(frames_to_tensor(frames).to(self.device), int(round(quality * 1e6)), opts, progress)
        data = self.pack_fitted(fitted, T, H, W, rate)
        self.last_report = {**fitted.report, "encode_seconds": time.time() - started, "parameters": fitted.parameters}
        return data

    def pack_fitted(self, fitted: FittedClip, frames: int, height: int, width: int, rate) -> bytes:
        """The ``.ncb`` file of a fitted clip (``rate``: a :class:`~fractions.Fraction` frame rate)."""
        header = Header(codec=self.name, fingerprint=self.fingerprint, width=width, height=height, frames=frames,
                        fps=(rate.numerator, rate.denominator), config={"parameters": fitted.parameters})
        return bitstream.pack(header, [canonical_json(fitted.architecture), *fitted.sections],
                              section_frames=[WHOLE_STREAM, *fitted.tags], keyframes=fitted.keyframes)

    # ------------------------------------------------------------------ decode
    def parse(self, header: Header, sections: list[bytes]) -> dict:
        """Check the stream before any network is built; return the architecture.

        The codec's checks of ``bitstreams/FORMAT.md`` ("Decoder checks, in order", 14-18), in that order.
        """
        self.check_identity(header, f"file names {self.name} decoder revision {header.fingerprint.hex()}, this "
                                    f"installation decodes {self.fingerprint.hex()} (revision {self.revision}); use the "
                                    "neuralcodecs version that made it")
        bitstream.check_color(header, (COLOR_RGB,))
        if set(header.config) != {"parameters"}:
            raise HeaderFieldError(f"{self.name} config must hold exactly 'parameters', got {sorted(header.config)}")
        if not sections:
            raise SectionLayoutError(f"{self.name} streams start with the architecture section; this one has no section")
        if header.section_frames[0] != WHOLE_STREAM:
            raise HeaderFieldError(f"{self.name} streams start with the architecture section, tagged as the whole "
                                   f"stream (0xFFFFFFFF); this one is tagged frame {header.section_frames[0]}")
        try:
            architecture = json.loads(bytes(sections[0]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HeaderFieldError(f"architecture section is not JSON ({exc})") from None
        if not isinstance(architecture, dict) or canonical_json(architecture) != bytes(sections[0]):
            raise HeaderFieldError("architecture section is not a canonical JSON object")
        parameters = self.check_architecture(architecture, header)
        if not 0 < parameters <= MAX_PARAMETERS or parameters != header.config["parameters"]:
            raise HeaderFieldError(f"architecture has {parameters} parameters, the header says {header.config['parameters']} "
                                   f"(at most {MAX_PARAMETERS})")
        tags, keyframes = self.payload_layout(architecture, header)
        if len(sections) - 1 != len(tags):
            raise SectionLayoutError(f"{self.name} stream of {header.frames} frames must have {len(tags)} sections after "
                                     f"the architecture; this one has {len(sections) - 1}")
        if list(header.section_frames[1:]) != tags:
            raise HeaderFieldError(f"{self.name} sections after the architecture must be tagged {_tag_list(tags)}; "
                                   f"these are tagged {_tag_list(header.section_frames[1:])}")
        listed = [k for k, _ in header.keyframes]
        if listed != keyframes:
            raise HeaderFieldError(f"{self.name} streams of {header.frames} frames index frames {_tag_list(keyframes)}; "
                                   f"this one indexes {_tag_list(listed)}")
        return architecture

    def decode_estimate(self, header: Header, sections: list[bytes], frames=None) -> DecodeEstimate:
        """Peak bytes (the parameters as coded integers and floats, one frame's activations, the
        frames returned) and work (every frame returned rendered alone: its multiply-accumulates,
        the network's parameters read once per frame, one call per frame; every parameter
        entropy-decoded once) of decoding ``frames`` (default: all), from the architecture."""
        architecture = self.parse(header, sections)
        count = len(wanted_frames(frames, header.frames))
        parameters = header.config["parameters"]
        macs, weights = self.frame_work(architecture, header)
        memory = (DECODE_FIXED_BYTES + 12 * parameters + self.activation_bytes(architecture, header)
                  + 3 * header.width * header.height * count)
        return DecodeEstimate(memory=memory, macs=count * macs, weight_reads=count * weights + parameters, calls=count)

    def decode_parsed(self, header: Header, sections: list[bytes], frames=None, budget=None,
                      progress: bool = False) -> np.ndarray:
        """uint8 ``(len(frames), H, W, 3)`` (all frames by default); each frame rendered alone."""
        architecture = self.parse(header, sections)
        wanted = wanted_frames(frames, header.frames)
        check_budget(header, self.decode_estimate(header, sections, frames), budget)
        render = self.renderer(architecture, header, list(sections[1:]))
        out = np.empty((len(wanted), header.height, header.width, 3), dtype=np.uint8)
        steps = wanted
        if progress:
            from tqdm import tqdm

            steps = tqdm(wanted, desc=f"{self.name} decode", unit="frame")
        with torch.no_grad(), one_thread():
            for i, t in enumerate(steps):
                out[i] = tensor_to_frame(render(t), header.height, header.width)
        return out

    def latents_parsed(self, header: Header, sections: list[bytes]) -> Latents:
        architecture = self.parse(header, sections)
        return self.latents_of(architecture, header, list(sections[1:]))


def _tag_list(tags) -> str:
    """Frame tags for a message: the first few, ``whole`` for the whole-stream tag."""
    shown = ["whole" if t == WHOLE_STREAM else str(t) for t in list(tags)[:6]]
    return "[" + ", ".join(shown) + (", ...]" if len(tags) > 6 else "]")


@contextlib.contextmanager
def one_thread():
    """Run the rendering networks on one torch thread: a library convolution or matrix product may
    split its sums differently with more threads (NeRV's frames differed by one level at 320x180
    between 1 and 2 threads), and decoded pixels must not depend on the caller's thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def checked_int(d: dict, key: str, low: int, high: int) -> int:
    """``d[key]`` if it is an int in ``low..high``; :class:`HeaderFieldError` otherwise."""
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HeaderFieldError(f"architecture field {key!r} must be an integer in {low}..{high}, got {value!r}")
    return value


def checked_ints(d: dict, key: str, length: tuple[int, int], low: int, high: int) -> tuple[int, ...]:
    """``d[key]`` as a tuple if it is a list of ``length[0]..length[1]`` ints in ``low..high``."""
    value = d.get(key)
    if (not isinstance(value, list) or not length[0] <= len(value) <= length[1]
            or any(isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high for v in value)):
        raise HeaderFieldError(f"architecture field {key!r} must be {length[0]}..{length[1]} integers in {low}..{high}, got {value!r}")
    return tuple(value)


def check_keys(d: dict, keys: set[str], family: str) -> None:
    if set(d) != keys:
        raise HeaderFieldError(f"{family} architecture must have the fields {sorted(keys)}, got {sorted(d)}")


def epochs_of(options: dict) -> int:
    """Fitting epochs (passes over the clip) of the ``effort`` option."""
    return EFFORT_EPOCHS[options["effort"]]


def state_path(options: dict, part: str = "") -> Path | None:
    """The fitting checkpoint file for ``part`` (``""``: the file itself) of the ``fit_state`` option."""
    state = options.get("fit_state")
    if not state:
        return None
    path = Path(state)
    return path if not part else path.with_name(f"{path.name}.{part}")


def clip_identity(codec: str, architecture: dict, frames: torch.Tensor) -> dict:
    """What a fitting checkpoint must match to be resumed: codec, architecture, clip shape and the
    SHA-256 of its 8-bit frames (a sum, as before, took the same clip reversed for the same clip)."""
    pixels = frames.detach().float().mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return {"codec": codec, "architecture": architecture, "frames": list(frames.shape),
            "sha256": hashlib.sha256(pixels.tobytes()).hexdigest()}


def decode_quantized(data: bytes, layout, what: str):
    """Entropy-decode quantized parameters (:func:`~neuralcodecs.inr.weight_coding.decode`), naming ``what`` in errors."""
    from .weight_coding import decode

    try:
        return decode(data, layout)
    except CorruptPayloadError as exc:
        raise CorruptPayloadError(f"{what}: {exc}") from None


def decode_parameters(data: bytes, layout, what: str):
    """Entropy-decoded parameters as float32 tensors (see :func:`decode_quantized`)."""
    from .weight_coding import dequantize

    return dequantize(decode_quantized(data, layout, what))
