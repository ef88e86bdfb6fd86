"""The compressed-domain adapter: latents (or a ``.ncb`` file) -> visual tokens within a budget.

``tokens_from_latents`` turns :class:`~neuralcodecs.codec.Latents` of one or more files into
:class:`~neuralcodecs.adapter.tokens.VisualTokens`: each latent grid becomes one token per
position -- the latent vector itself, or a :class:`~neuralcodecs.adapter.projector.TokenProjector`'s
output when one is given -- then a token-budget strategy (:mod:`neuralcodecs.adapter.strategies`)
keeps at most the budget.  The rate map (bits per position, :attr:`Latents.bits`) follows the
tokens: summed over the latent positions a projected token covers.  No synthesis transform runs.
"""

from __future__ import annotations

import torch

from ..errors import CodecArgumentError
from .projector import TOKEN_STRIDE, pool_rate
from .strategies import get_strategy, resolve_budget
from .tokens import VisualTokens


def flatten_grid(grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token grid ``(T, D, h, w)`` -> tokens ``(T*h*w, D)`` and positions ``(T*h*w, 3)`` in ``(t, y, x)`` order."""
    frames, dim, h, w = grid.shape
    t, y, x = torch.meshgrid(torch.arange(frames), torch.arange(h), torch.arange(w), indexing="ij")
    return grid.permute(0, 2, 3, 1).reshape(-1, dim), torch.stack([t, y, x], -1).reshape(-1, 3)


def select_tokens(grid: torch.Tensor, rate: torch.Tensor | None, strategy: str = "all", budget=None):
    """One sample: a token grid ``(T, D, h, w)`` and its bits per token ``(T, h, w)`` (or ``None``)
    -> ``(tokens (k, D), positions (k, 3))`` chosen by ``strategy`` within ``budget``."""
    chosen = get_strategy(strategy)
    frames = grid.shape[0]
    if "rate" in chosen.needs and rate is None:
        raise CodecArgumentError(f"strategy {strategy!r} needs the bits per position, which these latents do not carry")
    if "video" in chosen.needs and frames < 2:
        raise CodecArgumentError(f"strategy {strategy!r} selects frames and needs video latents (T > 1), got one picture")
    tokens, positions = flatten_grid(grid)
    flat_rate = None if rate is None else rate.reshape(-1).float()
    if budget is None or strategy == "all":
        return tokens, positions
    importance = flat_rate if flat_rate is not None else (tokens.float() - tokens.float().mean(0)).pow(2).sum(1)
    k = resolve_budget(budget, len(tokens), importance)
    return chosen.select(tokens, positions, k, flat_rate)


def stack_samples(samples: list[tuple[torch.Tensor, torch.Tensor]], grid: tuple[int, int, int], codec: str = "",
                  strategy: str = "all") -> VisualTokens:
    """Per-sample ``(tokens (n_i, D), positions (n_i, 3))`` -> a padded :class:`VisualTokens`."""
    n = max(len(t) for t, _ in samples)
    dim = samples[0][0].shape[1]
    tokens = torch.zeros(len(samples), n, dim, dtype=samples[0][0].dtype)
    positions = torch.zeros(len(samples), n, 3, dtype=torch.long)
    mask = torch.zeros(len(samples), n, dtype=torch.bool)
    for i, (t, p) in enumerate(samples):
        tokens[i, : len(t)], positions[i, : len(t)], mask[i, : len(t)] = t, p, True
    return VisualTokens(tokens, mask, positions, grid, codec, strategy)


def latent_grid(latents, projector=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(token grid (T, D, h, w), bits per token (T, h, w) or None)`` of one file's latents.

    Only the positions that cover the picture are used (:meth:`Latents.picture_tensor`).
    """
    x = latents.picture_tensor().float()
    video = x.dim() == 4
    x = x if video else x[None]
    bits = None
    if latents.bits is not None:
        h, w = latents.picture_grid
        bits = latents.bits.float()[..., :h, :w]
        bits = bits if video else bits[None]
    if projector is None:
        return x, bits
    if latents.stride[0] != projector.stride or x.shape[1] != projector.in_channels:
        raise CodecArgumentError(f"projector for {projector.in_channels} channels at stride {projector.stride} got "
                                 f"{latents.codec} latents with {x.shape[1]} channels at stride {latents.stride[0]}")
    with torch.no_grad():
        grid = projector(x)
    if bits is not None:
        bits = torch.stack([pool_rate(b, TOKEN_STRIDE // latents.stride[0]) for b in bits])
        bits = bits[..., : grid.shape[-2], : grid.shape[-1]]
    return grid, bits


def tokens_from_latents(latents, projector=None, strategy: str = "all", budget=None) -> VisualTokens:
    """:class:`~neuralcodecs.codec.Latents` (one or a list, same codec) -> :class:`VisualTokens`.

    Args:
        latents: what :func:`neuralcodecs.latents` returns, for one or several files.
        projector: a :class:`TokenProjector` for these latents, or ``None`` (the latent vectors
            themselves are the tokens, ``D = C``).
        strategy: a name in :data:`~neuralcodecs.adapter.strategies.STRATEGIES`.
        budget: an int, a fraction in ``(0, 1]``, ``"adaptive"`` or ``None`` (all tokens).
    """
    items = list(latents) if isinstance(latents, (list, tuple)) else [latents]
    if not items:
        raise CodecArgumentError("no latents given")
    if len({lat.codec for lat in items}) > 1:
        raise CodecArgumentError("latents of several codecs in one batch: make one batch per codec")
    samples, grids = [], []
    for lat in items:
        grid, bits = latent_grid(lat, projector)
        grids.append(tuple(grid.shape[i] for i in (0, 2, 3)))
        samples.append(select_tokens(grid, bits, strategy, budget))
    full = tuple(max(g[i] for g in grids) for i in range(3))
    return stack_samples(samples, full, items[0].codec, strategy)


def check_projector_source(projector, codec: str, fingerprint: bytes) -> None:
    """:class:`CodecArgumentError` unless a loaded projector was trained on latents of this codec's weights."""
    source = getattr(projector, "source", None) or {}
    if source.get("codec") and source["codec"] != codec:
        raise CodecArgumentError(f"the projector was trained on {source['codec']} latents, the file is {codec}")
    if source.get("codec_fingerprint") and source["codec_fingerprint"] != fingerprint.hex():
        raise CodecArgumentError(f"the projector was trained on latents of other {codec} weights "
                                 f"({source['codec_fingerprint'][:12]}, the file's are {fingerprint.hex()[:12]})")


def tokens_from_file(data: bytes, projector=None, strategy: str = "all", budget=None, weights=None) -> VisualTokens:
    """A ``.ncb`` file's bytes -> :class:`VisualTokens` (entropy decoding only, no synthesis).

    A projector loaded from a weights file must have been trained on latents of the file's
    codec weights (:class:`CodecArgumentError` otherwise).
    """
    from .. import latents, read_header

    if projector is not None:
        header = read_header(data)
        check_projector_source(projector, header.codec, header.fingerprint)
    return tokens_from_latents(latents(data, weights=weights), projector, strategy, budget)
