"""Deterministic k-means of codebook vectors (the rate ladder of Mao et al. 2024).

k-means++ seeding from a seeded generator, then Lloyd iterations in float64 until no
assignment changes (or ``iterations``).  Unweighted, as the paper clusters the codewords
themselves, whatever their usage.  An empty cluster takes the point farthest from its centroid.
"""

from __future__ import annotations

import torch


def kmeans(points: torch.Tensor, k: int, iterations: int = 100, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(centroids (k, d) float32, labels (n,) int64)`` of ``points`` ``(n, d)``, ``k <= n``."""
    x = points.detach().to(torch.float64).cpu()
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"cannot form {k} clusters from {n} points")
    g = torch.Generator().manual_seed(seed)
    centroids = x[torch.randint(n, (1,), generator=g)]
    nearest = torch.cdist(x, centroids).pow(2).min(1).values
    for _ in range(1, k):
        total = nearest.sum()
        if total <= 0:  # every point already is a centroid: duplicates
            pick = torch.randint(n, (1,), generator=g)
        else:
            pick = torch.multinomial(nearest / total, 1, generator=g)
        centroids = torch.cat([centroids, x[pick]])
        nearest = torch.minimum(nearest, (x - x[pick]).pow(2).sum(1))
    labels = torch.cdist(x, centroids).argmin(1)
    for _ in range(iterations):
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp_min(1)[:, None].to(x.dtype))
        for c in torch.nonzero(empty).flatten():
            far = (x - centroids[labels]).pow(2).sum(1).argmax()
            centroids[c] = x[far]
            labels[far] = c
        new = torch.cdist(x, centroids).argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
    return centroids.float(), labels
