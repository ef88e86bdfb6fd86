"""The ``nirvana`` codec: a clip is a chain of per-group networks (:mod:`neuralcodecs.inr.nirvana`).

Encoding fits group 0 for twice the effort's epochs in steps and every later group, started from
the previous group's network and optimizer, for a quarter of them (each step: every patch of the
group's frames), the later groups' latents at a tenth of the learning rate.  Sections after the architecture (``bitstreams/FORMAT.md``, "nirvana"): one per group,
tagged with its first frame; the frame index lists frame 0.  A group's section: one byte per MLP
layer (the bit depth of its latents), then :mod:`~neuralcodecs.inr.weight_coding` bytes of the
layer latents (group 0: ``round(q)``; later groups: the difference to the previous group's
integers; one step per layer: the layer's decoder ``step``) followed by the other tensors
(biases, convolutions) at 8 bits per output channel, in ascending name order.

Frame ``t`` decodes by entropy-decoding groups ``0..t // group`` (integers only, cheap) and
running group ``t // group``'s network for frame ``t % group``: random access without an intra
network per frame.  ``quality`` is the size of one group's network.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CorruptPayloadError, HeaderFieldError
from ..fitting import cosine, run_fit
from ..statefile import load_state, restore_failed, save_state
from .options import EFFORT_OPTION, FIT_STATE_OPTION, RECIPE_OPTION
from .nirvana import (OTHER_BITS, QUANTIZED, NirvanaConfig, NirvanaGroupNet, assemble, count_parameters, for_size, frame_codes,
                      macs_per_frame,
                      patch_coordinates, patch_grid)
from .video_codec import (FittedClip, OverfittedVideoCodec, check_keys, checked_int, clip_identity, epochs_of,
                          state_path)
from .weight_coding import MAX_BITS, QuantizedTensors, decode, dequantize, encode, quantize

LAMBDA = 1e-2  # weight of the mean bits per latent in the loss (official: 1e-3; on DAVIS blackswan, 48 frames
# at 320x180, 1e-2 gave 0.25 bpp at 19.9 dB against 0.70 bpp at 20.7 dB: the better trade at this scale)
LR_LATENT = 3.0  # latents move in integer units (tuned on DAVIS blackswan, not on evaluation clips)
LR_NETWORK = 1e-2
LR_BITS = 1e-2
LATER_GROUP_FRACTION = 0.25  # steps of a later group, as a fraction of the effort's epochs
LATER_LATENT_LR = 0.1  # later groups move their latents 10x slower: small differences to code
FIRST_GROUP_FACTOR = 2  # steps of group 0: twice the effort's epochs
ARCH_KEYS = {"patch", "channels", "hidden", "group"}


def architecture_of(cfg: NirvanaConfig) -> dict:
    return cfg.to_json()


def config_of(arch: dict) -> NirvanaConfig:
    check_keys(arch, ARCH_KEYS, "nirvana")
    patch = checked_int(arch, "patch", 2, 256)
    if patch % 2:
        raise HeaderFieldError("nirvana patch size must be even")
    return NirvanaConfig(patch, checked_int(arch, "channels", 1, 256), checked_int(arch, "hidden", 1, 4096),
                         checked_int(arch, "group", 1, 64))


@lru_cache(maxsize=8)
def tensor_shapes(cfg: NirvanaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape in a group network of ``cfg`` (built once per configuration, on the meta device)."""
    with torch.device("meta"):
        return {n: tuple(t.shape) for n, t in NirvanaGroupNet(cfg).state_dict().items()}


def other_layout(cfg: NirvanaConfig) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the group network's non-latent tensors (coded at 8 bits), ascending."""
    return [(n, shape) for n, shape in sorted(tensor_shapes(cfg).items()) if _is_other(n)]


def _is_other(name: str) -> bool:
    return not name.startswith("bits.") and not name.endswith(".q") and not name.endswith(".log_step")


def latent_shapes(cfg: NirvanaConfig) -> list[tuple[str, tuple[int, ...]]]:
    """The MLP layers' latents as coded: flattened."""
    shapes = tensor_shapes(cfg)
    return [(name, (math.prod(shapes[f"{name}.q"]),)) for name in QUANTIZED]


def depth_for(values: np.ndarray) -> int:
    """Smallest symmetric bit depth holding ``values`` (at least 2)."""
    peak = int(np.abs(values).max(initial=0))
    return max(2, peak.bit_length() + 1)


def code_group(net: NirvanaGroupNet, previous: dict[str, torch.Tensor] | None) -> tuple[bytes, dict[str, torch.Tensor]]:
    """A group's section and its latent integers."""
    ints = {name: getattr(net, name).integers() for name in QUANTIZED}
    names, shapes, bits, values, steps = [], [], [], [], []
    for name in QUANTIZED:
        v = (ints[name] - previous[name] if previous is not None else ints[name]).reshape(-1).numpy()
        names.append(f"{name}.q")
        shapes.append(v.shape)
        bits.append(depth_for(v))
        values.append(v)
        steps.append(np.array([torch.exp(getattr(net, name).log_step.detach()).float()], dtype=np.float32))
    others = quantize({n: t for n, t in sorted(net.state_dict().items()) if _is_other(n)}, OTHER_BITS)
    q = QuantizedTensors(names + others.names, shapes + others.shapes, bits + others.bits, values + others.values,
                         steps + others.steps)
    return bytes(bits) + encode(q), ints


def decode_group(cfg: NirvanaConfig, data: bytes, previous: dict[str, torch.Tensor] | None):
    """``(integers, decoded float32 MLP weights, other tensors)`` of a group section."""
    latents = latent_shapes(cfg)
    if len(data) < len(latents):
        raise CorruptPayloadError("group section ends inside its bit depths")
    depths = list(data[: len(latents)])
    if any(not 2 <= b <= MAX_BITS for b in depths):
        raise CorruptPayloadError(f"group latent bit depths {depths} outside 2..{MAX_BITS}")
    layout = [(f"{n}.q", s, b) for (n, s), b in zip(latents, depths)] + [(n, s, OTHER_BITS) for n, s in other_layout(cfg)]
    q = decode(data[len(latents):], layout)
    ints, weights = {}, {}
    for i, (name, _) in enumerate(latents):
        v = torch.from_numpy(q.values[i].astype(np.int64))
        ints[name] = v if previous is None else previous[name].reshape(-1) + v
        if ints[name].numel() and int(ints[name].abs().max()) > 2**20:
            raise CorruptPayloadError(f"{name}: latent integers out of range")
    others = QuantizedTensors(q.names[len(latents):], q.shapes[len(latents):], q.bits[len(latents):],
                              q.values[len(latents):], q.steps[len(latents):])
    shapes = tensor_shapes(cfg)
    for i, (name, _) in enumerate(latents):
        step = torch.from_numpy(q.steps[i])
        ints[name] = ints[name].reshape(shapes[f"{name}.q"])
        weights[name] = step * ints[name].to(torch.float32)
    return ints, weights, dequantize(others)


class NirvanaCodec(OverfittedVideoCodec):
    """NIRVANA (Maiya et al., CVPR 2023) with entropy-coded latent differences between groups."""

    name = "nirvana"
    options = (EFFORT_OPTION, FIT_STATE_OPTION, RECIPE_OPTION)

    def planned_values(self, frames, height, width, parameters, options):
        cfg = for_size(parameters, options.get("recipe", "cpu"))
        return math.ceil(frames / cfg.group) * count_parameters(cfg)

    def fit_clip(self, frames, parameters, options, progress):
        T, _, H, W = frames.shape
        cfg = for_size(parameters, options["recipe"])
        rows, cols = patch_grid(H, W, cfg.patch)
        coords = patch_coordinates(rows, cols).to(frames.device)
        codes = frame_codes(cfg.group, cfg.channels).to(frames.device)
        groups = math.ceil(T / cfg.group)
        first = epochs_of(options)
        later = max(10, int(LATER_GROUP_FRACTION * first))
        first *= FIRST_GROUP_FACTOR
        torch.manual_seed(0)
        net = NirvanaGroupNet(cfg, quantize_all=options["recipe"] == "paper").to(frames.device)
        latents = [getattr(net, n).q for n in QUANTIZED]
        bit_params = list(net.bits.parameters())
        rest = [p for n, p in net.named_parameters() if not n.endswith(".q") and not n.startswith("bits.")]
        optimizer = torch.optim.Adam([{"params": latents, "lr": LR_LATENT}, {"params": rest, "lr": LR_NETWORK},
                                      {"params": bit_params, "lr": LR_BITS}])
        base_lrs = [g["lr"] for g in optimizer.param_groups]
        identity = clip_identity(self.name, architecture_of(cfg), frames)
        path = state_path(options)
        sections, previous, start, fit_seconds = [], None, 0, 0.0
        state = load_state(path, {"identity": identity, "effort": options["effort"]})
        if state is not None:
            try:
                net.load_state_dict(state["net"])
                optimizer.load_state_dict(state["optimizer"])
                sections, previous, start, fit_seconds = state["sections"], state["previous"], int(state["group"]), float(state["seconds"])
                if len(sections) != start or not 0 < start <= groups or not all(isinstance(s, bytes) for s in sections):
                    raise ValueError(f"{len(sections)} coded groups for a state at group {start} of {groups}")
            except (KeyError, RuntimeError, TypeError, ValueError) as exc:
                raise restore_failed(path, exc) from None
        for g in range(start, groups):
            began = time.time()
            target = frames[g * cfg.group : (g + 1) * cfg.group]
            count = len(target)
            steps = first if g == 0 else later
            scales = [1.0 if g == 0 else LATER_LATENT_LR, 1.0, 1.0]
            noise = torch.Generator(device=frames.device).manual_seed(g)  # rounding noise: reproducible on resume

            def step(k: int, target=target, count=count, noise=noise) -> torch.Tensor:
                out = assemble(net(coords, codes[:count]), rows, cols)[:, :, :H, :W]
                return F.mse_loss(out, target) + LAMBDA * net.latent_bits(previous, noise) / net.latent_count()

            def learning_rates(k: int, steps=steps, scales=scales) -> list[float]:  # cosine to 10% within each group
                return [scale * lr * cosine(k / steps, 1.0, 0.1) for lr, scale in zip(base_lrs, scales)]

            # the group is this fit's unit of resumption: the engine keeps no state of its own here
            run_fit(step, net, optimizer, steps, learning_rates, progress=progress, desc=f"nirvana group {g + 1}/{groups}")
            section, previous = code_group(net, previous)
            sections.append(section)
            fit_seconds += time.time() - began
            if path is not None:
                save_state(path, {"identity": identity, "effort": options["effort"], "net": net.state_dict(),
                                  "optimizer": optimizer.state_dict(), "sections": sections, "previous": previous,
                                  "group": g + 1, "seconds": fit_seconds})
        tags = [g * cfg.group for g in range(groups)]
        return FittedClip(architecture_of(cfg), sections, tags, [0], count_parameters(cfg),
                          {"fit_seconds": fit_seconds, "steps": first + later * (groups - 1), "groups": groups})

    def check_architecture(self, arch, header) -> int:
        cfg = config_of(arch)
        rows, cols = patch_grid(header.height, header.width, cfg.patch)
        if rows * cols > 2**20:
            raise HeaderFieldError("nirvana patch grid too large")
        return count_parameters(cfg)

    def payload_layout(self, arch, header):
        cfg = config_of(arch)
        return list(range(0, header.frames, cfg.group)), [0]

    def frame_work(self, arch, header) -> tuple[int, int]:
        cfg = config_of(arch)
        rows, cols = patch_grid(header.height, header.width, cfg.patch)
        return macs_per_frame(cfg, rows * cols), count_parameters(cfg)

    def activation_bytes(self, arch, header) -> int:
        """Every patch of a frame at once: the MLP's hidden rows and the 4C-channel map at full patch
        resolution, with temporaries (float32)."""
        cfg = config_of(arch)
        rows, cols = patch_grid(header.height, header.width, cfg.patch)
        return 3 * 4 * rows * cols * (2 * cfg.hidden + 4 * cfg.channels * cfg.patch * cfg.patch)

    def integer_arrays(self, arch, header, sections):
        """Each group's latent integers (after the differences are undone), group by group."""
        cfg = config_of(arch)
        arrays, previous = [], None
        for k, section in enumerate(sections):
            try:
                previous, _, _ = decode_group(cfg, section, previous)
            except CorruptPayloadError as exc:
                raise CorruptPayloadError(f"group {k}: {exc}") from None
            arrays += [previous[name].numpy() for name in QUANTIZED]
        return arrays

    def renderer(self, arch, header, sections):
        cfg = config_of(arch)
        rows, cols = patch_grid(header.height, header.width, cfg.patch)
        coords = patch_coordinates(rows, cols).to(self.device)
        codes = frame_codes(cfg.group, cfg.channels).to(self.device)
        net = NirvanaGroupNet(cfg).to(self.device).eval()
        cache = {"group": -1, "ints": None}

        def load_group(g: int) -> None:
            if g < cache["group"] or cache["group"] < 0:
                cache["group"], cache["ints"] = -1, None
            while cache["group"] < g:
                k = cache["group"] + 1
                try:
                    ints, weights, others = decode_group(cfg, sections[k], cache["ints"])
                except CorruptPayloadError as exc:
                    raise CorruptPayloadError(f"group {k} (frames from {k * cfg.group}): {exc}") from None
                cache["group"], cache["ints"] = k, ints
            for name in QUANTIZED:
                getattr(net, name).decoded = weights[name].to(self.device)
            net.load_state_dict({**net.state_dict(), **{n: t.to(self.device) for n, t in others.items()}})

        def render(t: int) -> torch.Tensor:
            g, f = divmod(t, cfg.group)
            if g != cache["group"]:
                load_group(g)
            return assemble(net(coords, codes[f : f + 1]), rows, cols)

        return render
