"""Integer twins of the context networks: close to the float blocks, and exact round trips."""

import numpy as np
import pytest
import torch
from compressai.entropy_models import GaussianConditional

from neuralcodecs.entropy.coders import CdfTable, ChunkDecoder, TableCoder
from neuralcodecs.entropy.context_blocks import AdaptiveChannelContext, GlobalInterSliceAttention
from neuralcodecs.entropy.exact_blocks import FEATURE_FRACTION_BITS, FixedConv, exp_table, freeze_context, sigmoid_table
from neuralcodecs.entropy.exact_slices import FrozenSlicedModel, decoder_filler, encoder_filler
from neuralcodecs.entropy.gaussian import GAIN_FRACTION_BITS, LOG_SCALE_FRACTION_BITS, SCALE_MIN, scale_table
from neuralcodecs.entropy.slices import ContextConfig, SlicedGaussianModel
from neuralcodecs.errors import CorruptPayloadError

F = 2**FEATURE_FRACTION_BITS


def _fixed(x):
    return torch.round(x * F).to(torch.int64)


@pytest.mark.parametrize("groups,stride", [(1, 1), (4, 1), (4, 2)])
def test_fixed_convolution_matches_float(groups, stride):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 8, 3, stride=stride, padding=1, groups=groups)
    x = torch.randn(2, 8, 9, 7)
    frozen = FixedConv.freeze(conv, FEATURE_FRACTION_BITS, 8, False, 2**20, 2**20)
    out = frozen(_fixed(x)).double() / 2**8
    ref = conv(_fixed(x).double().float() / F)
    assert out.shape == ref.shape
    assert torch.allclose(out.float(), ref, atol=0.02), (out.float() - ref).abs().max()


@pytest.mark.parametrize("block", [AdaptiveChannelContext(16, 24), GlobalInterSliceAttention(16, 12, 32, 2)])
def test_context_twins_follow_the_float_blocks(block):
    torch.manual_seed(1)
    for p in block.parameters():  # a trained-looking block: offsets and gates away from their zero init
        torch.nn.init.normal_(p, std=0.15)
    x = torch.randn(2, 16, 10, 13) * 2
    frozen = freeze_context(block, x)
    tables = {"sigmoid": sigmoid_table(), "exp": exp_table()}
    out = frozen(_fixed(x), tables).double() / F
    ref = block(_fixed(x).double().float() / F).double()
    scale = ref.abs().max()
    assert (out - ref).abs().max() < 0.05 * scale, float((out - ref).abs().max() / scale)


def test_context_twins_do_not_depend_on_thread_count():
    torch.manual_seed(2)
    block = GlobalInterSliceAttention(16, 12, 32, 2)
    for p in block.parameters():
        torch.nn.init.normal_(p, std=0.15)
    x = torch.randn(1, 16, 12, 12)
    frozen = freeze_context(block, x)
    tables = {"sigmoid": sigmoid_table(), "exp": exp_table()}
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = frozen(_fixed(x), tables)
        torch.set_num_threads(2)
        two = frozen(_fixed(x), tables)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def _frozen_model(cfg: ContextConfig, M=16, h=6, w=5, seed=3):
    torch.manual_seed(seed)
    model = SlicedGaussianModel(M, 2 * M, cfg).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    gaussian = GaussianConditional(scale_table(), scale_bound=SCALE_MIN)
    gaussian.update_scale_table(scale_table(), force=True)
    hyper = _fixed(torch.randn(1, 2 * M, h, w)).double() / F
    y = torch.randn(1, M, h, w) * 4
    gain = torch.ones(1, M, 1, 1)
    record: dict = {}
    model(y, hyper.float(), gain, gaussian.eval(), record=record)
    return FrozenSlicedModel.freeze(model, record), gaussian, hyper, y


@pytest.mark.parametrize("cfg", [
    ContextConfig(slices=1, lrp=False, param_hidden=(16,)),
    ContextConfig(slices=4, context="conv", param_hidden=(16,), context_width=8),
    ContextConfig(slices=4, checkerboard=True, context="acgc", param_hidden=(16,), context_width=8, attention_width=32),
    ContextConfig(slices=2, checkerboard=True, context="acgc", nonanchor="shared", param_hidden=(16,), context_width=8),
])
def test_sliced_model_round_trips_through_one_stream(cfg):
    frozen, gaussian, hyper, y = _frozen_model(cfg)
    M = y.shape[1]
    gain_fixed = torch.full((M,), 2**GAIN_FRACTION_BITS, dtype=torch.int64)
    log_gain_fixed = torch.zeros(M, dtype=torch.int64)
    hyper_int = torch.round(hyper * F).to(torch.int64)
    coder = TableCoder(CdfTable.from_compressai(gaussian))
    chunks: list = []
    enc = frozen.walk(hyper_int, gain_fixed, log_gain_fixed, encoder_filler(y, chunks))
    data = coder.encode_chunks(chunks)
    reader = ChunkDecoder(coder, data)
    dec = frozen.walk(hyper_int, gain_fixed, log_gain_fixed, decoder_filler(reader))
    reader.finish()
    assert torch.equal(enc["symbols"], dec["symbols"]) and torch.equal(enc["indexes"], dec["indexes"])
    assert torch.equal(enc["means"], dec["means"])
    # the decoded latents are the quantized ones
    assert (y.double() - (dec["symbols"] + dec["means"])).abs().max() <= 0.5 + 1e-9
    expected_chunks = cfg.slices * (2 if cfg.checkerboard else 1)
    assert len(chunks) == expected_chunks
    # a stream cut short is refused with a typed error
    with pytest.raises(CorruptPayloadError):
        reader = ChunkDecoder(coder, data[: len(data) // 2 // 4 * 4])
        frozen.walk(hyper_int, gain_fixed, log_gain_fixed, decoder_filler(reader))
        reader.finish()


def test_frozen_sliced_model_survives_a_weights_file_round_trip(tmp_path):
    cfg = ContextConfig(slices=2, checkerboard=True, context="acgc", param_hidden=(16,), context_width=8)
    frozen, gaussian, hyper, y = _frozen_model(cfg)
    state = frozen.state("em")
    torch.manual_seed(3)
    twin = SlicedGaussianModel(16, 32, cfg)
    reloaded = FrozenSlicedModel.load(state, "em", twin)
    gain_fixed = torch.full((16,), 2**GAIN_FRACTION_BITS, dtype=torch.int64)
    log_gain_fixed = torch.full((16,), 3 * 2**LOG_SCALE_FRACTION_BITS // 4, dtype=torch.int64)
    hyper_int = torch.round(hyper * F).to(torch.int64)
    a = frozen.walk(hyper_int, gain_fixed, log_gain_fixed, encoder_filler(y, []))
    b = reloaded.walk(hyper_int, gain_fixed, log_gain_fixed, encoder_filler(y, []))
    assert torch.equal(a["indexes"], b["indexes"]) and torch.equal(a["symbols"], b["symbols"])
    assert np.isfinite(a["means"].numpy()).all()
