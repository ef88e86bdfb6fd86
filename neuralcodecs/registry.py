"""Codec name -> builder, weights policy, quality, options and training objective.

Everything outside a codec's own module (the public API, the CLI, evaluation, rate
control, training, the demo) reaches codecs through this registry and the contract in
:mod:`neuralcodecs.codec`.  A new family is a module plus one :func:`register` call below.
This module imports no torch: ``ncodec list`` and ``ncodec info`` read it.  Loaded codecs
are cached per (name, weights, device).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .codec import IMAGE, KINDS, VIDEO, WEIGHTS_IN_STREAM, WEIGHTS_POLICIES, WEIGHTS_SHIPPED, CodecOption, QualitySpec
from .errors import UnknownCodecError, WeightsError
from .inr import options as inr_options
from .paths import WEIGHTS_DIR


@dataclass(frozen=True)
class CodecSpec:
    """What the registry knows about a codec without loading it.

    Attributes:
        name: registry name (written into files).
        kind: ``"image"`` or ``"video"``.
        description: one line for ``ncodec list``.
        load: ``load(weights_path or None, device) -> Codec``.
        quality: the codec's :class:`QualitySpec` (what the CLI and help texts show; the
            loaded codec may narrow it to what its weights were trained for).
        weights_policy: ``"shipped"`` (a file in ``neuralcodecs/weights``, fingerprint in
            every stream) or ``"stream"`` (weights inside the stream; no file).
        weights: file name of the shipped weights (``None`` for ``"stream"``).
        options: codec-specific encode options (:class:`CodecOption`).
        objective: returns the training :class:`~neuralcodecs.codec.Objective`, or None.
        capabilities: free-form flags (``variable_rate``, ``latents``, ...).
        demo_quality: quality ``ncodec demo`` uses (default: the quality default).
    """

    name: str
    kind: str
    description: str
    load: Callable
    quality: QualitySpec
    weights_policy: str = WEIGHTS_SHIPPED
    weights: str | None = None
    options: tuple[CodecOption, ...] = ()
    objective: Callable | None = None
    capabilities: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS or self.weights_policy not in WEIGHTS_POLICIES:
            raise ValueError(f"codec {self.name}: bad kind or weights policy")
        if (self.weights_policy == WEIGHTS_SHIPPED) != (self.weights is not None):
            raise ValueError(f"codec {self.name}: a shipped-weights codec names its file, and only it")

    @property
    def weights_path(self) -> Path | None:
        return WEIGHTS_DIR / self.weights if self.weights else None

    @property
    def ready(self) -> bool:
        """Whether the codec can be used as installed (its weights file is present)."""
        return self.weights_policy == WEIGHTS_IN_STREAM or self.weights_path.exists()

    def weights_candidates(self) -> list[Path]:
        """The shipped weights file first, then any retired ones (``<stem>-*.safetensors``).

        Retired files keep streams made with earlier weights decodable: decoding picks the
        file whose fingerprint the stream names.
        """
        if self.weights is None:
            return []
        stem = Path(self.weights).stem
        retired = sorted(WEIGHTS_DIR.glob(f"{stem}-*.safetensors"))
        return [WEIGHTS_DIR / self.weights, *retired]


_REGISTRY: dict[str, CodecSpec] = {}
_CACHE: dict[tuple[str, str, str], object] = {}


def register(entry: CodecSpec) -> CodecSpec:
    """Add a codec; option flags must not clash with another codec's flag of another type."""
    if entry.name in _REGISTRY:
        raise ValueError(f"codec {entry.name!r} registered twice")
    for option in entry.options:
        for other in all_options():
            if other.name == option.name and other.type is not option.type:
                raise ValueError(f"option {option.flag} of {entry.name} clashes with another codec's")
    _REGISTRY[entry.name] = entry
    return entry


def spec(name: str) -> CodecSpec:
    """The registry entry of ``name``; :class:`UnknownCodecError` if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownCodecError(
            f"no codec named {name!r} in this installation; available: {', '.join(sorted(_REGISTRY))}"
        ) from None


def names(kind: str | None = None) -> list[str]:
    """Registered codec names (of one ``kind`` if given), sorted."""
    return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)


def default_codec(kind: str = IMAGE) -> str:
    """The codec used when none is named: the first ready one of ``kind`` flagged ``default``,
    else the first ready one."""
    ready = [n for n in names(kind) if spec(n).ready]
    flagged = [n for n in ready if spec(n).capabilities.get("default")]
    if not (flagged or ready):
        raise UnknownCodecError(f"no {kind} codec with weights is installed")
    return (flagged or ready)[0]


def all_options() -> list[CodecOption]:
    """Every declared option of every codec, one per name (for the command line)."""
    seen: dict[str, CodecOption] = {}
    for entry in _REGISTRY.values():
        for option in entry.options:
            seen.setdefault(option.name, option)
    return list(seen.values())


def load(name: str, weights: str | Path | None = None, device: str = "cpu", fingerprint: bytes | None = None):
    """A ready codec (cached).

    Args:
        name: registry name.
        weights: a weights file; default: the shipped one, or with ``fingerprint`` the
            shipped or retired file that has that fingerprint (the one a stream names).
        device: torch device.
        fingerprint: 16-byte weights fingerprint to look for when ``weights`` is None.
    """
    from .devices import resolve_device

    entry = spec(name)
    device = str(resolve_device(device))
    if entry.weights_policy == WEIGHTS_IN_STREAM:
        if weights is not None:
            raise WeightsError(f"codec {name!r} carries its weights in the stream; it takes no weights file")
        return _load_cached(entry, None, device)
    if weights is not None:
        return _load_cached(entry, Path(weights), device)
    candidates = [p for p in entry.weights_candidates() if p.exists()]
    if not candidates:
        raise WeightsError(f"no weights file for codec {name!r} in {WEIGHTS_DIR}")
    if fingerprint is not None:
        for path in candidates:
            codec = _load_cached(entry, path, device)
            if codec.fingerprint == fingerprint:
                return codec
    return _load_cached(entry, candidates[0], device)


def _load_cached(entry: CodecSpec, path: Path | None, device: str):
    key = (entry.name, str(path.resolve()) if path else "", str(device))
    if key not in _CACHE:
        _CACHE[key] = entry.load(path, device)
    return _CACHE[key]


def objective(name: str):
    """The training objective of a codec (``ncodec train`` / ``ncodec export``)."""
    entry = spec(name)
    if entry.objective is None:
        raise UnknownCodecError(f"codec {name!r} is not trainable with ncodec train")
    return entry.objective()


# --------------------------------------------------------------------------- entries


def _load_hyperprior(weights_path, device):
    from .image.hyperprior_codec import HyperpriorCodec

    return HyperpriorCodec.from_weights(weights_path, device)


def _hyperprior_objective():
    from .image.hyperprior_codec import training_objective

    return training_objective()


register(
    CodecSpec(
        name="hyperprior",
        kind=IMAGE,
        description="mean-scale hyperprior (Minnen 2018, no context), gain units for variable rate, exact entropy parameters",
        load=_load_hyperprior,
        quality=QualitySpec(1.0, 8.0, 4.0, 1 / 256, tuple(float(q) for q in range(1, 9))),
        weights="hyperprior.safetensors",
        objective=_hyperprior_objective,
        capabilities={"variable_rate": True, "exact_entropy_parameters": True, "latents": True, "default": True},
    )
)


from .image.s2lic.options import EFFORT_OPTION as _S2LIC_EFFORT  # noqa: E402  (torch-free)


def _load_s2lic(weights_path, device):
    from .image.s2lic.codec import S2licCodec

    return S2licCodec.from_weights(weights_path, device)


def _s2lic_objective():
    from .image.s2lic.objective import training_objective

    return training_objective()


register(
    CodecSpec(
        name="s2lic",
        kind=IMAGE,
        description="S2LIC (Wang 2024): SwinV2 transforms, ACGC channel/global-attention checkerboard context, "
        "gain units, exact entropy parameters",
        load=_load_s2lic,
        quality=QualitySpec(1.0, 8.0, 4.0, 1 / 256, tuple(float(q) for q in range(1, 9))),
        weights="s2lic.safetensors",
        options=(_S2LIC_EFFORT,),
        objective=_s2lic_objective,
        capabilities={"variable_rate": True, "exact_entropy_parameters": True, "latents": True},
    )
)


def _load_mcquic(weights_path, device):
    from .image.mcquic.codec import McQuicCodec

    return McQuicCodec.from_weights(weights_path, device)


def _mcquic_objective():
    from .image.mcquic.objective import training_objective

    return training_objective()


register(
    CodecSpec(
        name="mcquic",
        kind=IMAGE,
        description="McQuic (Zhu 2022): multi-codebook quantization, 3-level residual cascade, context-free "
        "categorical coding; quality = codebook set",
        load=_load_mcquic,
        quality=QualitySpec.from_ladder(range(1, 6), default=3, unit="codebook set"),
        weights="mcquic.safetensors",
        objective=_mcquic_objective,
        capabilities={"latents": True, "exact_entropy_parameters": True},
    )
)


def _load_vqgan(weights_path, device):
    from .image.vqgan.codec import VQGANCodec

    return VQGANCodec.from_weights(weights_path, device)


def _vqgan_objective():
    from .image.vqgan.objective import training_objective

    return training_objective()


register(
    CodecSpec(
        name="vqgan",
        kind=IMAGE,
        description="VQGAN codebook codec (Mao 2024): one VQ autoencoder, k-means codebook ladder with "
        "codebook-only fine-tuning; quality = codebook size K",
        load=_load_vqgan,
        quality=QualitySpec.from_ladder((8, 16, 64, 256, 1024), default=64, unit="codebook size"),
        weights="vqgan.safetensors",
        objective=_vqgan_objective,
        capabilities={"latents": True, "exact_entropy_parameters": True},
    )
)


def _load_walloc(weights_path, device):
    from .image.walloc.codec import WaLLoCCodec

    return WaLLoCCodec.from_weights(weights_path, device)


def _walloc_objective():
    from .image.walloc.objective import training_objective

    return training_objective()


register(
    CodecSpec(
        name="walloc",
        kind=IMAGE,
        description="WaLLoC (Jacobellis 2025): wavelet packet around a linear encoder and a conv decoder, "
        "8-bit companded latents, MED spatial prediction under per-channel residual priors; quality = latent channel count",
        load=_load_walloc,
        quality=QualitySpec.from_ladder(range(1, 6), default=3, unit="latent channel set"),
        weights="walloc.safetensors",
        objective=_walloc_objective,
        capabilities={"latents": True, "exact_entropy_parameters": True},
    )
)


def _load_stem(weights_path, device):
    from .stem.codec import StemCodec

    return StemCodec.from_weights(weights_path, device)


def _stem_objective():
    from .stem.training import training_objective

    return training_objective()


register(
    CodecSpec(
        name="stem",
        kind=VIDEO,
        description="STEM (Liu 2021): frozen hyperprior transforms on every frame, spatiotemporal entropy model "
        "(temporal prior on the previous latent, conditioned hyperprior, checkerboard spatial prior), exact parameters",
        load=_load_stem,
        quality=QualitySpec(1.0, 8.0, 4.0, 1 / 256, tuple(float(q) for q in range(1, 9))),  # the hyperprior's ladder
        weights="stem.safetensors",
        options=(
            CodecOption("intra_period", int, 32, "frames per intra (I) frame; 0 = only the first frame", minimum=0, maximum=65535),
        ),
        objective=_stem_objective,
        capabilities={"latents": True, "exact_entropy_parameters": True, "random_access": True, "default": True},
    )
)



def _inr_loader(module: str, cls: str):
    def load(weights_path, device):
        import importlib

        return getattr(importlib.import_module(f"neuralcodecs.inr.{module}"), cls)(device)

    return load


def _register_inr(name: str, description: str, module: str, cls: str, options: tuple):
    register(
        CodecSpec(
            name=name,
            kind=VIDEO,
            description=description,
            load=_inr_loader(module, cls),
            quality=inr_options.MODEL_SIZE_QUALITY,
            weights_policy=WEIGHTS_IN_STREAM,
            options=options,
            capabilities={"random_access": True, "overfitted": True},
        )
    )


_register_inr("nerv", "NeRV (Chen 2021): the clip fitted as a network of the frame time; pruned, 8-bit, entropy-coded "
              "weights are the file; quality = model size (M parameters)", "nerv_codec", "NervCodec",
              (inr_options.EFFORT_OPTION, inr_options.FIT_STATE_OPTION, inr_options.PRUNE_OPTION))
_register_inr("hnerv", "HNeRV (Chen 2023): a ConvNeXt encoder's per-frame embeddings (6-bit) and a decoder with growing "
              "kernels (8-bit), entropy-coded; quality = model size (M values: decoder + embeddings)", "hnerv_codec", "HnervCodec",
              (inr_options.EFFORT_OPTION, inr_options.FIT_STATE_OPTION))
_register_inr("nirvana", "NIRVANA (Maiya 2023): per-group SIREN patch networks started from the previous group, integer "
              "weight latents with learned per-layer steps, coded as differences; quality = one group's size (M parameters)",
              "nirvana_codec", "NirvanaCodec", (inr_options.EFFORT_OPTION, inr_options.FIT_STATE_OPTION))


def _load_overfit(weights_path, device):
    from .inr.overfit.codec import OverfitCodec

    return OverfitCodec(device)


def _register_overfit():
    from .inr.overfit import options as overfit_options

    register(
        CodecSpec(
            name="overfit",
            kind=IMAGE,
            description="Cool-chic-style overfitted codec: a latent pyramid, learned upsampling and synthesis fitted to each "
            "image, integer auto-regressive model decoded in wavefronts; quality = rate point (lambda)",
            load=_load_overfit,
            quality=overfit_options.QUALITY,
            weights_policy=WEIGHTS_IN_STREAM,
            options=(overfit_options.EFFORT_OPTION, inr_options.FIT_STATE_OPTION),
            capabilities={"overfitted": True, "exact_entropy_parameters": True, "latents": True},
        )
    )


_register_overfit()
