"""Integer networks: bit-exact whatever the summation order, close to the float network."""

import pytest
import torch

from neuralcodecs.entropy.exact import (
    IntegerLayer,
    IntegerNetwork,
    IntegerReadyConvStack,
    check_exact_bounds,
    freeze_conv_stack,
)
from neuralcodecs.errors import WeightsError


@pytest.fixture(scope="module")
def frozen():
    torch.manual_seed(0)
    stack = IntegerReadyConvStack([8, 16, 16, 12], [3, 3, 1], [1, 2, 1])
    calib = torch.round(torch.randn(16, 8, 6, 6) * 3)
    frac = torch.tensor([8] * 6 + [6] * 6)
    return stack, freeze_conv_stack(stack, calib, frac, input_bound=64), frac


def test_integer_outputs_track_the_float_network(frozen):
    stack, net, frac = frozen
    z = torch.round(torch.randn(2, 8, 5, 7) * 3)
    ref = stack(z)
    got = net(z).double() / torch.pow(2.0, frac.double()).reshape(1, -1, 1, 1)
    assert got.shape == ref.shape == (2, 12, 10, 14)
    err = (got - ref.double()).abs().max() / ref.abs().max()
    assert err < 0.01


def test_result_does_not_depend_on_summation_order_or_threads(frozen):
    _, net, _ = frozen
    z = torch.round(torch.randn(1, 8, 9, 9) * 20)
    base = net(z)
    # permuting the input channels (and the first layer's weights) reorders every sum
    perm = torch.randperm(8)
    layers = [IntegerLayer(l.weight.clone(), l.bias, l.multiplier, l.shift, l.upscale, l.clamp_max) for l in net.layers]
    layers[0].weight = layers[0].weight[:, perm]
    permuted = IntegerNetwork(layers, net.input_bound)(z[:, perm])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = net(z)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(base, permuted)
    assert torch.equal(base, single)
    assert base.dtype == torch.int64


def test_inputs_are_clamped_to_the_declared_bound(frozen):
    _, net, _ = frozen
    z = torch.full((1, 8, 3, 3), 1e9)
    assert torch.equal(net(z), net(torch.full((1, 8, 3, 3), 64.0)))


def test_bounds_check_refuses_layers_that_could_lose_exactness():
    w = torch.full((4, 4, 3, 3), 2047, dtype=torch.int64)
    layer = IntegerLayer(w, torch.zeros(4, dtype=torch.int64), torch.full((4,), 2**15), torch.full((4,), 20), 1, None)
    check_exact_bounds([layer], input_bound=4096)
    with pytest.raises(WeightsError):
        check_exact_bounds([layer], input_bound=2**40)
    big = IntegerLayer(w * 2, layer.bias, layer.multiplier, layer.shift, 1, None)
    with pytest.raises(WeightsError):
        check_exact_bounds([big], input_bound=1)
