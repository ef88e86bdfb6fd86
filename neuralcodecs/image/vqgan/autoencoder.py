"""The taming-transformers VQGAN encoder and decoder (Esser et al. 2021), any depth.

Residual blocks of GroupNorm (32 groups, or fewer for narrow layers) -> swish -> 3x3 conv, a
1x1 shortcut where the width changes; single-head self-attention blocks at the lowest
resolution; stride-2 convolutions down, nearest-neighbour x2 + 3x3 conv up.  With
``len(ch_mult) = L`` the code grid is at stride ``2**(L-1)``.  Shapes: ``x`` ``(B, 3, H, W)`` in
[-1, 1] -> ``(B, z, H/f, W/f)``; the decoder the reverse (no output activation).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, c // 4) if c >= 4 else 1, c, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions, residual."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = _norm(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None], v.transpose(1, 2)[:, None])
        return x + self.proj(out[:, 0].transpose(1, 2).reshape(B, C, h, w))


class Encoder(nn.Module):
    def __init__(self, ch: int, ch_mult: tuple[int, ...], res_blocks: int, z_channels: int):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        blocks: list[nn.Module] = []
        c = ch
        for i, mult in enumerate(ch_mult):
            for _ in range(res_blocks):
                blocks.append(ResnetBlock(c, ch * mult))
                c = ch * mult
            if i == len(ch_mult) - 1:
                blocks.append(AttnBlock(c))
            else:
                blocks.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.down = nn.Sequential(*blocks)
        self.mid = nn.Sequential(ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c))
        self.norm_out, self.conv_out = _norm(c), nn.Conv2d(c, z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.down(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Upsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    def __init__(self, ch: int, ch_mult: tuple[int, ...], res_blocks: int, z_channels: int):
        super().__init__()
        c = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c, 3, padding=1)
        self.mid = nn.Sequential(ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c))
        blocks: list[nn.Module] = []
        for i, mult in reversed(list(enumerate(ch_mult))):
            for _ in range(res_blocks + 1):
                blocks.append(ResnetBlock(c, ch * mult))
                c = ch * mult
            if i == len(ch_mult) - 1:
                blocks.append(AttnBlock(c))
            if i > 0:
                blocks.append(Upsample(c))
        self.up = nn.Sequential(*blocks)
        self.norm_out, self.conv_out = _norm(c), nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.up(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))
