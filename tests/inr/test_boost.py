"""Boosting-NeRV's conditional decoder: parameter counts, the frame-time condition, the loss, sizing."""

import pytest
import torch

from neuralcodecs.inr import boost, hnerv_boost, nerv_boost


def _numel(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("cfg", [
    nerv_boost.NervBoostConfig((9, 16), (5, 2, 2, 2, 2), (30, 30, 15, 12, 12, 12), (0, 0, 1, 1, 1)),  # official 1.5M
    nerv_boost.NervBoostConfig((3, 4), (2, 3), (5, 7, 4), (1, 0), mlp_hidden=16, condition_channels=8, encoding_levels=10),
])
def test_nerv_boost_counts_are_the_modules(cfg):
    model = nerv_boost.NervBoost(cfg)
    assert nerv_boost.count_parameters(cfg) == _numel(model)
    assert model(torch.tensor([0.0, 1.0])).shape == (2, 3, *cfg.frame_size)


@pytest.mark.parametrize("cfg", [
    hnerv_boost.HnervBoostConfig((9, 16), (5, 2, 2, 2, 2), (86, 72, 60, 50, 42, 35), (0, 0, 1, 1, 1)),  # official 1.5M
    hnerv_boost.HnervBoostConfig((2, 3), (4, 2), (6, 5, 4), (0, 2), embed_channels=3, condition_channels=4),
])
def test_hnerv_boost_counts_are_the_modules(cfg):
    decoder = hnerv_boost.HnervBoostDecoder(cfg)
    assert hnerv_boost.decoder_parameters(cfg) == _numel(decoder)
    assert hnerv_boost.stored_values(cfg, 7) == _numel(decoder) + 7 * cfg.embed_channels * cfg.base[0] * cfg.base[1]


def test_the_official_bunny_configurations_have_their_published_sizes():
    """The official scripts' 1.5M models at 1280x720 (their widths, recounted): the layout is theirs."""
    hnerv = hnerv_boost.HnervBoostConfig((9, 16), (5, 2, 2, 2, 2), (86, 72, 60, 50, 42, 35), (0, 0, 1, 1, 1))
    nerv = nerv_boost.NervBoostConfig((9, 16), (5, 2, 2, 2, 2), (30, 30, 15, 12, 12, 12), (0, 0, 1, 1, 1))
    assert hnerv.kernels == (1, 3, 3, 3, 3) and nerv.kernels == (3, 3, 3, 3, 3)
    assert abs(hnerv_boost.stored_values(hnerv, 132) - 1.5e6) < 0.02e6
    assert abs(nerv_boost.count_parameters(nerv) - 1.5e6) < 0.02e6


def test_every_stage_is_conditioned_on_the_frame_time():
    """Same embedding, two times: different frames (the temporal affine transforms act); the
    same time twice: the same frame."""
    torch.manual_seed(0)
    cfg = hnerv_boost.HnervBoostConfig((2, 3), (2, 2), (8, 6, 5), (0, 1), embed_channels=4, condition_channels=8)
    decoder = hnerv_boost.HnervBoostDecoder(cfg)
    e = torch.randn(1, 4, 2, 3).expand(2, -1, -1, -1)
    with torch.no_grad():
        out = decoder((e, torch.tensor([0.2, 0.7])))
        again = decoder((e, torch.tensor([0.2, 0.2])))
    assert not torch.allclose(out[0], out[1])
    assert torch.equal(again[0], again[1])


def test_temporal_affine_is_a_per_channel_scale_and_shift():
    torch.manual_seed(0)
    affine = boost.TemporalAffine(5, 4)
    x, z = torch.randn(2, 5, 3, 3), torch.randn(2, 4)
    gamma, beta = affine.scale(z)[:, :, None, None], affine.shift(z)[:, :, None, None]
    torch.testing.assert_close(affine(x, z), x * (1 + gamma) + beta)


@pytest.mark.parametrize("side", [40, 170])  # SSIM below 161 pixels, MS-SSIM from there
def test_boost_loss_is_the_papers_sum_and_zero_only_for_the_same_frames(side):
    from pytorch_msssim import ms_ssim, ssim

    torch.manual_seed(0)
    x = torch.rand(1, 3, side, side)
    assert float(boost.boost_loss(x, x)) == pytest.approx(0.0, abs=1e-4)
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    similarity = (ms_ssim if side > 160 else ssim)(blurred, x, data_range=1.0)
    spectrum = (torch.view_as_real(torch.fft.fft2(blurred)) - torch.view_as_real(torch.fft.fft2(x))).abs().mean()
    expected = 60 * (0.7 * (blurred - x).abs().mean() + 0.3 * (1 - similarity)) + spectrum
    torch.testing.assert_close(boost.boost_loss(blurred, x), expected)


@pytest.mark.parametrize("target", [40_000, 300_000, 1_500_000])
def test_sizing_lands_near_the_target_and_shrinks_the_layout_only_when_needed(target):
    nerv = nerv_boost.for_size(180, 320, target)
    hnerv = hnerv_boost.for_size(180, 320, 132, target)
    assert abs(nerv_boost.count_parameters(nerv) - target) / target < 0.25
    assert abs(hnerv_boost.stored_values(hnerv, 132) - target) / target < 0.25
    official = target >= 300_000
    assert (nerv.condition_channels == 32) == official and (hnerv.condition_channels == 32) == official


def test_frames_and_times_index_as_pairs():
    pairs = boost.FramesAndTimes(torch.arange(12.0).reshape(4, 3), torch.tensor([0.0, 0.25, 0.5, 1.0]))
    inputs, times = pairs[1:3]
    assert len(pairs) == 4 and inputs.shape == (2, 3) and times.tolist() == [0.25, 0.5]
    with pytest.raises(ValueError):
        boost.FramesAndTimes(torch.zeros(3), torch.zeros(2))
