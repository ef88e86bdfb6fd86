"""NeRV's layout and size targeting, and the shared fitting loop (progress, resume)."""

import numpy as np
import pytest
import torch

from neuralcodecs.inr.fitting import FitConfig, fit, frame_times, psnr_of
from neuralcodecs.inr.nerv import Nerv, NervConfig, count_parameters, for_size, plan_strides


def test_layout_follows_the_paper_and_sizes_are_met():
    assert plan_strides(720, 1280) == ((9, 16), (5, 2, 2, 2, 2))  # NeRV's 720p layout
    for (h, w), target in (((180, 320), 300_000), ((32, 48), 20_000), ((17, 33), 50_000)):
        cfg = for_size(h, w, target)
        fh, fw = cfg.frame_size
        assert fh >= h and fw >= w
        model = Nerv(cfg)
        assert count_parameters(cfg) == sum(p.numel() for p in model.parameters())
        assert abs(count_parameters(cfg) - target) < 0.25 * target
        assert model(torch.rand(2)).shape == (2, 3, fh, fw)
    assert NervConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError):
        NervConfig((2, 2), (2,), (8,))


def _clip(frames=6, h=24, w=32):
    """A bright square moving right over a gradient."""
    x = np.linspace(0, 1, w)[None, None, :] * np.ones((frames, h, 1))
    clip = np.stack([x, x[:, ::-1], 0.5 * np.ones_like(x)], 1).astype(np.float32)
    for t in range(frames):
        clip[t, :, 8:16, 2 + 3 * t : 10 + 3 * t] = 1.0
    return torch.from_numpy(clip)


class _Interrupt(Exception):
    pass


def test_fitting_learns_the_clip_and_an_interrupted_fit_resumes_to_the_same_weights(tmp_path):
    frames = _clip()
    cfg = FitConfig(steps=200, batch=2, lr=2e-3, save_every=50)

    def fresh():
        torch.manual_seed(0)
        return Nerv(for_size(24, 32, 20_000, encoding_levels=16))

    reference = fresh()
    before = psnr_of(reference, frames, frame_times(len(frames)))
    report = fit(reference, frames, cfg)
    assert report["steps"] == 200 and report["psnr"] > before + 8

    model, calls = fresh(), [0]
    original = model.forward

    def forward_that_dies(t):
        calls[0] += 1
        if calls[0] == 121:  # killed during step 121: the checkpoint holds step 100
            raise _Interrupt
        return original(t)

    model.forward = forward_that_dies
    ck = tmp_path / "fit.pt"
    with pytest.raises(_Interrupt):
        fit(model, frames, cfg, checkpoint=ck)
    resumed = fresh()
    again = fit(resumed, frames, cfg, checkpoint=ck)
    assert again["steps"] == 200
    for a, b in zip(reference.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError):
        fit(resumed, frames, FitConfig(steps=10), checkpoint=ck)  # another configuration
