"""The codec table: name -> kind, class, weights file, quality, options, objective, capabilities.

Everything outside a codec's own package (the public API, the CLI, evaluation, rate control,
training, the demo) reaches codecs through this registry and the contract in
:mod:`neuralcodecs.codec`.  Every entry of :data:`CODECS` is data: the codec class, its training
objective and the declarations a codec family keeps in its own torch-free ``options`` module are
named by ``"package.module:attribute"`` references, and one loader (:func:`resolve`) imports a
module only when something asks for what it holds.  This module imports no codec module and no
torch: ``ncodec list`` and ``ncodec info`` read it.  A new family is a module (or sub-package)
plus one entry below.

How a codec is built (:func:`load`): a ``"shipped"`` codec (``weights`` names its file in
``neuralcodecs/weights``) as ``Class.from_weights(path, device)``; a codec whose weights travel in
the stream as ``Class(device)``.  Loaded codecs are cached per (name, weights file, device).
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from . import paths
from .codec import FEATURES, IMAGE, KINDS, VIDEO, WEIGHTS_IN_STREAM, WEIGHTS_SHIPPED, CodecOption, QualitySpec
from .errors import UnknownCodecError, WeightsError


def resolve(reference: str):
    """The object a ``"package.module:attribute"`` reference names (importing the module)."""
    module, sep, attribute = reference.partition(":")
    if not (module and sep and attribute):
        raise ValueError(f"a registry reference is 'package.module:attribute', got {reference!r}")
    return getattr(importlib.import_module(module), attribute)


def _resolved(value):
    return resolve(value) if isinstance(value, str) else value


class CodecSpec:
    """What the registry knows about a codec without loading it.

    Attributes:
        name: registry name (written into files).
        kind: ``"image"`` or ``"video"``.
        description: one line for ``ncodec list``.
        codec: ``"module:Class"`` of the :class:`~neuralcodecs.codec.Codec` subclass.
        quality: the codec's :class:`QualitySpec` (what the CLI and help texts show; the loaded
            codec may narrow it to what its weights were trained for); given as a value or as a
            reference to one, resolved on first use.
        weights: file name of the shipped weights, or ``None`` when the weights travel in the
            stream (overfitted codecs).
        options: codec-specific encode options (:class:`CodecOption`), each given as a value or
            as a reference to one, resolved on first use.
        objective: ``"module:function"`` returning the training
            :class:`~neuralcodecs.codec.Objective`, or ``None``.
        capabilities: free-form flags (``variable_rate``, ``latents``, ``default``...).
    """

    def __init__(self, name: str, kind: str, description: str, codec: str, quality: QualitySpec | str,
                 weights: str | None = None, options: tuple[CodecOption | str, ...] = (), objective: str | None = None,
                 capabilities: dict | None = None):
        if kind not in KINDS:
            raise ValueError(f"codec {name}: kind must be one of {KINDS}, got {kind!r}")
        for reference in (codec, objective):
            if reference is not None and (not isinstance(reference, str) or ":" not in reference):
                raise ValueError(f"codec {name}: classes and objectives are 'module:attribute' references, got {reference!r}")
        self.name, self.kind, self.description = name, kind, description
        self.codec, self.weights, self.objective = codec, weights, objective
        self._quality, self._options = quality, tuple(options)
        self.capabilities = dict(capabilities or {})

    def __repr__(self) -> str:
        return f"CodecSpec({self.name!r}, {self.kind!r}, codec={self.codec!r}, weights={self.weights!r})"

    @functools.cached_property
    def quality(self) -> QualitySpec:
        return _resolved(self._quality)

    @functools.cached_property
    def options(self) -> tuple[CodecOption, ...]:
        return tuple(_resolved(o) for o in self._options)

    @property
    def weights_policy(self) -> str:
        """``"shipped"`` (a file in ``neuralcodecs/weights``, fingerprint in every stream) or
        ``"stream"`` (weights inside the stream; no file)."""
        return WEIGHTS_SHIPPED if self.weights is not None else WEIGHTS_IN_STREAM

    @property
    def weights_path(self) -> Path | None:
        return paths.WEIGHTS_DIR / self.weights if self.weights else None

    @property
    def ready(self) -> bool:
        """Whether the codec can be used as installed (its weights file is present)."""
        return self.weights is None or self.weights_path.exists()

    def weights_candidates(self) -> list[Path]:
        """The shipped weights file first, then any retired ones (``<stem>-*.safetensors``).

        Retired files keep streams made with earlier weights decodable: decoding picks the
        file whose fingerprint the stream names.
        """
        return paths.weights_candidates(self.weights) if self.weights else []

    def references(self) -> list[str]:
        """Every ``"module:attribute"`` the entry names (class, objective, quality, options), in that order."""
        declared = [self.codec, self.objective, self._quality, *self._options]
        return [d for d in declared if isinstance(d, str)]

    def build(self, weights_path: Path | None, device: str):
        """A new codec instance (the one place that imports the codec's module)."""
        cls = resolve(self.codec)
        if self.weights is None:
            return cls(device)
        return cls.from_weights(weights_path, device)


# --------------------------------------------------------------------------- the table

#: the hyperprior's gain ladder: 8 levels, fractional qualities (s2lic and stem share it)
_GAIN_LADDER = QualitySpec(1.0, 8.0, 4.0, 1 / 256, tuple(float(q) for q in range(1, 9)))
_INR = "neuralcodecs.inr.options"

CODECS: tuple[CodecSpec, ...] = (
    CodecSpec(
        "hyperprior", IMAGE,
        "mean-scale hyperprior (Minnen 2018, no context), gain units for variable rate, exact entropy parameters",
        codec="neuralcodecs.image.hyperprior_codec:HyperpriorCodec",
        quality=_GAIN_LADDER,
        weights="hyperprior.safetensors",
        options=("neuralcodecs.image.hyperprior_options:EFFORT_OPTION",),
        objective="neuralcodecs.image.hyperprior_codec:training_objective",
        capabilities={"variable_rate": True, "exact_entropy_parameters": True, "latents": True, "default": True},
    ),
    CodecSpec(
        "s2lic", IMAGE,
        "S2LIC (Wang 2024): SwinV2 transforms, ACGC channel/global-attention checkerboard context, "
        "gain units, exact entropy parameters",
        codec="neuralcodecs.image.s2lic.codec:S2licCodec",
        quality=_GAIN_LADDER,
        weights="s2lic.safetensors",
        options=("neuralcodecs.image.s2lic.options:EFFORT_OPTION",),
        objective="neuralcodecs.image.s2lic.objective:training_objective",
        capabilities={"variable_rate": True, "exact_entropy_parameters": True, "latents": True},
    ),
    CodecSpec(
        "mcquic", IMAGE,
        "McQuic (Zhu 2022): multi-codebook quantization, 3-level residual cascade, context-free "
        "categorical coding; quality = codebook set",
        codec="neuralcodecs.image.mcquic.codec:McQuicCodec",
        quality=QualitySpec.from_ladder(range(1, 6), default=3, unit="codebook set"),
        weights="mcquic.safetensors",
        objective="neuralcodecs.image.mcquic.objective:training_objective",
        capabilities={"latents": True, "exact_entropy_parameters": True},
        options=("neuralcodecs.image.mcquic.options:EFFORT_OPTION",),
    ),
    CodecSpec(
        "vqgan", IMAGE,
        "VQGAN codebook codec (Mao 2024): one VQ autoencoder, k-means codebook ladder with "
        "codebook-only fine-tuning; quality = codebook size K",
        codec="neuralcodecs.image.vqgan.codec:VQGANCodec",
        quality=QualitySpec.from_ladder((8, 16, 64, 256, 1024), default=64, unit="codebook size"),
        weights="vqgan.safetensors",
        options=("neuralcodecs.image.vqgan.options:EFFORT_OPTION",),
        objective="neuralcodecs.image.vqgan.objective:training_objective",
        capabilities={"latents": True, "exact_entropy_parameters": True},
    ),
    CodecSpec(
        "walloc", IMAGE,
        "WaLLoC (Jacobellis 2025): wavelet packet around a linear encoder and a conv decoder, "
        "8-bit companded latents, MED spatial prediction under per-channel residual priors; quality = latent channel count",
        codec="neuralcodecs.image.walloc.codec:WaLLoCCodec",
        quality=QualitySpec.from_ladder(range(1, 6), default=3, unit="latent channel set"),
        weights="walloc.safetensors",
        options=("neuralcodecs.image.walloc.options:EFFORT_OPTION",),
        objective="neuralcodecs.image.walloc.objective:training_objective",
        capabilities={"latents": True, "exact_entropy_parameters": True},
    ),
    CodecSpec(
        "stem", VIDEO,
        "STEM (Liu 2021): frozen hyperprior transforms on every frame, spatiotemporal entropy model "
        "(temporal prior on the previous latent, conditioned hyperprior, checkerboard spatial prior), exact parameters",
        codec="neuralcodecs.stem.codec:StemCodec",
        quality=_GAIN_LADDER,  # the hyperprior's ladder
        weights="stem.safetensors",
        options=("neuralcodecs.stem.options:INTRA_PERIOD_OPTION", "neuralcodecs.stem.options:EFFORT_OPTION"),
        objective="neuralcodecs.stem.objective:training_objective",
        capabilities={"latents": True, "exact_entropy_parameters": True, "random_access": True, "default": True},
    ),
    CodecSpec(
        "nerv", VIDEO,
        "NeRV (Chen 2021): the clip fitted as a network of the frame time; pruned, 8-bit, entropy-coded "
        "weights are the file; quality = model size (M parameters)",
        codec="neuralcodecs.inr.nerv_codec:NervCodec",
        quality=f"{_INR}:MODEL_SIZE_QUALITY",
        options=(f"{_INR}:EFFORT_OPTION", f"{_INR}:FIT_STATE_OPTION", f"{_INR}:PRUNE_OPTION", f"{_INR}:RECIPE_OPTION"),
        capabilities={"random_access": True, "overfitted": True},
    ),
    CodecSpec(
        "hnerv", VIDEO,
        "HNeRV (Chen 2023): a ConvNeXt encoder's per-frame embeddings (6-bit) and a decoder with growing "
        "kernels (8-bit), entropy-coded; quality = model size (M values: decoder + embeddings)",
        codec="neuralcodecs.inr.hnerv_codec:HnervCodec",
        quality=f"{_INR}:MODEL_SIZE_QUALITY",
        options=(f"{_INR}:EFFORT_OPTION", f"{_INR}:FIT_STATE_OPTION"),
        capabilities={"random_access": True, "overfitted": True},
    ),
    CodecSpec(
        "nervpp", VIDEO,
        "NeRV++ (Ghorbel 2024): NeRV with gated separable residual blocks around each up-sampling block "
        "and a bilinear skip path, 8-bit weights; quality = model size (M parameters)",
        codec="neuralcodecs.inr.nervpp_codec:NervppCodec",
        quality=f"{_INR}:MODEL_SIZE_QUALITY",
        options=(f"{_INR}:EFFORT_OPTION", f"{_INR}:FIT_STATE_OPTION", f"{_INR}:PRUNE_OPTION"),
        capabilities={"random_access": True, "overfitted": True},
    ),
    CodecSpec(
        "nerv-boost", VIDEO,
        "NeRV-Boost (Zhang 2024): NeRV with Boosting-NeRV's conditional decoder (frame-time affine "
        "transforms, sine blocks) and its high-frequency loss, 8-bit weights; quality = model size (M parameters)",
        codec="neuralcodecs.inr.nerv_boost_codec:NervBoostCodec",
        quality=f"{_INR}:MODEL_SIZE_QUALITY",
        options=(f"{_INR}:EFFORT_OPTION", f"{_INR}:FIT_STATE_OPTION", f"{_INR}:PRUNE_OPTION"),
        capabilities={"random_access": True, "overfitted": True},
    ),
    CodecSpec(
        "hnerv-boost", VIDEO,
        "HNeRV-Boost (Zhang 2024): HNeRV with Boosting-NeRV's conditional decoder (frame-time affine "
        "transforms, sine blocks) and its high-frequency loss; quality = model size (M values: decoder + embeddings)",
        codec="neuralcodecs.inr.hnerv_boost_codec:HnervBoostCodec",
        quality=f"{_INR}:MODEL_SIZE_QUALITY",
        options=(f"{_INR}:EFFORT_OPTION", f"{_INR}:FIT_STATE_OPTION"),
        capabilities={"random_access": True, "overfitted": True},
    ),
    CodecSpec(
        "nirvana", VIDEO,
        "NIRVANA (Maiya 2023): per-group SIREN patch networks started from the previous group, integer "
        "weight latents with learned per-layer steps, coded as differences; quality = one group's size (M parameters)",
        codec="neuralcodecs.inr.nirvana_codec:NirvanaCodec",
        quality=f"{_INR}:MODEL_SIZE_QUALITY",
        options=(f"{_INR}:EFFORT_OPTION", f"{_INR}:FIT_STATE_OPTION", f"{_INR}:RECIPE_OPTION"),
        capabilities={"random_access": True, "overfitted": True},
    ),
    CodecSpec(
        "overfit", IMAGE,
        "Cool-chic-style overfitted codec: a latent pyramid, learned upsampling and synthesis fitted to each "
        "image, integer auto-regressive model decoded in wavefronts; quality = rate point (lambda)",
        codec="neuralcodecs.inr.overfit.codec:OverfitCodec",
        quality="neuralcodecs.inr.overfit.options:QUALITY",
        options=tuple(f"neuralcodecs.inr.overfit.options:{o}" for o in ("EFFORT_OPTION", "STEPS_OPTION", "PRESET_OPTION"))
        + (f"{_INR}:FIT_STATE_OPTION",),
        capabilities={"overfitted": True, "exact_entropy_parameters": True, "latents": True},
    ),
    CodecSpec(
        "student", FEATURES,
        "Entropic Student (Matsubara 2022): supervised compression for a MobileNetV2 classifier; a stride-4 "
        "factorized-prior bottleneck distilled from the teacher, decoded to ImageNet-1k class probabilities; quality = rate level",
        codec="neuralcodecs.student.codec:StudentCodec",
        quality="neuralcodecs.student.options:QUALITY",
        weights="student.safetensors",
        objective="neuralcodecs.student.objective:training_objective",
        capabilities={"latents": True, "exact_entropy_parameters": True},
    ),
)

_REGISTRY: dict[str, CodecSpec] = {}
_CACHE: dict[tuple[str, str, str], object] = {}


def register(entry: CodecSpec) -> CodecSpec:
    """Add a codec (the table's entries are added at import; tests add doubles)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"codec {entry.name!r} registered twice")
    _REGISTRY[entry.name] = entry
    return entry


for _entry in CODECS:
    register(_entry)


# --------------------------------------------------------------------------- queries


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
    """Every declared option of every codec, one per name (for the command line).

    Two codecs may share a flag only with the same type (the command line parses it once);
    ``ValueError`` names the clash otherwise.
    """
    seen: dict[str, tuple[CodecOption, str]] = {}
    for entry in _REGISTRY.values():
        for option in entry.options:
            first = seen.setdefault(option.name, (option, entry.name))
            if first[0].type is not option.type:
                raise ValueError(f"option {option.flag} of {entry.name} clashes with {first[1]}'s (another type)")
    return [option for option, _ in seen.values()]


def objective(name: str):
    """The training objective of a codec (``ncodec train`` / ``ncodec export``)."""
    entry = spec(name)
    if entry.objective is None:
        raise UnknownCodecError(f"codec {name!r} is not trainable with ncodec train")
    return resolve(entry.objective)()


# --------------------------------------------------------------------------- loading


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
    if entry.weights is None:
        if weights is not None:
            raise WeightsError(f"codec {name!r} carries its weights in the stream; it takes no weights file")
        return _load_cached(entry, None, device)
    if weights is not None:
        return _load_cached(entry, Path(weights), device)
    candidates = [p for p in entry.weights_candidates() if p.exists()]
    if not candidates:
        raise WeightsError(f"no weights file for codec {name!r} in {paths.WEIGHTS_DIR}")
    if fingerprint is not None:
        for path in candidates:
            codec = _load_cached(entry, path, device)
            if codec.fingerprint == fingerprint:
                return codec
    return _load_cached(entry, candidates[0], device)


def _load_cached(entry: CodecSpec, path: Path | None, device: str):
    key = (entry.name, str(path.resolve()) if path else "", str(device))
    if key not in _CACHE:
        _CACHE[key] = entry.build(path, device)
    return _CACHE[key]
