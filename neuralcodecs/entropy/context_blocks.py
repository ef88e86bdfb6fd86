"""Context networks of channel-sliced entropy models, built from integer-ready operations.

Every block here is trained in float and later frozen into an exact integer twin
(:mod:`neuralcodecs.entropy.exact_blocks`), so each one is restricted to operations with an
exact integer counterpart: convolutions (also grouped / depthwise), ReLU, sums, products,
average pooling, a sigmoid and an exponential (both by table lookup), bilinear sampling at
fixed-point positions.  GELU and batch normalization of the reference design are replaced by
ReLU and nothing (a normalization folds into the following convolution anyway).

* :class:`ConvContext` -- a plain convolution stack (Minnen et al. 2020 channel context;
  He et al. 2021 checkerboard context with a 5x5 kernel).
* :class:`AdaptiveChannelContext` -- S2LIC's "AC" mixer: a convolution branch and a depthwise
  branch, each gated by a map computed from the other (a spatial map gates the convolution
  branch, a channel map gates the depthwise branch), summed.
* :class:`GlobalInterSliceAttention` -- S2LIC's "AG" block: deformable attention (Xia et al.
  2022) from every position to a grid of points sampled from the context at learned offsets,
  mixed with a depthwise branch the same way.

Shapes: input ``(B, C_in, h, w)``, output ``(B, C_out, h, w)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SIGMOID_INPUT_LIMIT = 8.0  # sigmoid inputs are clipped to +-8 (the integer twin's table range)
ATTENTION_LOGIT_LIMIT = 16.0  # attention logits below the row maximum by more than this count as 0


def gate(x: torch.Tensor) -> torch.Tensor:
    """The sigmoid every block uses, on inputs clipped to +-``SIGMOID_INPUT_LIMIT``."""
    return torch.sigmoid(x.clamp(-SIGMOID_INPUT_LIMIT, SIGMOID_INPUT_LIMIT))


class ConvContext(nn.Module):
    """``Conv(k) -> ReLU -> ... -> Conv(k)``: ``channels = [C_in, C_1, ..., C_out]``."""

    def __init__(self, channels: list[int], kernel: int = 3):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(a, b, kernel, padding=kernel // 2) for a, b in zip(channels[:-1], channels[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x


class AdaptiveChannelContext(nn.Module):
    """S2LIC's adaptive channel-wise context mixer.

    ``p = ReLU(1x1(x))``; branch A ``a = ReLU(3x3(ReLU(3x3(p))))``; branch B
    ``b = ReLU(dw3x3(p))``; ``out = 1x1(a * S(b) + b * C(a))`` with a spatial map
    ``S(b) = sigmoid(1x1(ReLU(1x1(b))))`` ``(B, 1, h, w)`` and a channel map
    ``C(a) = sigmoid(1x1(ReLU(1x1(avgpool(a)))))`` ``(B, width, 1, 1)``.
    """

    def __init__(self, c_in: int, c_out: int, width: int | None = None):
        super().__init__()
        width = width or c_out
        squeeze = max(4, width // 4)
        self.project = nn.Conv2d(c_in, width, 1)
        self.branch_a = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)])
        self.branch_b = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.spatial_map = nn.ModuleList([nn.Conv2d(width, squeeze, 1), nn.Conv2d(squeeze, 1, 1)])
        self.channel_map = nn.ModuleList([nn.Conv2d(width, squeeze, 1), nn.Conv2d(squeeze, width, 1)])
        self.out = nn.Conv2d(width, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = F.relu(self.project(x))
        a = F.relu(self.branch_a[1](F.relu(self.branch_a[0](p))))
        b = F.relu(self.branch_b(p))
        s = gate(self.spatial_map[1](F.relu(self.spatial_map[0](b))))
        c = gate(self.channel_map[1](F.relu(self.channel_map[0](a.mean(dim=(2, 3), keepdim=True)))))
        return self.out(a * s + b * c)


class GlobalInterSliceAttention(nn.Module):
    """S2LIC's global inter-slice context: deformable attention mixed with a depthwise branch.

    ``p = ReLU(1x1(x))`` (``width`` channels).  Reference points form a grid of stride
    ``stride``; an offset network (``ReLU(dw(stride+1)/stride(p))`` then a 1x1 to 2 channels,
    clipped to +-``stride`` latents) moves them; ``p`` is sampled bilinearly there (border
    clamp), keys and values are 1x1 projections of the samples, and every position's query
    (a 1x1 projection of ``p``) attends to all of them (softmax, one head per 32 channels).
    The attention output goes through a 5x5 convolution; a depthwise branch ``b`` is mixed in
    as in :class:`AdaptiveChannelContext` (here the channel map of ``b`` gates the attention
    and the spatial map of the attention gates ``b``), and a 1x1 gives ``c_out`` channels.
    """

    def __init__(self, c_in: int, c_out: int, width: int = 32, stride: int = 2, head_dim: int = 32):
        super().__init__()
        self.width, self.stride = width, stride
        self.heads = max(1, width // head_dim)
        squeeze = max(4, width // 4)
        self.project = nn.Conv2d(c_in, width, 1)
        self.offset_dw = nn.Conv2d(width, width, stride + 1, stride=stride, padding=stride // 2, groups=width)
        self.offset_out = nn.Conv2d(width, 2, 1)
        nn.init.zeros_(self.offset_out.weight)
        nn.init.zeros_(self.offset_out.bias)
        self.query = nn.Conv2d(width, width, 1)
        self.key = nn.Conv2d(width, width, 1)
        self.value = nn.Conv2d(width, width, 1)
        self.reproject = nn.Conv2d(width, width, 5, padding=2)
        self.branch_b = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.spatial_map = nn.ModuleList([nn.Conv2d(width, squeeze, 1), nn.Conv2d(squeeze, 1, 1)])
        self.channel_map = nn.ModuleList([nn.Conv2d(width, squeeze, 1), nn.Conv2d(squeeze, width, 1)])
        self.out = nn.Conv2d(width, c_out, 1)

    def sample_points(self, p: torch.Tensor) -> torch.Tensor:
        """Sampling positions ``(B, 2, h', w')`` in latent units (x then y), reference grid plus offsets."""
        offsets = self.offset_out(F.relu(self.offset_dw(p))).clamp(-self.stride, self.stride)
        _, _, hk, wk = offsets.shape
        ys = torch.arange(hk, device=p.device, dtype=p.dtype) * self.stride
        xs = torch.arange(wk, device=p.device, dtype=p.dtype) * self.stride
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), 0)[None]  # (1, 2, hk, wk)
        return grid + offsets

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = F.relu(self.project(x))
        B, C, h, w = p.shape
        points = self.sample_points(p)
        sampled = bilinear_sample(p, points)  # (B, C, hk, wk)
        q = self.query(p).reshape(B, self.heads, C // self.heads, h * w)
        k = self.key(sampled).reshape(B, self.heads, C // self.heads, -1)
        v = self.value(sampled).reshape(B, self.heads, C // self.heads, -1)
        logits = torch.einsum("bncq,bnck->bnqk", q, k) / (C // self.heads) ** 0.5
        logits = logits - logits.amax(-1, keepdim=True)
        weights = torch.exp(logits.clamp_min(-ATTENTION_LOGIT_LIMIT))
        weights = weights / weights.sum(-1, keepdim=True)
        attended = torch.einsum("bnqk,bnck->bncq", weights, v).reshape(B, C, h, w)
        g = self.reproject(attended)
        b = F.relu(self.branch_b(p))
        s = gate(self.spatial_map[1](F.relu(self.spatial_map[0](g))))
        c = gate(self.channel_map[1](F.relu(self.channel_map[0](b.mean(dim=(2, 3), keepdim=True)))))
        return self.out(g * c + b * s)


def bilinear_sample(x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x`` ``(B, C, h, w)`` at ``points`` ``(B, 2, h', w')`` (x, y in pixels; border clamp)."""
    B, C, h, w = x.shape
    px = points[:, 0].clamp(0, w - 1)
    py = points[:, 1].clamp(0, h - 1)
    x0, y0 = px.floor(), py.floor()
    fx, fy = px - x0, py - y0
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp_max(w - 1), (y0 + 1).clamp_max(h - 1)
    flat = x.reshape(B, C, h * w)

    def at(yy, xx):
        index = (yy * w + xx).reshape(B, 1, -1).expand(B, C, -1)
        return flat.gather(2, index).reshape(B, C, *yy.shape[1:])

    fx, fy = fx[:, None], fy[:, None]
    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return top * (1 - fy) + bottom * fy
