"""Periodized 2-D wavelet packet transform (WaLLoC's analysis and synthesis), filters from PyWavelets.

One level splits every channel into four bands ``LL, LH, HL, HH`` at half resolution (channel
``c`` -> ``4c + f``; ``f = 2 * (high-pass along width) + (high-pass along height)``, so ``f = 1`` is
PyWavelets' ``cH`` and ``f = 2`` its ``cV``); a packet transform of ``J`` levels splits *every*
band again, giving ``C * 4**J`` channels at ``H / 2**J`` -- channel ``c * 4**J + f_1 * 4**(J-1) +
... + f_J`` (``f_1``: the first level's band), as the WaLLoC authors lay it out.

Each level is ``pywt.dwt2(x, wavelet, mode="periodization")`` exactly (checked in the tests):
critically sampled, so ``H`` and ``W`` must be multiples of ``2**J``.  Analysis is two strided
one-dimensional convolutions of the periodically extended input (width, then height); synthesis inverts it (``pywt.idwt2``) with the reconstruction filters split into their
four polyphase components (one convolution per output pixel parity, then a pixel shuffle).  The transform
is linear and invertible but not orthonormal (bior4.4's low band gains 2 per 2-D level).
``ptwt`` offers no critically sampled periodized biorthogonal transform and
``pytorch_wavelets`` needs ``pkg_resources``; PyWavelets supplies the filters.

Shapes: ``analysis`` ``(B, C, H, W)`` -> ``(B, C * 4**J, H / 2**J, W / 2**J)``; ``synthesis`` back.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _filters(wavelet: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    import pywt

    w = pywt.Wavelet(wavelet)
    if len(w.dec_lo) % 4 != 2 or not (len(w.dec_lo) == len(w.dec_hi) == len(w.rec_lo) == len(w.rec_hi)):
        raise ValueError(f"wavelet {wavelet!r}: only filters of one length L with L % 4 == 2 are supported "
                         "(bior4.4, bior2.2, haar, coif1, ...)")
    return tuple(torch.tensor(f, dtype=torch.float64) for f in (w.dec_lo, w.dec_hi, w.rec_lo, w.rec_hi))


def _analysis_kernels(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """``(2, L)``: the low- and high-pass analysis filters reversed (``conv2d`` correlates)."""
    return torch.stack([lo.flip(0), hi.flip(0)])


def _polyphase_kernels(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """``(4, 4, L/2, L/2)`` synthesis kernels: output phase ``2 * ph + pw`` (the pixel at
    ``(2i + ph, 2j + pw)``) from band ``f``.  One level of synthesis is ``x[2i + p] = sum_t
    g[2t + p + L/2 - 1] c[i - t]`` per axis, so phase ``p``'s correlation tap ``a`` is
    ``g[p + L - 2 - 2a]`` -- the zero-interleaved filter without its zeros."""
    L = lo.numel()
    taps = torch.arange(L // 2)

    def phase(g: torch.Tensor, p: int) -> torch.Tensor:
        return g[p + L - 2 - 2 * taps]

    kernels = torch.empty(4, 4, L // 2, L // 2, dtype=lo.dtype)
    for ph in (0, 1):
        for pw in (0, 1):
            for f, (along_w, along_h) in enumerate((w, h) for w in (lo, hi) for h in (lo, hi)):
                kernels[2 * ph + pw, f] = torch.outer(phase(along_h, ph), phase(along_w, pw))
    return kernels


def _wrap_pad(x: torch.Tensor, before: int, after: int, axes=(-2, -1)) -> torch.Tensor:
    """Periodic extension of ``axes`` by ``before`` / ``after`` samples (any number of periods:
    small band images wrap around several times, which ``F.pad(mode="circular")`` refuses)."""
    for axis in axes:
        n = x.shape[axis]
        index = torch.arange(-before, n + after, device=x.device) % n
        x = x.index_select(axis, index)
    return x


class WaveletPacket2D(nn.Module):
    """``levels``-level periodized wavelet packet transform of ``wavelet`` (default bior4.4)."""

    def __init__(self, wavelet: str = "bior4.4", levels: int = 3):
        super().__init__()
        dec_lo, dec_hi, rec_lo, rec_hi = _filters(wavelet)
        self.wavelet, self.levels, self.taps = wavelet, int(levels), dec_lo.numel()
        # float64, cast to the input's precision per call
        self.register_buffer("analysis_kernels", _analysis_kernels(dec_lo, dec_hi), persistent=False)
        self.register_buffer("synthesis_kernels", _polyphase_kernels(rec_lo, rec_hi), persistent=False)

    @property
    def factor(self) -> int:
        """The spatial down-sampling ``2**levels``."""
        return 2**self.levels

    def _analysis_level(self, x: torch.Tensor) -> torch.Tensor:
        """Along the width (channel ``2c + width_high``), then along the height (``2(2c + width_high)
        + height_high = 4c + f``): two strided one-dimensional passes, 2L taps per output."""
        C = x.shape[1]
        half = self.taps // 2 - 1  # output n reads inputs 2n - half .. 2n + half + 1
        kernels = self.analysis_kernels.to(x.dtype)
        x = F.conv2d(_wrap_pad(x, half, half, axes=(-1,)), kernels[:, None, None, :].repeat(C, 1, 1, 1), stride=(1, 2), groups=C)
        return F.conv2d(_wrap_pad(x, half, half, axes=(-2,)), kernels[:, None, :, None].repeat(2 * C, 1, 1, 1), stride=(2, 1), groups=2 * C)

    def _synthesis_level(self, bands: torch.Tensor) -> torch.Tensor:
        C = bands.shape[1] // 4
        reach = self.taps // 4  # phase taps a = 0..L/2-1 read bands i - L/4 .. i + L/4
        padded = _wrap_pad(bands, reach, reach)
        phases = F.conv2d(padded, self.synthesis_kernels.to(bands.dtype).repeat(C, 1, 1, 1), groups=C)
        return F.pixel_shuffle(phases, 2)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C * 4**J, H / 2**J, W / 2**J)``; ``H, W`` multiples of ``2**J``.
        Computed in the input's precision (at least float32), autocast off."""
        if x.shape[-2] % self.factor or x.shape[-1] % self.factor:
            raise ValueError(f"wavelet packet input {tuple(x.shape[-2:])} is not a multiple of {self.factor}")
        with torch.autocast(x.device.type, enabled=False):
            x = x if x.dtype == torch.float64 else x.float()
            for _ in range(self.levels):
                x = self._analysis_level(x)
        return x

    def synthesis(self, coefficients: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`analysis`."""
        if coefficients.shape[1] % 4**self.levels:
            raise ValueError(f"{coefficients.shape[1]} channels are not a multiple of {4**self.levels}")
        with torch.autocast(coefficients.device.type, enabled=False):
            x = coefficients if coefficients.dtype == torch.float64 else coefficients.float()
            for _ in range(self.levels):
                x = self._synthesis_level(x)
        return x
