"""The ``stem`` video codec: frames <-> ``.ncb`` sequences.

Every frame goes through the frozen analysis of the ``hyperprior`` weights the stem weights were
trained on (found by fingerprint, :mod:`neuralcodecs.stem.image_codec`) and is quantized on
the integer lattice ``y_hat_t = round(g * g_a(x_t))`` (``g``: the hyperprior's gain at the
stream's quality).  Frames ``t`` with ``t % intra_period == 0`` are intra (I)
frames, coded with the hyperprior's own entropy model (its ``z``, its exact means and scales,
lattice values under fractional-mean tables); the others are P-frames coded with the
spatiotemporal entropy model conditioned on ``y_hat_{t-1}``
(:mod:`neuralcodecs.stem.frozen`).  Since I- and P-frames share the lattice, the
temporal model changes bits only, never pixels.  Decoding runs the hyperprior synthesis on
``y_hat_t`` times the inverse gain.

Stream layout (``bitstreams/FORMAT.md``, "stem"): header config ``quality_x256``,
``intra_period`` (0: only frame 0 is intra) and ``latent_channels``; two sections per frame,
tagged with the frame, ``z`` then ``y``; the frame index lists every I-frame, so
``decode(data, frames=[k])`` entropy-decodes from the I-frame at or before ``k`` and
synthesizes frame ``k`` only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .. import bitstream
from ..bitstream import Header
from ..budget import DecodeEstimate, check_budget
from ..codec import VIDEO, Codec, Latents, QualitySpec
from ..entropy.coders import ChunkDecoder, TableCoder
from ..entropy.lattice import lattice_rows, lattice_symbols, table_from_state
from ..errors import CorruptPayloadError, HeaderFieldError, SectionLayoutError, WeightsError
from ..image.base import pixels_to_tensor
from ..image.hyperprior import Z_INPUT_BOUND
from ..weightfiles import fingerprint, load_weights
from ..frame_selection import wanted_frames
from ..video.frames import load_frames
from .frozen import FrozenStem
from .image_codec import trained_image_codec
from .model import SpatiotemporalEntropyModel, StemConfig
from .options import EFFORT_OPTION, EFFORT_STEPS, INTRA_PERIOD_OPTION

CODEC_NAME = "stem"
PAD = 64  # pixels: the hyper-latent grid needs latents in multiples of 4
SYNTHESIS_TILE, SYNTHESIS_HALO = 64, 3
# a safe margin over the measurement of benchmarks/stem_video.py (access part): a full decode of
# 100 frames of 416x240 grows a loaded process by 145 MiB; the estimate says 368 MiB
DECODE_FIXED_BYTES = 320 * 2**20
DECODE_BYTES_PER_PIXEL = 200  # per pixel of one frame: latents of two frames, coder arrays, synthesis
#: per padded pixel of one frame decoded: the hyperprior's synthesis and the spatiotemporal entropy
#: model (the shipped weights; tests/test_decode_estimates.py counts it)
DECODE_MACS_PER_PIXEL = 47_124
DEFAULT_MAX_FRAMES = 100_000
MAX_INTRA_PERIOD = 65535  # as the encoder's option allows


class StemCodec(Codec):
    """STEM with exact entropy parameters (see the module docstring)."""

    name = CODEC_NAME
    kind = VIDEO
    options = (INTRA_PERIOD_OPTION, EFFORT_OPTION)

    def __init__(self, image_codec, stem: FrozenStem, lattice_coder: TableCoder, weights_fingerprint: bytes, device="cpu"):
        self.image = image_codec  # the frozen hyperprior (transforms, intra entropy model, gains)
        self.hp = image_codec.frozen
        self.stem = stem
        self.lattice = lattice_coder
        self.fingerprint = weights_fingerprint
        self.device = torch.device(device)
        self.M = self.hp.model.M
        levels = float(self.hp.num_levels)
        self.quality = QualitySpec(1.0, levels, min(4.0, levels), 1 / 256, tuple(float(q) for q in range(1, self.hp.num_levels + 1)))

    # ------------------------------------------------------------------ weights
    @classmethod
    def from_weights(cls, path: str | Path, device="cpu") -> "StemCodec":
        tensors, meta = load_weights(path)
        if meta.get("codec") != CODEC_NAME:
            raise WeightsError(f"{path} holds weights of codec {meta.get('codec')!r}, not {CODEC_NAME!r}")
        try:
            cfg = StemConfig.from_json(json.loads(meta["config"]))
            image_fp = bytes.fromhex(meta["image_fingerprint"])
        except (KeyError, ValueError, TypeError) as exc:
            raise WeightsError(f"{path}: metadata lacks a valid stem config and image fingerprint ({exc})") from None
        image_codec = trained_image_codec(image_fp, device, what=f"stem weights {path}")
        if cfg.M != image_codec.frozen.model.M:
            raise WeightsError(f"{path}: stem config has M={cfg.M}, the hyperprior {image_codec.frozen.model.M}")
        model = SpatiotemporalEntropyModel(cfg)  # structure; of its float networks only h_a is stored and used
        state = {k[len("model.h_a."):]: v.float() for k, v in tensors.items() if k.startswith("model.h_a.")}
        try:
            model.h_a.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsError(f"{path}: hyper-analysis tensors do not fit the stem config: {exc}") from None
        try:
            stem = FrozenStem.load(tensors, "stem", model)
            lattice = TableCoder(table_from_state(tensors, "lattice_table"))
        except (KeyError, ValueError) as exc:
            raise WeightsError(f"{path}: damaged or missing exact tensors ({exc})") from None
        return cls(image_codec, stem, lattice, fingerprint(tensors), device)

    # ------------------------------------------------------------------ per-frame pieces
    @torch.no_grad()
    def analyze(self, frame: np.ndarray, q256: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gained float latent (1, M, h, w), lattice latent int64)`` of one uint8 ``(H, W, 3)`` frame."""
        gain, _, _ = self.hp.gains(q256)
        x = pixels_to_tensor(frame, PAD, self.device).contiguous(memory_format=torch.channels_last)
        y = self.hp.model.g_a(x).double() * (gain.double() / 2**12).reshape(1, -1, 1, 1).to(self.device)
        return y.float(), torch.round(y).to(torch.int64)

    def _code_lattice(self, chunks, values, means, indexes, mask=None):
        if mask is None:
            chunks.append(lattice_symbols(values, means, indexes))
            return values
        full = mask.expand_as(values)
        sym, rows = lattice_symbols(values[full], means[full], indexes[full])
        chunks.append((sym, rows))
        return torch.where(full, values, torch.zeros_like(values))

    def _read_lattice(self, reader: ChunkDecoder, means, indexes, mask=None, bits: np.ndarray | None = None):
        """Decode one pass; with ``bits`` (float64 like ``means``), add each symbol's cost there."""
        base, rows = lattice_rows(means, indexes)
        full = torch.ones_like(base, dtype=torch.bool) if mask is None else mask.expand_as(base)
        rows_here = rows[full].cpu().numpy()
        symbols = reader.next(rows_here)
        if bits is not None:
            bits[full.cpu().numpy()] += self.lattice.symbol_bits(symbols, rows_here)
        out = torch.zeros_like(base)
        out[full] = torch.from_numpy(symbols).to(base.device) + base[full]
        return out

    def refine_intra(self, frame: np.ndarray, q256: int, steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(gained float latent, lattice latent int64, z_int)`` of an I-frame whose latents were
        refined for it by ``steps`` SGA steps (the hyperprior's refinement, on the integer lattice)."""
        from ..image.hyperprior_refine import refine_latents

        x = pixels_to_tensor(frame, PAD, self.device)
        y, z_int = refine_latents(self.hp, x, q256, steps, frame.shape[:2], lattice=True)
        return y, torch.round(y).to(torch.int64), z_int

    @torch.no_grad()
    def encode_intra(self, y: torch.Tensor, values: torch.Tensor, q256: int, z_int: torch.Tensor | None = None) -> list[bytes]:
        """An I-frame's ``[z, y]`` sections: the hyperprior's entropy model on the lattice
        (``z_int``: the hyper-latent to code, else ``round(h_a(y))``)."""
        if z_int is None:
            z_int = torch.round(self.hp.model.h_a(y)).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)
        z_sym = (z_int - self.hp.z_medians.to(z_int.device).reshape(1, -1, 1, 1)).cpu().numpy()
        means, indexes = self.hp.entropy_parameters(z_int, q256)
        chunks: list = []
        self._code_lattice(chunks, values, means, indexes)
        return [self.hp.z_coder.encode(z_sym, self.hp.z_indexes(z_sym.shape)), self.lattice.encode_chunks(chunks)]

    @torch.no_grad()
    def encode_inter(self, y: torch.Tensor, values: torch.Tensor, prev: torch.Tensor, q256: int) -> list[bytes]:
        """A P-frame's ``[z, y]`` sections under the spatiotemporal model."""
        gain, log_gain, _ = self.hp.gains(q256)
        z_int = self.stem.hyper_latent(y, prev)
        z_sym = (z_int - self.stem.z_medians.reshape(1, -1, 1, 1)).cpu().numpy()
        chunks: list = []
        self.stem.walk(z_int, prev, gain, log_gain, lambda mask, m, i: self._code_lattice(chunks, values, m, i, mask))
        return [self.stem.z_coder.encode(z_sym, self.stem.z_indexes(z_sym.shape)), self.lattice.encode_chunks(chunks)]

    @torch.no_grad()
    def decode_intra(self, sections: list[bytes], grid: tuple[int, int], q256: int, bits: np.ndarray | None = None) -> torch.Tensor:
        """An I-frame's lattice latent; with ``bits`` (float64 ``(1, M, h, w)``), the bits of each element."""
        zh, zw = grid[0] // 4, grid[1] // 4
        z_shape = (1, self.hp.model.N, zh, zw)
        z_sym = self.hp.z_coder.decode(sections[0], self.hp.z_indexes(z_shape))
        z_int = torch.from_numpy(z_sym) + self.hp.z_medians.reshape(1, -1, 1, 1)
        means, indexes = self.hp.entropy_parameters(z_int.to(self.device), q256)
        reader = ChunkDecoder(self.lattice, sections[1])
        values = self._read_lattice(reader, means, indexes, None, bits)
        reader.finish()
        if bits is not None:
            _spread_side_bits(bits, self.hp.z_coder.symbol_bits(z_sym, self.hp.z_indexes(z_shape)))
        return values

    @torch.no_grad()
    def decode_inter(self, sections: list[bytes], prev: torch.Tensor, q256: int, bits: np.ndarray | None = None) -> torch.Tensor:
        """A P-frame's lattice latent given the previous one; ``bits`` as in :meth:`decode_intra`."""
        gain, log_gain, _ = self.hp.gains(q256)
        _, _, h, w = prev.shape
        z_shape = (1, self.stem.cfg.hyper_channels, h // 4, w // 4)
        z_indexes = self.stem.z_indexes(z_shape)
        z_sym = self.stem.z_coder.decode(sections[0], z_indexes)
        z_int = torch.from_numpy(z_sym).to(self.device) + self.stem.z_medians.reshape(1, -1, 1, 1)
        reader = ChunkDecoder(self.lattice, sections[1])
        values = self.stem.walk(z_int, prev, gain, log_gain, lambda mask, m, i: self._read_lattice(reader, m, i, mask, bits))
        reader.finish()
        if bits is not None:
            _spread_side_bits(bits, self.stem.z_coder.symbol_bits(z_sym, z_indexes))
        return values

    def synthesize(self, values: torch.Tensor, q256: int, height: int, width: int) -> np.ndarray:
        """uint8 ``(height, width, 3)`` of one lattice latent."""
        _, _, inv_gain = self.hp.gains(q256)
        y_hat = values.float() * inv_gain.to(values.device).reshape(1, -1, 1, 1)
        return self.hp.synthesize_pixels(y_hat, height, width, SYNTHESIS_TILE, SYNTHESIS_HALO)

    # ------------------------------------------------------------------ public
    def encode(self, media, quality: float | None = None, fps=None, size=None, max_frames: int = DEFAULT_MAX_FRAMES,
               progress: bool = False, **options) -> bytes:
        """Encode a clip into a complete ``.ncb`` file.

        Args:
            media: a path (mp4/mkv/y4m/raw .yuv/frame folder, see :mod:`neuralcodecs.video.io`),
                a :class:`~neuralcodecs.video.clip.Video`, or uint8 ``(T, H, W, 3)``.
            quality: 1..L of the hyperprior's ladder (fractional ok).
            fps: frame rate for arrays and raw files (default 25).
            size: ``(W, H)`` or ``"WxH"`` for raw .yuv files.
            options: ``intra_period``, ``effort`` (``medium``/``best``: each I-frame's latents
                refined for the frame; P-frames coded as before, given it).
        """
        quality = self.quality.check(self.quality.default if quality is None else quality)
        checked = self.check_options(options)
        period, refine_steps = checked["intra_period"], EFFORT_STEPS[checked["effort"]]
        frames, rate = load_frames(media, fps, size, max_frames)
        q256 = int(round(quality * 256))
        T, H, W, _ = frames.shape
        sections, tags = [], []
        prev = None
        steps = range(T)
        if progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc="stem encode", unit="frame")
        for t in steps:
            if is_intra(t, period) and refine_steps:
                y, values, z_int = self.refine_intra(frames[t], q256, refine_steps)
            else:
                (y, values), z_int = self.analyze(frames[t], q256), None
            if is_intra(t, period):
                coded = self.encode_intra(y, values, q256, z_int)
            else:
                coded = self.encode_inter(y, values, prev, q256)
            sections += coded
            tags += [t, t]
            prev = values
        header = Header(codec=self.name, fingerprint=self.fingerprint, width=W, height=H, frames=T,
                        fps=(rate.numerator, rate.denominator),
                        config={"quality_x256": q256, "intra_period": period, "latent_channels": self.M})
        keyframes = [t for t in range(T) if is_intra(t, period)]
        return bitstream.pack(header, sections, section_frames=tags, keyframes=keyframes)

    def decode_estimate(self, header: Header, sections=None, frames=None) -> DecodeEstimate:
        """Peak bytes (a fixed part, one frame's working set per pixel, the frames returned) and work
        (every frame the request needs, from the intra frame before each, at
        :data:`DECODE_MACS_PER_PIXEL` per padded pixel; one call per frame)."""
        wanted = wanted_frames(frames, header.frames)
        needed = len(frames_needed(wanted, header.config["intra_period"]))
        pixels = header.width * header.height
        h, w = self.grid(header)
        memory = DECODE_FIXED_BYTES + DECODE_BYTES_PER_PIXEL * pixels + 3 * pixels * len(wanted)
        return DecodeEstimate(memory=memory, macs=needed * DECODE_MACS_PER_PIXEL * h * w * 16 * 16, calls=needed)

    def decode_parsed(self, header: Header, sections: list[bytes], frames=None, budget=None,
                      progress: bool = False) -> np.ndarray:
        """uint8 ``(len(frames), H, W, 3)`` (all frames by default)."""
        wanted = self._check_stream(header, sections, frames)
        check_budget(header, self.decode_estimate(header, sections, wanted), budget)
        out = np.empty((len(wanted), header.height, header.width, 3), dtype=np.uint8)
        q256 = header.config["quality_x256"]
        position = {t: i for i, t in enumerate(wanted)}
        for t, values in self._walk_frames(header, sections, wanted, progress):
            if t in position:
                out[position[t]] = self.synthesize(values, q256, header.height, header.width)
        return out

    def latents_parsed(self, header: Header, sections: list[bytes]) -> Latents:
        """``[T, M, h, w]`` latents (gain undone) and ``[T, h, w]`` bits per position, without synthesis."""
        wanted = self._check_stream(header, sections, None)
        q256 = header.config["quality_x256"]
        _, _, inv_gain = self.hp.gains(q256)
        tensors, bits = [], []
        for t, values, frame_bits in self._walk_frames(header, sections, wanted, False, with_bits=True):
            tensors.append((values.float() * inv_gain.reshape(1, -1, 1, 1))[0].cpu())
            bits.append(torch.from_numpy(frame_bits[0].sum(0).astype(np.float32)))
        return Latents(tensor=torch.stack(tensors), stride=(16, 16), height=header.height, width=header.width,
                       bits=torch.stack(bits), codec=self.name, quality=q256 / 256)

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        """The entropy-decoded lattice latents of every frame, in frame order (conformance digests)."""
        wanted = self._check_stream(header, sections, None)
        return [values.cpu().numpy() for _, values in self._walk_frames(header, sections, wanted, False)]

    # ------------------------------------------------------------------ decoding internals
    def grid(self, header: Header) -> tuple[int, int]:
        return -(-header.height // PAD) * 4, -(-header.width // PAD) * 4

    def _walk_frames(self, header: Header, sections, wanted: list[int], progress: bool, with_bits: bool = False):
        """Yield ``(t, lattice latent)`` for every frame decoding ``wanted`` needs, in order;
        ``with_bits``: ``(t, lattice latent, bits)``, bits float64 ``(1, M, h, w)`` with the
        hyper-latent's bits spread evenly over the 4x4 positions each of its elements serves."""
        period = header.config["intra_period"]
        q256 = header.config["quality_x256"]
        grid = self.grid(header)
        needed = frames_needed(wanted, period)
        prev, prev_t = None, None
        steps = needed
        if progress:
            from tqdm import tqdm

            steps = tqdm(needed, desc="stem decode", unit="frame")
        for t in steps:
            pair = sections[2 * t : 2 * t + 2]
            bits = np.zeros((1, self.M, *grid)) if with_bits else None
            try:
                if is_intra(t, period):
                    values = self.decode_intra(pair, grid, q256, bits)
                else:
                    if prev_t != t - 1:
                        raise AssertionError("frame walk skipped a reference")  # pragma: no cover
                    values = self.decode_inter(pair, prev, q256, bits)
            except CorruptPayloadError as exc:
                raise CorruptPayloadError(f"frame {t}: {exc}") from None
            prev, prev_t = values, t
            yield (t, values, bits) if with_bits else (t, values)

    def _check_stream(self, header: Header, sections, frames) -> list[int]:
        """The codec's checks of ``bitstreams/FORMAT.md`` ("Decoder checks, in order", 14-18), in that
        order; returns the frames to decode."""
        self.check_identity(header, f"file was made with stem weights {header.fingerprint.hex()}, but the loaded "
                                    f"weights are {self.fingerprint.hex()}; decode with the weights that made it "
                                    "(weights=PATH)")
        bitstream.check_color(header, (bitstream.COLOR_RGB,))
        keys = {"quality_x256", "intra_period", "latent_channels"}
        if set(header.config) != keys:
            raise HeaderFieldError(f"stem config must hold {sorted(keys)}, got {sorted(header.config)}")
        q256 = header.config["quality_x256"]
        if not 256 <= q256 <= 256 * self.hp.num_levels:
            raise HeaderFieldError(f"quality_x256 {q256} outside the loaded weights' 256..{256 * self.hp.num_levels}")
        if header.config["latent_channels"] != self.M:
            raise HeaderFieldError(f"stream has {header.config['latent_channels']} latent channels, the weights {self.M}")
        period = header.config["intra_period"]
        if not 0 <= period <= MAX_INTRA_PERIOD:
            raise HeaderFieldError(f"intra_period {period} outside 0..{MAX_INTRA_PERIOD}")
        T = header.frames
        if len(sections) != 2 * T:
            raise SectionLayoutError(f"stem streams hold two sections (z, y) per frame; this one has {len(sections)} for {T} frames")
        if tuple(header.section_frames) != tuple(t for t in range(T) for _ in (0, 1)):
            raise HeaderFieldError("stem sections must be tagged with their frame, two per frame (0, 0, 1, 1, ...); "
                                   f"these are tagged {list(header.section_frames[:8])}{'...' if len(sections) > 8 else ''}")
        intra = tuple(t for t in range(T) if is_intra(t, period))
        listed = tuple(k for k, _ in header.keyframes)
        if listed != intra:
            raise HeaderFieldError(f"the frame index must list exactly the intra frames of intra period {period} "
                                   f"({list(intra[:6])}{'...' if len(intra) > 6 else ''}); it lists "
                                   f"{list(listed[:6])}{'...' if len(listed) > 6 else ''}")
        h, w = self.grid(header)
        for t in range(T):
            z_count = (self.hp.model.N if is_intra(t, period) else self.stem.cfg.hyper_channels) * (h // 4) * (w // 4)
            for name, section, count in (("z", sections[2 * t], z_count), ("y", sections[2 * t + 1], self.M * h * w)):
                if len(section) % 4 or not 4 <= len(section) <= 5 * count + 64:
                    raise SectionLayoutError(f"frame {t}: section {name} has {len(section)} bytes, impossible for {count} symbols")
        return wanted_frames(frames, T)


def _spread_side_bits(bits: np.ndarray, z_bits: np.ndarray) -> None:
    """Add the hyper-latent's bits ``(1, N, h/4, w/4)`` to ``bits`` ``(1, M, h, w)``, each spread over its 4x4 x M elements."""
    per_position = np.repeat(np.repeat(z_bits[0].sum(0), 4, axis=0), 4, axis=1) / (16.0 * bits.shape[1])
    bits += per_position[None, None]


def frames_needed(wanted: list[int], period: int) -> list[int]:
    """The frames decoding ``wanted`` (ascending) needs: from the intra frame before each."""
    last_of_period: dict[int, int] = {}  # each needed intra frame -> the last wanted frame after it
    for t in wanted:
        last_of_period[intra_before(t, period)] = t
    return [f for start, last in last_of_period.items() for f in range(start, last + 1)]


def is_intra(t: int, period: int) -> bool:
    """Whether frame ``t`` is an I-frame under ``intra_period`` (0: only frame 0)."""
    return t == 0 if period == 0 else t % period == 0


def intra_before(t: int, period: int) -> int:
    """The I-frame at or before frame ``t``."""
    return 0 if period == 0 else t - t % period
