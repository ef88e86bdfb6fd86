"""The trainable VQGAN codebook codec (Mao et al., DCC 2024, on taming-transformers' VQGAN).

One VQ autoencoder and a ladder of codebooks: the base codebook (the largest ``K``) is trained
with the autoencoder; every smaller ``K`` starts as the k-means clustering of the base
codebook (:meth:`VQGANModel.init_ladder`) and is then fine-tuned with the encoder and decoder
frozen -- only the codebooks and the 1x1 convolutions on either side of the quantizer train,
each ``K`` with its own pair (the paper's codebook-only fine-tuning).  The quality is ``K``.

Quantizer (taming's ``VectorQuantizer2``, legacy form): nearest codeword, straight-through,
loss ``|sg(z_q) - z|^2 + 0.25 |z_q - sg(z)|^2``.  At this reduced scale, codewords whose usage
average falls below ``DEAD_USAGE / K`` are restarted on random encoder vectors of the batch
every ``restart_every`` autoencoder steps (taming does not; small codebooks trained briefly
collapse without it).  Shapes: ``x`` ``(B, 3, H, W)`` in [0, 1], ``H, W`` multiples of ``f``;
indices ``(B, H/f, W/f)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .autoencoder import Decoder, Encoder
from .kmeans import kmeans
from .restore import IndexRestorer

BETA = 0.25
STAGES = ("autoencoder", "codebooks", "restoration")
USAGE_DECAY = 0.99
DEAD_USAGE = 0.03  # times 1/K


class CodebookQuantizer(nn.Module):
    """Nearest-codeword quantization to ``K`` codewords of ``dim`` channels."""

    def __init__(self, K: int, dim: int):
        super().__init__()
        self.K, self.dim = K, dim
        self.codebook = nn.Parameter(torch.empty(K, dim).uniform_(-1.0 / K, 1.0 / K))
        self.register_buffer("usage", torch.full((K,), 1.0 / K))

    @torch.no_grad()
    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Indices ``(B, h, w)`` of the nearest codewords of ``z`` ``(B, dim, h, w)`` (ties: lowest)."""
        with torch.autocast(z.device.type, enabled=False):
            flat = z.float().permute(0, 2, 3, 1).reshape(-1, self.dim)
            cb = self.codebook.float()
            dist = flat.pow(2).sum(1, keepdim=True) + cb.pow(2).sum(1)[None] - 2 * flat @ cb.t()
            return dist.argmin(1).reshape(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codebook[indices].permute(0, 3, 1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_q straight-through, indices, vq loss)``."""
        indices = self.nearest(z)
        zf = z.float()
        z_q = self.lookup(indices).float()
        loss = F.mse_loss(zf, z_q.detach()) + BETA * F.mse_loss(z_q, zf.detach())
        if self.training:
            with torch.no_grad():
                counts = torch.bincount(indices.flatten(), minlength=self.K).float()
                self.usage.mul_(USAGE_DECAY).add_(counts / counts.sum(), alpha=1 - USAGE_DECAY)
        return zf + (z_q - zf).detach(), indices, loss

    @torch.no_grad()
    def restart_dead(self, z: torch.Tensor) -> int:
        """Move rarely used codewords onto random vectors of ``z`` ``(B, dim, h, w)``; returns how many."""
        dead = torch.nonzero(self.usage < DEAD_USAGE / self.K).flatten()
        if dead.numel() == 0:
            return 0
        flat = z.detach().float().permute(0, 2, 3, 1).reshape(-1, self.dim)
        picks = torch.randint(flat.shape[0], (dead.numel(),), device=flat.device)
        self.codebook.data[dead] = flat[picks].to(self.codebook.dtype)
        self.usage[dead] = 1.0 / self.K
        return int(dead.numel())


class VQGANModel(nn.Module):
    """VQ autoencoder with a codebook ladder.

    Args:
        ch, ch_mult, res_blocks: taming's encoder/decoder widths (``f = 2**(len(ch_mult)-1)``).
        code_dim: codeword channels.  ``z_channels`` (encoder output) equals it.
        ladder: the codebook sizes (qualities), ascending; the largest is the base codebook.
        stage: ``"autoencoder"`` (train everything with the base codebook), ``"codebooks"``
            (encoder and decoder frozen; a random ``K`` of the ladder per step) or
            ``"restoration"`` (only the lost-index restorers train).
        restart_every: autoencoder steps between dead-codeword restarts (0: never).
        restorer: ``(dim, layers, heads, window)`` of the per-``K`` restoration transformers.
    """

    def __init__(self, ch: int = 32, ch_mult=(1, 2, 2, 4, 4), res_blocks: int = 1, code_dim: int = 64,
                 ladder=(8, 16, 64, 256, 1024), stage: str = "autoencoder", restart_every: int = 100,
                 restorer=(96, 3, 4, 16)):
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
        ladder = sorted(int(k) for k in ladder)
        if len(set(ladder)) != len(ladder) or ladder[0] < 2:
            raise ValueError(f"bad codebook ladder {ladder}")
        self.ladder, self.base, self.stage, self.restart_every = ladder, ladder[-1], stage, int(restart_every)
        self.num_levels = len(ladder)
        self.stride = 2 ** (len(ch_mult) - 1)
        self.encoder = Encoder(ch, tuple(ch_mult), res_blocks, code_dim)
        self.decoder = Decoder(ch, tuple(ch_mult), res_blocks, code_dim)
        self.quant_convs = nn.ModuleDict({str(k): nn.Conv2d(code_dim, code_dim, 1) for k in ladder})
        self.post_quant_convs = nn.ModuleDict({str(k): nn.Conv2d(code_dim, code_dim, 1) for k in ladder})
        self.quantizers = nn.ModuleDict({str(k): CodebookQuantizer(k, code_dim) for k in ladder})
        dim, layers, heads, window = (int(v) for v in restorer)
        self.restorers = nn.ModuleDict({str(k): IndexRestorer(k, dim, layers, heads, window) for k in ladder})
        self.register_buffer("ladder_ready", torch.zeros((), dtype=torch.bool))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        frozen = {"autoencoder": [self.restorers], "codebooks": [self.encoder, self.decoder, self.restorers],
                  "restoration": [self.encoder, self.decoder, self.quant_convs, self.post_quant_convs, self.quantizers]}
        for module in frozen[stage]:
            for p in module.parameters():
                p.requires_grad_(False)

    def trainable_names(self) -> list[str]:
        return [n for n, p in self.named_parameters() if p.requires_grad]

    @torch.no_grad()
    def init_ladder(self, seed: int = 0) -> None:
        """Every smaller codebook := k-means of the base codebook; its 1x1 convolutions := the base's."""
        base = str(self.base)
        for k in self.ladder[:-1]:
            centroids, _ = kmeans(self.quantizers[base].codebook, k, seed=seed)
            self.quantizers[str(k)].codebook.data.copy_(centroids)
            self.quantizers[str(k)].usage.fill_(1.0 / k)
            self.quant_convs[str(k)].load_state_dict(self.quant_convs[base].state_dict())
            self.post_quant_convs[str(k)].load_state_dict(self.post_quant_convs[base].state_dict())
        self.ladder_ready.fill_(True)

    # ------------------------------------------------------------------ coding
    def features(self, x: torch.Tensor, K: int) -> torch.Tensor:
        """Pre-quantization codes ``(B, code_dim, H/f, W/f)`` for codebook ``K``."""
        return self.quant_convs[str(K)](self.encoder(x * 2 - 1))

    @torch.no_grad()
    def encode_indices(self, x: torch.Tensor, K: int) -> torch.Tensor:
        return self.quantizers[str(K)].nearest(self.features(x, K))

    def decode_codewords(self, z_q: torch.Tensor, K: int) -> torch.Tensor:
        return (self.decoder(self.post_quant_convs[str(K)](z_q)) + 1) / 2

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor, K: int) -> torch.Tensor:
        """Pixels ``(B, 3, H, W)`` in [0, 1] (clamped)."""
        return self.decode_codewords(self.quantizers[str(K)].lookup(indices), K).clamp(0, 1)

    # ------------------------------------------------------------------ training
    def forward(self, x: torch.Tensor, K: int) -> dict:
        """``x_hat`` (unclamped), ``indices``, ``vq_loss``, ``bpp`` (estimate under the usage prior)."""
        quantizer = self.quantizers[str(K)]
        z = self.features(x, K)
        z_q, indices, vq_loss = quantizer(z)
        x_hat = self.decode_codewords(z_q, K)
        if self.training:
            self.steps += 1
            if self.stage == "autoencoder" and self.restart_every and int(self.steps) % self.restart_every == 0:
                quantizer.restart_dead(z)
        with torch.no_grad():
            p = quantizer.usage / quantizer.usage.sum()
            bpp = -torch.log2(p[indices].clamp_min(2.0**-24)).sum() / (x.shape[0] * x.shape[2] * x.shape[3])
        return {"x_hat": x_hat, "indices": indices, "vq_loss": vq_loss, "bpp": bpp}
