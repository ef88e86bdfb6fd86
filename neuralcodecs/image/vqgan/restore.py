"""Lost-index restoration for the vqgan codec: a masked-token transformer over the index map.

Mao et al. restore indices lost in transmission with a transformer over a sliding window of the
index map; their restoration code is unreleased and the authors suggest a MaskGIT-style model.
This is our design, stated as such: one small bidirectional transformer per codebook size ``K``
(vocabulary ``K`` plus a mask token, learned positions on a ``window x window`` grid), trained
to predict randomly masked indices of real index maps (cross-entropy on the masked positions).
Restoration keeps every received index, predicts the lost ones in windows of ``window`` at a
stride of ``window / 2`` (each lost index takes the prediction of the window whose centre is
closest), fixing the most confident predictions first over a few rounds (MaskGIT decoding).

Shapes: index maps ``(h, w)`` int64 in ``[0, K)``; loss masks ``(h, w)`` bool (True = lost).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import CodecArgumentError


class IndexRestorer(nn.Module):
    """Bidirectional transformer: ``(B, window, window)`` tokens (``K`` = mask) -> logits ``(B, window, window, K)``."""

    def __init__(self, K: int, dim: int = 96, layers: int = 3, heads: int = 4, window: int = 16):
        super().__init__()
        self.K, self.window = K, window
        self.tokens = nn.Embedding(K + 1, dim)
        self.positions = nn.Parameter(torch.randn(window * window, dim))  # the scale of the token embeddings
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, K)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        B, h, w = tokens.shape
        x = self.tokens(tokens.reshape(B, h * w)) + self.positions[None, : h * w]
        return self.head(self.norm(self.body(x))).reshape(B, h, w, self.K)

    def masked_loss(self, indices: torch.Tensor, generator: torch.Generator | None = None,
                    fractions: tuple[float, float] = (0.05, 0.5)) -> torch.Tensor:
        """Cross-entropy on a random fraction (uniform in ``fractions`` per map) of masked positions of ``indices`` ``(B, W, W)``."""
        B = indices.shape[0]
        fraction = torch.empty(B, 1, 1).uniform_(*fractions, generator=generator).to(indices.device)
        lost = torch.rand(indices.shape, generator=generator).to(indices.device) < fraction
        lost[:, 0, 0] |= ~lost.flatten(1).any(1)  # at least one target per map
        logits = self(torch.where(lost, torch.full_like(indices, self.K), indices))
        return F.cross_entropy(logits[lost].float(), indices[lost])


def _check(indices: np.ndarray, lost: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    indices, lost = np.asarray(indices, dtype=np.int64), np.asarray(lost).astype(bool)
    if indices.ndim != 2 or lost.shape != indices.shape:
        raise CodecArgumentError(f"loss mask {lost.shape} must match the index map {indices.shape}")
    if lost.all():
        raise CodecArgumentError("every index is marked lost: nothing to restore from")
    if np.any(indices[~lost] < 0) or np.any(indices[~lost] >= K):
        raise CodecArgumentError(f"received indices must lie in [0, {K})")
    return indices, lost


def nearest_fill(indices: np.ndarray, lost: np.ndarray, K: int) -> np.ndarray:
    """The simple baseline: each lost index copies the nearest received one (city-block distance,
    ties broken up, left, down, right)."""
    indices, lost = _check(indices, lost, K)
    out, known = indices.copy(), ~lost
    while not known.all():  # one ring of city-block distance per pass: sources are the previous rings only
        ring_known, ring_out = known.copy(), out.copy()
        for dy, dx in ((1, 0), (0, 1), (-1, 0), (0, -1)):  # from above, from the left, ...
            src_known = np.zeros_like(known)
            src_vals = np.zeros_like(out)
            ys = slice(max(dy, 0), known.shape[0] + min(dy, 0))
            xs = slice(max(dx, 0), known.shape[1] + min(dx, 0))
            yt = slice(max(-dy, 0), known.shape[0] + min(-dy, 0))
            xt = slice(max(-dx, 0), known.shape[1] + min(-dx, 0))
            src_known[ys, xs], src_vals[ys, xs] = ring_known[yt, xt], ring_out[yt, xt]
            take = ~known & src_known
            out[take] = src_vals[take]
            known = known | take
    return out


def _window_starts(size: int, window: int) -> list[int]:
    if size <= window:
        return [0]
    step = window // 2
    starts = list(range(0, size - window + 1, step))
    return starts if starts[-1] == size - window else [*starts, size - window]


@torch.no_grad()
def restore_lost(restorer: IndexRestorer, indices: np.ndarray, lost: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Fill the lost positions of ``indices`` with the transformer's predictions; received ones are kept."""
    indices, lost = _check(indices, lost, restorer.K)
    h, w = indices.shape
    W = restorer.window
    device = next(restorer.parameters()).device
    H2, W2 = max(h, W), max(w, W)  # maps smaller than a window are padded with mask tokens
    current = torch.full((H2, W2), restorer.K, dtype=torch.int64)
    current[:h, :w] = torch.from_numpy(np.where(lost, restorer.K, indices))
    pending = torch.zeros((H2, W2), dtype=torch.bool)
    pending[:h, :w] = torch.from_numpy(lost)
    starts = [(y, x) for y in _window_starts(H2, W) for x in _window_starts(W2, W)]
    # each position is predicted by the window whose centre is closest
    owner = torch.full((H2, W2), -1, dtype=torch.int64)
    best = torch.full((H2, W2), float("inf"))
    yy, xx = torch.meshgrid(torch.arange(H2), torch.arange(W2), indexing="ij")
    for i, (y, x) in enumerate(starts):
        d = (yy - (y + (W - 1) / 2)).abs().maximum((xx - (x + (W - 1) / 2)).abs())
        inside = (yy >= y) & (yy < y + W) & (xx >= x) & (xx < x + W) & (d < best)
        owner[inside], best[inside] = i, d[inside]
    total = int(pending.sum())
    for r in range(max(1, rounds)):
        if not pending.any():
            break
        batch = torch.stack([current[y : y + W, x : x + W] for y, x in starts]).to(device)
        probs = restorer(batch).float().softmax(-1).cpu()
        confidence = torch.zeros((H2, W2))
        choice = torch.zeros((H2, W2), dtype=torch.int64)
        for i, (y, x) in enumerate(starts):
            mine = owner[y : y + W, x : x + W] == i
            p, c = probs[i].max(-1)
            confidence[y : y + W, x : x + W][mine] = p[mine]
            choice[y : y + W, x : x + W][mine] = c[mine]
        left = int(pending.sum())
        take = left if r == rounds - 1 else max(1, min(left, int(np.ceil(total * (r + 1) / rounds)) - (total - left)))
        order = torch.argsort(torch.where(pending, confidence, torch.full_like(confidence, -1.0)).flatten(), descending=True)[:take]
        flat_current, flat_pending = current.view(-1), pending.view(-1)
        flat_current[order] = choice.view(-1)[order]
        flat_pending[order] = False
    return current[:h, :w].numpy()
