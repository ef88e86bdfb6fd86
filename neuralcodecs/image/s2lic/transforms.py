"""S2LIC's analysis and synthesis transforms (Wang et al. 2024, arXiv 2403.14471).

``g_a``: enhancement block -> conv 5x5/2 -> RSTB -> conv 3x3/2 -> RSTB -> conv 3x3/2 -> RSTB ->
conv 3x3/2 to ``M`` channels (stride 16).  ``g_s`` mirrors it with transposed 3x3/2
convolutions, a 3x3 sub-pixel convolution to RGB and a second, independent enhancement block.
An RSTB is a residual group of SwinV2 blocks (``torchvision``'s ``SwinTransformerBlockV2``:
cosine attention, log-spaced continuous position bias, residual post-norm) alternating
shifted and unshifted windows, with no convolution (as in TIC, which the released S2LIC
model class follows).  The enhancement block is the residual dense block of InvCompress
(five densely connected 3x3 convolutions, LeakyReLU 0.2, a 1x1-3x3-1x1 middle, residual
scale 0.2, last convolution zero-initialized so that it starts as the identity).

The conv transforms of the ablation ladder (``ConvAnalysis`` / ``ConvSynthesis``, the
hyperprior's GDN stack) live here too, so that every rung differs only in what it names.

Shapes: ``g_a``: ``(B, 3, H, W)`` -> ``(B, M, H/16, W/16)`` for ``H, W`` multiples of 16;
``g_s`` the reverse.  Window attention pads internally, so any multiple of 16 works.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torchvision.models.swin_transformer import SwinTransformerBlockV2


class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each seeing the input and every earlier output (growth ``growth``)."""

    def __init__(self, c_in: int, c_out: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c_in + i * growth, growth, 3, padding=1) for i in range(4))
        self.last = nn.Conv2d(c_in + 4 * growth, c_out, 3, padding=1)
        for c in self.convs:
            nn.init.xavier_normal_(c.weight, gain=0.1)
            nn.init.zeros_(c.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for c in self.convs:
            features.append(F.leaky_relu(c(torch.cat(features, 1)), 0.2))
        return self.last(torch.cat(features, 1))


class EnhancementBlock(nn.Module):
    """S2LIC's enhancement module (one direction): ``x + 0.2 * f(x)`` on RGB, ``(B, 3, H, W)``."""

    def __init__(self, width: int = 64, growth: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            DenseBlock(3, width, growth),
            nn.Conv2d(width, width, 1),
            nn.Conv2d(width, width, 3, padding=1),
            nn.Conv2d(width, width, 1),
            DenseBlock(width, 3, growth),
        )
        nn.init.zeros_(self.body[-1].last.weight)
        nn.init.zeros_(self.body[-1].last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.body(x)


class SwinV2Group(nn.Module):
    """RSTB: ``depth`` SwinV2 blocks (shift 0, window/2, 0, ...) plus a residual; ``(B, C, h, w)``."""

    def __init__(self, dim: int, depth: int, heads: int, window: int = 8):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlockV2(
                dim, heads, [window, window], [0, 0] if i % 2 == 0 else [window // 2, window // 2], mlp_ratio=4.0,
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.permute(0, 2, 3, 1)  # (B, h, w, C): torchvision's layout
        out = tokens
        for block in self.blocks:
            out = block(out)
        return (out + tokens).permute(0, 3, 1, 2)


class SwinAnalysis(nn.Module):
    """``g_a`` of S2LIC; ``depths``/``heads`` per stage at strides 2, 4, 8."""

    def __init__(self, N: int, M: int, depths=(1, 2, 3), heads=(4, 8, 16), window: int = 8,
                 enhancement: tuple[int, int] | None = (64, 32)):
        super().__init__()
        self.enhance = EnhancementBlock(*enhancement) if enhancement else nn.Identity()
        self.down = nn.ModuleList([conv(3, N, 5, 2), conv(N, N, 3, 2), conv(N, N, 3, 2), conv(N, M, 3, 2)])
        self.groups = nn.ModuleList(SwinV2Group(N, d, h, window) for d, h in zip(depths, heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.enhance(x)
        for down, group in zip(self.down[:3], self.groups):
            x = group(down(x))
        return self.down[3](x)


class SwinSynthesis(nn.Module):
    """``g_s`` of S2LIC (mirror of :class:`SwinAnalysis`)."""

    def __init__(self, N: int, M: int, depths=(3, 2, 1), heads=(16, 8, 4), window: int = 8,
                 enhancement: tuple[int, int] | None = (64, 32)):
        super().__init__()
        self.up = nn.ModuleList([deconv(M, N, 3, 2), deconv(N, N, 3, 2), deconv(N, N, 3, 2)])
        self.groups = nn.ModuleList(SwinV2Group(N, d, h, window) for d, h in zip(depths, heads))
        self.to_rgb = nn.Sequential(nn.Conv2d(N, 3 * 4, 3, padding=1), nn.PixelShuffle(2))
        self.enhance = EnhancementBlock(*enhancement) if enhancement else nn.Identity()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = y
        for up, group in zip(self.up, self.groups):
            x = group(up(x))
        return self.enhance(self.to_rgb(x))


class ConvAnalysis(nn.Sequential):
    """The hyperprior's ``g_a``: four 5x5/2 convolutions with GDN (Ballé et al. 2018)."""

    def __init__(self, N: int, M: int):
        super().__init__(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))


class ConvSynthesis(nn.Sequential):
    """The hyperprior's ``g_s``: four 5x5/2 transposed convolutions with inverse GDN."""

    def __init__(self, N: int, M: int):
        super().__init__(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
