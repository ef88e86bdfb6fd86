"""The ``overfit`` image codec: each image is encoded by fitting a Cool-chic-style decoder to it.

Encoding: fit :class:`~neuralcodecs.inr.overfit.model.OverfitModel` of the chosen ``preset``
(for ``steps``, or the steps of ``effort``'s time budget; rate point ``quality`` = a lambda of
:data:`LAMBDAS`), round the latent grids, freeze the ARM into integers of the weight depth that
codes the latents and the ARM in the fewest bits (:mod:`~neuralcodecs.inr.overfit.coding`),
quantize the upsampling and synthesis parameters with the bit depths (synthesis weights,
synthesis biases, upsampling kernel; searched) that minimize ``MSE + lambda * bits / pixel`` of
the whole file, and write (revision 4):

* header config: ``levels``, ``hidden``, ``context``, ``arm_hidden`` (the architecture),
  ``arm_bits``, ``synthesis_weight_bits``, ``synthesis_bias_bits``, ``upsampling_bits`` (the
  searched depths);
* section 0: the integer ARM's weights and the upsampling and synthesis tensors, all flattened
  (one step per float tensor), ascending names, each under its own two-sided geometric model
  (:mod:`~neuralcodecs.inr.overfit.parameters`);
* section 1: the integer ARM's biases (int32), multipliers (uint16) and shifts (uint8), raw;
* section 2: the latent grids, coded in wavefronts.

Revisions 2 and 3 (still decoded) had ``synthesis_bits`` and ``upsampling_bits`` and 8-bit ARM
weights, coded with one histogram model per bit depth (:mod:`~neuralcodecs.inr.weight_coding`).

``bitstreams/FORMAT.md``, "overfit sections", is the normative description.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ...bitstream import Header
from ...budget import DecodeEstimate
from ...codec import WEIGHTS_IN_STREAM, Latents
from ...entropy.exact import ACTIVATION_MAX, IntegerLayer, IntegerNetwork
from ...errors import CorruptPayloadError, HeaderFieldError, SectionLayoutError, WeightsError
from ...image.base import ImageCodec
from ..options import FIT_STATE_OPTION
from ..weight_coding import QuantizedTensors, decode, dequantize, encode, quantize
from . import parameters
from .coding import LATENT_BOUND, arm_calibration, context_offsets_reach, decode_grids, encode_grids, freeze_arm, grid_bits, latent_bits
from .fitting import ImageFitConfig, fit_image
from .model import DECODE_ROWS, OverfitConfig, OverfitModel, grid_shapes, macs_per_pixel, preset_config, sized_config
from .options import DEFAULT_PRESET, EFFORT_OPTION, LAMBDAS, PRESET_OPTION, QUALITY, STEPS_OPTION, fitting_steps

CODEC_NAME = "overfit"
#: the decoder revision this codec writes: 2, no ReLU after the second linear layer (Cool-chic's
#: X-1-linear-none) and fixed-order upsampling; 3, the Laplace table of 24-bit rows at scales down to
#: 0.0067 (revision 2's 16-bit rows from 0.11 charged a certain latent 0.0157 bits); 4, one
#: two-sided geometric model per parameter tensor instead of a histogram per bit depth, the ARM's
#: weight depth and separate synthesis weight and bias depths searched.  Revisions 2 and 3 keep decoding.
REVISION = 4
READABLE_REVISIONS = (2, 3, 4)


def revision_fingerprint(revision: int) -> bytes:
    """The fingerprint streams of a decoder revision carry (``bitstreams/FORMAT.md``, "overfit sections")."""
    return hashlib.sha256(f"neuralcodecs-inr:{CODEC_NAME}:{revision}".encode()).digest()[:16]


BIT_CHOICES = tuple(range(4, 9))  # revisions 2-3: at most 8, a depth's model cost 2**b - 1 bytes
ARCH_KEYS = ("levels", "hidden", "context", "arm_hidden")
CONFIG_KEYS = set(ARCH_KEYS) | {"synthesis_bits", "upsampling_bits"}  # revisions 2-3
#: revision 4: the searched depths of the parameter groups (header key -> group) and their choices
DEPTH_KEYS = {"synthesis_weight_bits": "synthesis.weight", "synthesis_bias_bits": "synthesis.bias",
              "upsampling_bits": "upsampler.weight"}
DEPTH_CHOICES = tuple(range(4, 13))
ARM_BIT_CHOICES = (5, 6, 7, 8)  # the integer ARM's weights lie in +-(2**(b-1) - 1)
CONFIG_KEYS_R4 = set(ARCH_KEYS) | set(DEPTH_KEYS) | {"arm_bits"}


def _coded_state(model) -> dict[str, torch.Tensor]:
    """The upsampling and synthesis tensors (what section 0 quantizes), ascending names."""
    return dict(sorted((n, t) for n, t in model.state_dict().items() if n.split(".")[0] in ("upsampler", "synthesis")))


@lru_cache(maxsize=8)
def _coded_shapes(cfg: OverfitConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of the upsampling and synthesis tensors of ``cfg``, ascending names (meta device, once per configuration)."""
    with torch.device("meta"):
        model = OverfitModel(cfg, 2 ** (cfg.levels - 1), 2 ** (cfg.levels - 1))
    return {n: tuple(t.shape) for n, t in _coded_state(model).items()}


def _arm_shapes(cfg: OverfitConfig) -> list[tuple[int, int]]:
    widths = [cfg.context, cfg.arm_hidden, cfg.arm_hidden, 2]
    return [(b, a) for a, b in zip(widths[:-1], widths[1:])]


def parameter_layout(cfg: OverfitConfig, bits: dict[str, int]) -> list[tuple[str, tuple[int, ...], int]]:
    """Section 0's layout: the ARM's integer weights (8 bits) and the float tensors, all 1-D
    (one step per tensor), ascending names."""
    arm = [(f"arm.w{i}", (c_out * c_in,), 8) for i, (c_out, c_in) in enumerate(_arm_shapes(cfg))]
    floats = [(n, (math.prod(shape),), bits[n.split(".")[0]]) for n, shape in _coded_shapes(cfg).items()]
    return arm + floats


def _quantized(model: OverfitModel, net: IntegerNetwork, depth_of, arm_bits: int) -> tuple[QuantizedTensors, dict[str, torch.Tensor]]:
    """Section 0's tensors: the integer ARM's weights (at ``arm_bits``, step 1) then the float tensors
    quantized at ``depth_of(name)`` bits; and the dequantized float tensors a decoder will use."""
    state = _coded_state(model)
    qf = quantize({n: t.reshape(-1) for n, t in state.items()}, {n: depth_of(n) for n in state})
    arm = [layer.weight.reshape(-1).numpy().astype(np.int64) for layer in net.layers]
    q = QuantizedTensors([f"arm.w{i}" for i in range(len(arm))] + qf.names, [a.shape for a in arm] + qf.shapes,
                         [arm_bits] * len(arm) + qf.bits, arm + qf.values, [np.ones(1, np.float32) for _ in arm] + qf.steps)
    return q, {n: t.reshape(state[n].shape) for n, t in dequantize(qf).items()}


def _split(q: QuantizedTensors, cfg: OverfitConfig) -> tuple[list[np.ndarray], dict[str, torch.Tensor]]:
    """Decoded section 0 as the ARM's integer weights ``(out, in)`` and the dequantized float tensors."""
    arm = [v.reshape(shape) for v, shape in zip(q.values[:3], _arm_shapes(cfg))]
    shapes = _coded_shapes(cfg)
    rest = QuantizedTensors(q.names[3:], q.shapes[3:], q.bits[3:], q.values[3:], q.steps[3:])
    return arm, {n: t.reshape(shapes[n]) for n, t in dequantize(rest).items()}


def code_parameters(model: OverfitModel, net: IntegerNetwork, bits: dict[str, int]) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Revisions 2-3: section 0 and the dequantized float tensors a decoder will use."""
    q, floats = _quantized(model, net, lambda n: bits[n.split(".")[0]], 8)
    return encode(q), floats


def decode_parameters(data: bytes, cfg: OverfitConfig, bits: dict[str, int]) -> tuple[list[np.ndarray], dict[str, torch.Tensor]]:
    """Revisions 2-3: ARM integer weights ``(out, in)`` and the float tensors of section 0."""
    return _split(decode(data, parameter_layout(cfg, bits)), cfg)


def parameter_group(name: str) -> str:
    """The depth group of a coded float tensor: ``synthesis.weight``, ``synthesis.bias`` or ``upsampler.weight``."""
    return name.split(".")[0] + (".bias" if name.endswith("bias") else ".weight")


def parameter_layout_r4(cfg: OverfitConfig, depths: dict[str, int], arm_bits: int) -> list[tuple[str, tuple[int, ...], int, bool]]:
    """Revision 4's section 0 layout: the ARM's integer weights (``arm_bits``, no step), then the
    float tensors (their group's depth, one step each), ascending names, all 1-D."""
    arm = [(f"arm.w{i}", (c_out * c_in,), arm_bits, False) for i, (c_out, c_in) in enumerate(_arm_shapes(cfg))]
    floats = [(n, (math.prod(shape),), depths[parameter_group(n)], True) for n, shape in _coded_shapes(cfg).items()]
    return arm + floats


def code_parameters_r4(model: OverfitModel, net: IntegerNetwork, depths: dict[str, int],
                       arm_bits: int) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Revision 4's section 0 and the dequantized float tensors a decoder will use."""
    q, floats = _quantized(model, net, lambda n: depths[parameter_group(n)], arm_bits)
    return parameters.encode_parameters(q, [not n.startswith("arm.") for n in q.names]), floats


def decode_parameters_r4(data: bytes, cfg: OverfitConfig, depths: dict[str, int],
                         arm_bits: int) -> tuple[list[np.ndarray], dict[str, torch.Tensor]]:
    """Revision 4: ARM integer weights ``(out, in)`` and the float tensors of section 0."""
    return _split(parameters.decode_parameters(data, parameter_layout_r4(cfg, depths, arm_bits)), cfg)


def pack_arm_integers(net: IntegerNetwork) -> bytes:
    """Section 1: per layer its biases (i32), multipliers (u16) and shifts (u8)."""
    raw = b""
    for layer in net.layers:
        if int(layer.bias.abs().max()) >= 2**31 or int(layer.multiplier.max()) >= 2**16 or int(layer.shift.max()) > 62:
            raise ValueError("ARM layer does not fit the stream's integer fields")
        raw += layer.bias.numpy().astype("<i4").tobytes() + layer.multiplier.numpy().astype("<u2").tobytes()
        raw += layer.shift.numpy().astype("u1").tobytes()
    return raw


def arm_integer_bytes(cfg: OverfitConfig) -> int:
    """Size of section 1: 7 bytes (i32 bias, u16 multiplier, u8 shift) per output of each ARM layer."""
    return sum(7 * c_out for c_out, _ in _arm_shapes(cfg))


def unpack_arm(weights: list[np.ndarray], data: bytes, cfg: OverfitConfig) -> IntegerNetwork:
    shapes = _arm_shapes(cfg)
    if len(data) != arm_integer_bytes(cfg):  # checked by the codec before decoding; kept for direct callers
        raise SectionLayoutError(f"ARM section has {len(data)} bytes, its layout needs {arm_integer_bytes(cfg)}")
    pos, layers = 0, []
    for i, ((c_out, c_in), w) in enumerate(zip(shapes, weights)):
        bias = np.frombuffer(data, "<i4", c_out, pos).astype(np.int64)
        mult = np.frombuffer(data, "<u2", c_out, pos + 4 * c_out).astype(np.int64)
        shift = np.frombuffer(data, "u1", c_out, pos + 6 * c_out).astype(np.int64)
        pos += 7 * c_out
        last = i == len(shapes) - 1
        layers.append(IntegerLayer(torch.from_numpy(w.reshape(c_out, c_in, 1, 1).copy()), torch.from_numpy(bias),
                                   torch.from_numpy(mult), torch.from_numpy(shift), 1, None if last else ACTIVATION_MAX))
    try:
        return IntegerNetwork(layers, LATENT_BOUND)
    except WeightsError as exc:
        raise CorruptPayloadError(f"ARM section: {exc}") from None


def synthesize_pixels(model: OverfitModel, grids: list[torch.Tensor], height: int, width: int) -> np.ndarray:
    with torch.no_grad():
        out = model.synthesize(grids, decoding=True)[0, :, :height, :width].clamp(0, 1)
    return out.mul(255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


class OverfitCodec(ImageCodec):
    """Cool-chic-style overfitted image codec (see the module docstring)."""

    name = CODEC_NAME
    quality = QUALITY
    options = (EFFORT_OPTION, STEPS_OPTION, PRESET_OPTION, FIT_STATE_OPTION)
    weights_policy = WEIGHTS_IN_STREAM
    revision = REVISION  # the decoder revision this codec writes

    def __init__(self, device="cpu", cfg: OverfitConfig | None = None):
        super().__init__(revision_fingerprint(REVISION), device)
        self.readable_fingerprints = tuple(revision_fingerprint(r) for r in READABLE_REVISIONS if r != REVISION)
        self.cfg = cfg or OverfitConfig()
        self.last_report: dict = {}

    # ------------------------------------------------------------------ encode
    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False, effort: str = "fast",
                       steps: int = 0, preset: str = DEFAULT_PRESET, fit_state: str = ""):
        H, W, _ = pixels.shape
        base = self.cfg if preset == DEFAULT_PRESET else preset_config(preset)
        cfg = sized_config(base, H, W)  # a small image gets a small network
        lam = LAMBDAS[int(quality) - 1]
        image = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1)[None].float().div(255).to(self.device)
        torch.manual_seed(0)
        model = OverfitModel(cfg, H, W).to(self.device)
        identity = {"shape": [H, W], "sha256": hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest(),
                    "cfg": cfg.to_json()}
        fit_cfg = ImageFitConfig(steps=steps or fitting_steps(effort, H * W, preset), lam=lam)
        fit = fit_image(model, image, fit_cfg, checkpoint=fit_state or None,
                        progress=progress, identity=identity)
        model = model.cpu().float()
        with torch.no_grad():
            grids = [torch.round(g).clamp(-LATENT_BOUND, LATENT_BOUND) for g in model.grids]
        ints = [g[0, 0].to(torch.int64).numpy() for g in grids]
        arm_bits, net = self._search_arm_bits(model, ints, cfg)
        latents = encode_grids(net, ints, cfg.offsets, REVISION)
        arm = pack_arm_integers(net)
        depths, params, psnr = self._search_depths(model, net, arm_bits, grids, image.cpu(), lam, 8 * (len(latents) + len(arm)))
        sections = [params, arm, latents]
        config = {**{k: getattr(cfg, k) for k in ARCH_KEYS}, "arm_bits": arm_bits,
                  **{key: depths[group] for key, group in DEPTH_KEYS.items()}}
        total = sum(len(s) for s in sections)
        self.last_report = {"fit_seconds": fit["seconds"], "steps": fit_cfg.steps, "preset": preset,
                            "fit_psnr": fit["psnr"], "fit_bpp": fit["bpp"], "psnr": psnr,
                            "latent_bytes": len(latents), "arm_bytes": len(arm), "parameter_bytes": len(params),
                            "latent_ideal_bits": grid_bits(net, ints, cfg.offsets, REVISION), "payload_bytes": total}
        return config, sections

    @staticmethod
    def _search_arm_bits(model: OverfitModel, ints: list[np.ndarray], cfg: OverfitConfig) -> tuple[int, IntegerNetwork]:
        """The ARM weight depth of :data:`ARM_BIT_CHOICES` whose integer ARM codes the latents and its own
        weights in the fewest bits (the depth changes no pixel), and that ARM."""
        best = None
        calibration = arm_calibration(ints, cfg.offsets)  # the same contexts for every depth
        for b in ARM_BIT_CHOICES:
            net = freeze_arm(model.arm.stack, ints, cfg.offsets, weight_max=2 ** (b - 1) - 1, calibration=calibration)
            weights = sum(parameters.coded_bits(w, parameters.best_theta(w, b), b)
                          for w in (layer.weight.reshape(-1).numpy() for layer in net.layers))
            cost = grid_bits(net, ints, cfg.offsets, REVISION) + weights
            if best is None or cost < best[0]:
                best = (cost, b, net)
        return best[1], best[2]

    def _search_depths(self, model: OverfitModel, net: IntegerNetwork, arm_bits: int, grids, image, lam: float,
                       other_bits: int, rounds: int = 2):
        """The depths of the parameter groups (synthesis weights, synthesis biases, upsampling kernel:
        :data:`DEPTH_CHOICES`) minimizing ``MSE + lambda * bits / pixel`` of the whole file, one group
        at a time from 8 bits each, ``rounds`` times over the groups (Cool-chic's greedy search over
        quantization steps, module by module); returns the depths, section 0 and the PSNR the decoder will see."""
        _, _, H, W = image.shape
        original = {n: t.clone() for n, t in _coded_state(model).items()}
        target = image[0].permute(1, 2, 0).numpy()
        measured: dict[tuple[int, ...], tuple[float, float]] = {}

        def cost(depths: dict[str, int]) -> float:
            key = tuple(depths[g] for g in DEPTH_KEYS.values())
            if key not in measured:
                data, floats = code_parameters_r4(model, net, depths, arm_bits)
                model.load_state_dict({**model.state_dict(), **floats})
                mse = float(np.mean((synthesize_pixels(model, grids, H, W).astype(np.float64) / 255 - target) ** 2))
                model.load_state_dict({**model.state_dict(), **original})
                measured[key] = (mse + lam * (other_bits + 8 * len(data)) / (H * W), mse)
            return measured[key][0]

        depths = {g: 8 for g in DEPTH_KEYS.values()}
        for _ in range(rounds):
            for group in DEPTH_KEYS.values():
                depths[group] = min(DEPTH_CHOICES, key=lambda b: cost({**depths, group: b}))
        cost(depths)
        data, floats = code_parameters_r4(model, net, depths, arm_bits)
        model.load_state_dict({**model.state_dict(), **floats})
        mse = measured[tuple(depths[g] for g in DEPTH_KEYS.values())][1]
        return depths, data, -10 * math.log10(max(mse, 1e-12))

    # ------------------------------------------------------------------ decode
    def _config(self, header: Header) -> tuple[OverfitConfig, dict]:
        """The architecture and the parameter depths: revision 4 ``{"arm": b, group: b, ...}``
        (groups of :data:`DEPTH_KEYS`), revisions 2-3 ``{"synthesis": b, "upsampler": b}``."""
        revision = self.stream_revision(header)
        keys = CONFIG_KEYS_R4 if revision >= 4 else CONFIG_KEYS
        if set(header.config) != keys:
            raise HeaderFieldError(f"overfit config must hold {sorted(keys)}, got {sorted(header.config)}")
        try:
            cfg = OverfitConfig(**{k: header.config[k] for k in ARCH_KEYS})
        except (TypeError, ValueError) as exc:
            raise HeaderFieldError(f"overfit architecture: {exc}") from None
        if revision >= 4:
            bits = {"arm": header.config["arm_bits"], **{g: header.config[k] for k, g in DEPTH_KEYS.items()}}
            if bits["arm"] not in ARM_BIT_CHOICES or any(bits[g] not in DEPTH_CHOICES for g in DEPTH_KEYS.values()):
                raise HeaderFieldError(f"parameter bit depths {bits} outside ARM {ARM_BIT_CHOICES[0]}..{ARM_BIT_CHOICES[-1]}, "
                                       f"others {DEPTH_CHOICES[0]}..{DEPTH_CHOICES[-1]}")
            return cfg, bits
        bits = {"synthesis": header.config["synthesis_bits"], "upsampler": header.config["upsampling_bits"]}
        if any(b not in BIT_CHOICES for b in bits.values()):
            raise HeaderFieldError(f"parameter bit depths {bits} outside {BIT_CHOICES[0]}..{BIT_CHOICES[-1]}")
        return cfg, bits

    def decode_estimate(self, header: Header, sections=None, frames=None) -> DecodeEstimate:
        """Peak bytes and work of decoding, from the header's architecture (its widths are the
        stream's: up to 256 synthesis and ARM channels).

        Memory: 400 bytes per padded pixel (latent grids, their upsampled copies, the output)
        plus 64 bytes per padded pixel for the coding order (:class:`~neuralcodecs.inr.overfit.coding.CodingOrder`),
        plus the synthesis' hidden rows (``DECODE_ROWS`` image rows of ``hidden`` float32 channels at a time,
        with temporaries) and the ARM's activations on one wavefront (at most one latent per row
        of each grid).  Work: :func:`~neuralcodecs.inr.overfit.model.macs_per_pixel` per padded
        pixel; calls: one ARM evaluation per wavefront, and the synthesis' elementwise passes
        (per ``DECODE_ROWS`` rows, one per input channel of each 1x1 layer).
        """
        cfg, _ = self._config(header)
        shapes = grid_shapes(header.height, header.width, cfg.levels)
        H, W = shapes[0]
        reach = context_offsets_reach(cfg.offsets)
        wavefronts = (W - 1) + (reach + 1) * (H - 1) + 1
        memory = (64 * 2**20 + 464 * H * W + 3 * 4 * DECODE_ROWS * W * (cfg.hidden + cfg.levels)
                  + 3 * 8 * 2 * H * cfg.arm_hidden)
        passes = -(-H // DECODE_ROWS) * (cfg.levels + cfg.hidden)
        return DecodeEstimate(memory=memory, macs=macs_per_pixel(cfg) * H * W, calls=wavefronts + passes)

    def _check_layout(self, header: Header, sections) -> None:
        cfg, _ = self._config(header)
        if len(sections) != 3:
            raise SectionLayoutError(f"overfit streams have 3 sections, this one has {len(sections)}")
        arm_bytes = arm_integer_bytes(cfg)
        if len(sections[1]) != arm_bytes:
            raise SectionLayoutError(f"overfit section 1 (the ARM's integers) has {len(sections[1])} bytes; an ARM of "
                                     f"{cfg.arm_hidden} hidden units takes {arm_bytes}")

    def _decoded_sections(self, header: Header, sections) -> tuple[OverfitConfig, dict, IntegerNetwork, list[np.ndarray]]:
        """The architecture, section 0's float tensors, the integer ARM and the latent grids."""
        cfg, bits = self._config(header)
        try:
            if "arm" in bits:
                arm_weights, floats = decode_parameters_r4(sections[0], cfg, {g: bits[g] for g in DEPTH_KEYS.values()}, bits["arm"])
            else:
                arm_weights, floats = decode_parameters(sections[0], cfg, bits)
        except CorruptPayloadError as exc:
            raise CorruptPayloadError(f"parameter section: {exc}") from None
        net = unpack_arm(arm_weights, sections[1], cfg)
        ints = decode_grids(net, sections[2], grid_shapes(header.height, header.width, cfg.levels), cfg.offsets,
                            self.stream_revision(header))
        return cfg, floats, net, ints

    @staticmethod
    def stream_revision(header: Header) -> int:
        """The decoder revision a stream was written for (its fingerprint, checked before decoding)."""
        return next(r for r in READABLE_REVISIONS if revision_fingerprint(r) == header.fingerprint)

    def _decoded_model(self, header: Header, sections) -> tuple[OverfitModel, list[np.ndarray]]:
        cfg, floats, _, ints = self._decoded_sections(header, sections)
        model = OverfitModel(cfg, header.height, header.width)
        model.load_state_dict({**model.state_dict(), **floats})
        return model.to(self.device), ints

    def _decode_sections(self, header: Header, sections) -> np.ndarray:
        model, ints = self._decoded_model(header, sections)
        grids = [torch.from_numpy(g).float()[None, None].to(self.device) for g in ints]
        return synthesize_pixels(model, grids, header.height, header.width)

    def symbol_arrays(self, header: Header, sections) -> list[np.ndarray]:
        self._check_layout(header, sections)
        return self._decoded_sections(header, sections)[3]

    def _latents_sections(self, header: Header, sections) -> Latents:
        """Every grid brought to the grid of level ``s = min(3, L - 1)`` (stride ``2**s``): finer grids
        by space-to-depth, coarser ones repeated; ``[C, h_s, w_s]`` with ``C = sum 4**(s-l)`` over the
        finer levels plus one per coarser level.  Bits per position: each latent's cost under the
        integer ARM, finer latents summed into their cell, coarser ones spread over the cells they cover."""
        cfg, _, net, ints = self._decoded_sections(header, sections)
        costs = latent_bits(net, ints, cfg.offsets, self.stream_revision(header))
        s = min(3, cfg.levels - 1)
        hs, ws = ints[s].shape
        channels, cell_bits = [], torch.zeros(hs, ws, dtype=torch.float64)
        for level, (g, c) in enumerate(zip(ints, costs)):
            g = torch.from_numpy(g).float()[None, None]
            c = torch.from_numpy(c)[None, None]
            if level <= s:
                f = 2 ** (s - level)
                channels.append(F.pixel_unshuffle(g, f)[0])
                cell_bits += F.pixel_unshuffle(c, f)[0].sum(0)
            else:
                f = 2 ** (level - s)
                channels.append(g.repeat_interleave(f, 2).repeat_interleave(f, 3)[0, :, :hs, :ws])
                cell_bits += (c.repeat_interleave(f, 2).repeat_interleave(f, 3)[0, 0, :hs, :ws]) / (f * f)
        return Latents(tensor=torch.cat(channels), stride=(2**s, 2**s), height=header.height, width=header.width,
                       bits=cell_bits.float(), codec=self.name, quality=None)

