"""The shared parameter coder of overfitted codecs: exact round trips, pruning, typed errors, and
entropy coding at least as small as Huffman and far below fixed-length words."""

import numpy as np
import pytest
import torch

from neuralcodecs.errors import CorruptPayloadError
from neuralcodecs.inr import weight_coding
from neuralcodecs.inr.weight_coding import code_lengths, decode, dequantize, encode, huffman_lengths, prune, quantize


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "stem.weight": torch.randn(64, 32, generator=g) * 0.1,
        "block.conv.weight": torch.randn(48, 64, 3, 3, generator=g) * 0.05,
        "block.conv.bias": torch.randn(48, generator=g) * 0.01,
        "head.weight": torch.zeros(3, 48, 1, 1),  # a channel of zeros gets step 0
        "embedding": torch.randn(8, 16, 2, 4, generator=g),
    }


def test_round_trip_is_exact(tensors):
    q = quantize(tensors, {**{k: 8 for k in tensors}, "embedding": 6})
    data = encode(q)
    back = decode(data, q.layout)
    for a, b in zip(q.values, back.values):
        assert np.array_equal(a, b)
    for a, b in zip(q.steps, back.steps):
        assert np.array_equal(a, b)
    w, w_back = dequantize(q), dequantize(back)
    for name, t in tensors.items():
        assert torch.equal(w[name], w_back[name])
        step = float(q.steps[q.names.index(name)].max())
        assert float((w[name] - t).abs().max()) <= step / 2 + 1e-7  # rounding error at most half a step
    assert np.abs(back.values[q.names.index("embedding")]).max() <= 31


def test_entropy_coding_beats_huffman_and_fixed_length():
    """At the size of a small NeRV (0.3M values) the log-count model's bytes pay for themselves."""
    g = torch.Generator().manual_seed(1)
    big = {"conv.weight": torch.randn(256, 128, 3, 3, generator=g) * 0.05}
    for fraction in (0.0, 0.5):
        n = code_lengths(quantize(prune(big, fraction), 8))
        assert n["entropy_coded_bits"] < n["huffman_bits"] < n["fixed_bits"] == 8 * n["values"]


def test_pruning_zeroes_the_smallest_weights_jointly(tensors):
    pruned = prune(tensors, 0.3)
    multi = [k for k, t in tensors.items() if t.dim() >= 2]
    zeros = sum(int((pruned[k] == 0).sum()) for k in multi)
    total = sum(tensors[k].numel() for k in multi)
    assert zeros >= int(0.3 * total) and torch.equal(pruned["block.conv.bias"], tensors["block.conv.bias"])
    with pytest.raises(ValueError):
        prune(tensors, 1.0)


def test_huffman_lengths():
    assert huffman_lengths(np.array([5, 0, 0])).tolist() == [1, 0, 0]
    assert huffman_lengths(np.array([4, 2, 1, 1])).tolist() == [1, 2, 3, 3]


def test_damaged_bytes_raise_typed_errors(tensors):
    q = quantize(tensors, 8)
    data = encode(q)
    for bad in (data[:10], data[:-4], data[:-1] + bytes([data[-1] ^ 0xFF])):
        with pytest.raises(CorruptPayloadError):
            decode(bad, q.layout)
    nan_steps = bytearray(data)
    nan_steps[:4] = np.array([np.nan], "<f4").tobytes()
    with pytest.raises(CorruptPayloadError):
        decode(bytes(nan_steps), q.layout)


def test_fake_quantization_gives_the_coded_values_and_a_straight_gradient():
    """Quantization-aware training sees what the file will hold: the forward values of
    ``fake_quantize`` are ``dequantize(quantize(.))``'s; the gradient passes unchanged."""
    torch.manual_seed(0)
    for shape in [(6, 4, 3, 3), (5,), (7, 9)]:
        t = torch.randn(shape, requires_grad=True)
        fake = weight_coding.fake_quantize(t, 8)
        coded = weight_coding.dequantize(weight_coding.quantize({"t": t}, 8))["t"]
        torch.testing.assert_close(fake.detach(), coded, rtol=0, atol=1e-6)
        fake.sum().backward()
        assert torch.equal(t.grad, torch.ones(shape))
