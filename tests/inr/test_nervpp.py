"""NeRV++: parameter counts against the modules and the official sizes, the bilinear skip path."""

import pytest
import torch
import torch.nn.functional as F

from neuralcodecs.inr import nervpp


@pytest.mark.parametrize("c0, size", [(8, 1_902_725), (26, 3_379_541), (58, 6_382_533), (112, 12_546_111)])
def test_official_layouts_count_the_published_sizes(c0, size):
    """XS / S / M / L at 1280x720 (the official ``fc_hw_dim`` 9_16_C0, lower width 80): 1.9 / 3.4 / 6.4 / 12.5 M."""
    cfg = nervpp.NervppConfig((9, 16), (5, 2, 2, 2, 2), nervpp.widths_from(c0, 5, 80))
    assert nervpp.count_parameters(cfg) == size == sum(p.numel() for p in nervpp.Nervpp(cfg).parameters())


def test_reduced_layout_counts_its_modules_and_renders_the_frame():
    cfg = nervpp.for_size(39, 57, 30_000)
    model = nervpp.Nervpp(cfg)
    assert cfg.stem_hidden == 64 and nervpp.count_parameters(cfg) == sum(p.numel() for p in model.parameters())
    assert model(torch.tensor([0.0, 0.5])).shape == (2, 3, *cfg.frame_size)


def test_a_block_with_silent_branches_is_its_bilinear_skip():
    """With the gated, up-sampling and feed-forward branches zeroed, a block returns the bilinear
    up-sampling of its projection: the skip path of the paper."""
    torch.manual_seed(0)
    block = nervpp.NervppBlock(5, 6, 2)
    with torch.no_grad():
        for layer in (block.gate_out, block.up, block.ffn_b):
            layer.weight.zero_()
            layer.bias.zero_()
        x = torch.randn(1, 5, 4, 7)
        expected = F.interpolate(block.proj(x), scale_factor=2, mode="bilinear", align_corners=False)
        torch.testing.assert_close(block(x), expected)
