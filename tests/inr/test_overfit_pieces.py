"""The overfitted image codec's pieces (not registered yet): upsampling, exact wavefront coding of
the latent pyramid under a frozen integer ARM, and a tiny end-to-end round trip."""

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodecs.demo import PHOTO
from neuralcodecs.errors import CorruptPayloadError
from neuralcodecs.inr.overfit import codec as overfit_codec
from neuralcodecs.inr.overfit import options as overfit_options
from neuralcodecs.entropy.exact import PointwiseIntegerEvaluator
from neuralcodecs.inr.overfit.coding import CodingOrder, decode_grids, encode_grids, freeze_arm, grid_bits
from neuralcodecs.inr.overfit.model import (CONTEXT_OFFSETS, SMALL_IMAGE, OverfitConfig, OverfitModel, Synthesis,
                                            Upsampler, grid_shapes, macs_per_pixel, sized_config, soft_quantize,
                                            soft_round)


def test_bicubic_upsampling_keeps_a_ramp_a_ramp():
    up = Upsampler()
    x = torch.arange(16.0).reshape(1, 1, 1, 16).expand(1, 1, 16, 16)
    y = up(x).detach()[0, 0, 8]
    assert y.shape[0] == 32
    expected = torch.arange(32.0) / 2 - 0.25
    assert torch.allclose(y[4:28], expected[4:28], atol=1e-5)  # away from the replicated border


def test_soft_rounding_goes_from_rounding_to_the_identity_and_is_continuous():
    x = torch.linspace(-3.2, 3.2, 641, dtype=torch.float64)
    away = ((x.frac().abs() - 0.5).abs() > 0.02)  # not at a rounding boundary
    assert torch.allclose(soft_round(x, 1e-3)[away], torch.round(x)[away])
    assert torch.allclose(soft_round(x, 50.0), x, atol=1e-3)
    for half in (-1.5, 0.5, 2.5):  # continuous where floor jumps
        eps = 1e-9
        assert abs(soft_round(torch.tensor(half - eps, dtype=torch.float64), 0.3)
                   - soft_round(torch.tensor(half + eps, dtype=torch.float64), 0.3)) < 1e-6
    torch.manual_seed(0)
    y = torch.randn(10_000, dtype=torch.float64) * 3
    q = soft_quantize(y, 0.1, 0.5)
    assert (q - y).abs().max() <= 1.0 + 1e-9  # soft rounding moves a value by at most 1/2, the noise by 1/2
    assert not torch.equal(q, soft_quantize(y, 0.1, 0.5))  # noisy


def test_synthesis_training_and_decoding_forms_agree():
    torch.manual_seed(0)
    syn = Synthesis(7, 40)
    for conv in (syn.residual1, syn.residual2):
        torch.nn.init.normal_(conv.weight, std=0.2)
    x = torch.randn(1, 7, 19, 23)
    assert torch.allclose(syn(x), syn.decode(x), atol=1e-5)


def test_coding_order_decodes_every_context_in_an_earlier_wavefront():
    cfg = OverfitConfig()
    order = CodingOrder([(5, 7), (3, 4), (1, 1)], cfg.offsets)
    assert sorted(order.centre.tolist()) == sorted(set(order.centre.tolist())) and len(order.centre) == 35 + 12 + 1
    front = np.searchsorted(order.bounds, np.arange(len(order.centre)), side="right") - 1
    when = dict(zip(order.centre.tolist(), front.tolist()))
    checked = 0
    for k, centre in enumerate(order.centre.tolist()):
        for delta in order.deltas[order.grid[k]].tolist():
            if centre + delta in when:  # a position of the same grid (the rest is zero padding)
                assert when[centre + delta] < front[k]
                checked += 1
    assert checked > 300
    assert len(order.bounds) - 1 == 6 + 3 * 4 + 1  # t = j + (r + 1) i with r = 2, over the largest grid
    assert len(CONTEXT_OFFSETS) >= 24 and macs_per_pixel(cfg) < 3000


def test_latent_grids_round_trip_exactly_through_the_integer_arm():
    cfg = OverfitConfig()
    torch.manual_seed(0)
    model = OverfitModel(cfg, 37, 53)
    for conv in model.arm.stack.convs:  # an ARM that predicts something (the fitted one starts at zero)
        torch.nn.init.normal_(conv.weight, std=0.3)
    g = torch.Generator().manual_seed(1)
    ints = [torch.randint(-6, 7, (h, w), generator=g).numpy().astype(np.int64) for h, w in grid_shapes(37, 53, cfg.levels)]
    ints[0][0, 0] = 250  # escapes (beyond the table) round trip too
    net = freeze_arm(model.arm.stack, ints, cfg.offsets)
    data = encode_grids(net, ints, cfg.offsets)
    back = decode_grids(net, data, [g.shape for g in ints], cfg.offsets)
    for a, b in zip(ints, back):
        assert np.array_equal(a, b)
    assert 8 * len(data) <= grid_bits(net, ints, cfg.offsets) * 1.02 + 64
    with pytest.raises(CorruptPayloadError):
        decode_grids(net, data[: len(data) // 2], [g.shape for g in ints], cfg.offsets)


def test_the_numpy_arm_gives_the_integer_networks_integers(monkeypatch):
    from neuralcodecs.entropy import exact

    cfg = OverfitConfig()
    torch.manual_seed(3)
    model = OverfitModel(cfg, 16, 16)
    for conv in model.arm.stack.convs:
        torch.nn.init.normal_(conv.weight, std=0.5)
        torch.nn.init.normal_(conv.bias, std=0.5)
    g = torch.Generator().manual_seed(4)
    calibration = [torch.randint(-40, 41, (16, 16), generator=g).numpy().astype(np.int64)]
    net = freeze_arm(model.arm.stack, calibration, cfg.offsets)
    contexts = torch.randint(-300, 301, (5000, cfg.context), generator=g)  # beyond the bound too: both clamp
    contexts[:10] = 255
    contexts[10:20] = -255
    expected = net(contexts.t()[None, :, :, None])[0, :, :, 0].t().numpy()
    evaluator = PointwiseIntegerEvaluator(net)
    assert [layer[0] for layer in evaluator.layers] == ["float"] * 3  # an ARM's sums stay below 2**53 requantized
    assert np.array_equal(evaluator(contexts.numpy()), expected)
    monkeypatch.setattr(exact, "EXACT_FLOAT_LIMIT", 2**20)  # a network whose requantized sums could not
    evaluator = PointwiseIntegerEvaluator(net)
    assert "int" in [layer[0] for layer in evaluator.layers]
    assert np.array_equal(evaluator(contexts.numpy()), expected)


def test_a_tiny_fit_round_trips_through_a_file(monkeypatch):
    monkeypatch.setitem(overfit_options.EFFORT_STEPS, "fast", 60)
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))[100:123, 200:241]  # 23 x 41: odd sizes
    codec = overfit_codec.OverfitCodec()
    data = codec.encode(photo, quality=4, effort="fast")
    out = codec.decode(data)
    assert out.shape == photo.shape
    psnr = 10 * np.log10(255**2 / np.mean((out.astype(float) - photo) ** 2))
    assert abs(psnr - codec.last_report["psnr"]) < 1e-6  # the decoder sees exactly what the encoder measured
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.decode(data)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, out)


def test_a_preset_and_explicit_steps_reach_the_file_and_decode(tmp_path):
    from neuralcodecs import bitstream
    from neuralcodecs.cli import main
    from neuralcodecs.inr.overfit.model import PRESETS

    photo = tmp_path / "crop.png"
    Image.fromarray(np.asarray(Image.open(PHOTO).convert("RGB"))[:40, :56]).save(photo)
    out = tmp_path / "crop.ncb"
    assert main(["encode", str(photo), "-o", str(out), "--codec", "overfit", "--preset", "lop", "--steps", "25"]) == 0
    header, _ = bitstream.unpack(out.read_bytes())
    assert {k: header.config[k] for k in PRESETS["lop"]} == PRESETS["lop"]  # narrower than the small-image widths
    assert main(["decode", str(out), "-o", str(tmp_path / "back.png")]) == 0
    codec = overfit_codec.OverfitCodec()
    codec.encode(np.asarray(Image.open(photo)), steps=12)
    assert codec.last_report["steps"] == 12 and codec.last_report["preset"] == "cpu"


def test_the_shipped_laplace_tables_are_the_ones_the_format_names():
    from neuralcodecs.inr.overfit.coding import (TABLE_SHA256, TABLE_SHA256_R3, build_laplace_rows_r3, build_laplace_table,
                                                 laplace_coder, rows_digest, table_digest)

    assert table_digest(laplace_coder(2).table) == TABLE_SHA256
    assert table_digest(build_laplace_table()) == TABLE_SHA256  # rebuilt from float64 on this machine
    assert rows_digest(dict(zip(("narrow", "wide"), laplace_coder(3).tables))) == TABLE_SHA256_R3
    assert rows_digest(build_laplace_rows_r3()) == TABLE_SHA256_R3


def test_revision_3_codes_a_certain_latent_for_what_the_float_model_says():
    """Revision 2's smallest scale (0.11, 16-bit rows) charged a latent the fit made certain 0.0157
    bits; revision 3's table reaches the float model's smallest scale at 24-bit precision."""
    from neuralcodecs.inr.overfit.coding import LAPLACE_SCALE_BASE, arm_rows, laplace_coder
    from neuralcodecs.inr.overfit.model import laplace_bits

    class Arm:  # mean 0, log-scale -5 (units of 2**-6): the float model's clamp
        def __call__(self, contexts):
            return np.tile(np.array([[0, LAPLACE_SCALE_BASE]]), (len(contexts), 1))

    for revision, most in ((2, 0.02), (3, 1e-4)):
        base, rows = arm_rows(Arm(), np.zeros((3, 16), dtype=np.int64), revision)
        bits = laplace_coder(revision).symbol_bits(np.zeros(3, dtype=np.int64) - base, rows)
        assert bits.max() < most and (revision == 3 or bits.min() > 0.015)
    assert float(laplace_bits(torch.zeros(1), torch.zeros(1), torch.full((1,), -5.0))) < 1e-4


def test_registered_codec_round_trips_and_its_latents_carry_the_files_bits(monkeypatch, tmp_path):
    import neuralcodecs as nc
    from neuralcodecs import bitstream, paths, registry
    from neuralcodecs.errors import WeightsError

    monkeypatch.setitem(overfit_options.EFFORT_STEPS, "fast", 60)
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))[100:133, 200:251]
    data = nc.encode(photo, codec="overfit", quality=2, effort="fast")
    decoded = nc.decode(data)
    assert decoded.shape == photo.shape
    latents = nc.latents(data)
    # a 33x51 image gets the small-image configuration: 5 levels, the 4th (stride 8) the latents' grid
    assert latents.stride == (8, 8) and latents.tensor.shape[0] == 64 + 16 + 4 + 1 + 1
    _, sections = bitstream.unpack(data)
    # within 2%, plus the coder's fixed cost (its final state and the sentinel: up to three 32-bit words)
    assert abs(float(latents.bits.sum()) - 8 * len(sections[2])) < 0.02 * 8 * len(sections[2]) + 96
    # the weights travel in the stream: a fresh process with no weights directory at all decodes the
    # same pixels, and a weights file is refused rather than silently ignored
    monkeypatch.setattr(paths, "WEIGHTS_DIR", tmp_path / "no-weights-here")
    monkeypatch.setattr(registry, "_CACHE", {})
    assert np.array_equal(nc.decode(data), decoded)
    with pytest.raises(WeightsError, match="in the stream"):
        registry.load("overfit", weights=tmp_path / "overfit.safetensors")


def test_the_decoding_synthesis_ignores_the_thread_count_at_photo_sizes():
    """A library 1x1 convolution on a Kodak-size input changed with the thread count; the decoding
    form (fixed-order multiply-adds) does not, and computes the same function."""
    torch.manual_seed(0)
    model = OverfitModel(OverfitConfig(), 256, 384).eval()
    for p in model.synthesis.parameters():
        torch.nn.init.normal_(p, std=0.3)
    grids = [torch.randint(-5, 6, g.shape).float() for g in model.grids]
    threads = torch.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            torch.set_num_threads(t)
            outs.append(model.synthesize(grids, decoding=True))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outs[0], outs[1])
    with torch.no_grad():
        assert torch.allclose(outs[0], model.synthesize(grids), atol=1e-4)


def test_fit_ends_at_the_state_with_the_lowest_true_loss(monkeypatch):
    from neuralcodecs.inr.overfit import fitting

    measured = []
    true_loss = fitting.true_loss

    def recording(model, image, lam):
        out = true_loss(model, image, lam)
        measured.append(out["loss"])
        return out

    monkeypatch.setattr(fitting, "true_loss", recording)
    torch.manual_seed(0)
    image = torch.rand(1, 3, 16, 24)
    model = OverfitModel(OverfitConfig(levels=3, hidden=8), 16, 24)
    report = fitting.fit_image(model, image, fitting.ImageFitConfig(steps=30, lam=0.02, eval_every=1))
    during, final = measured[:-1], measured[-1]
    assert len(during) == 30
    assert final == min(during) == report["loss"]
    assert true_loss(model, image, 0.02)["loss"] == final  # the model holds that state


def test_the_network_and_the_steps_follow_the_image_size():
    base = OverfitConfig()
    assert sized_config(base, 512, 768) == base
    small = sized_config(base, 96, 128)
    assert (small.hidden, small.context, small.arm_hidden, small.levels) == tuple(
        SMALL_IMAGE[k] for k in ("hidden", "context", "arm_hidden", "levels"))
    assert sized_config(base, 1, 1).levels == 1 and sized_config(base, 3, 500).levels == 3
    full = overfit_options.EFFORT_STEPS
    assert overfit_options.fitting_steps("fast", 768 * 512) == full["fast"]
    assert overfit_options.fitting_steps("best", 64 * 64) == round(full["best"] / 4)
    assert overfit_options.fitting_steps("fast", 1) == overfit_options.MIN_STEPS


def test_effort_is_time_spent_as_steps_of_the_chosen_preset():
    from neuralcodecs.inr.overfit.model import PRESETS

    options = overfit_options
    assert tuple(PRESETS) == options.PRESET_NAMES and options.DEFAULT_PRESET in PRESETS
    for effort, minutes in options.EFFORT_MINUTES.items():
        for preset in PRESETS:  # each preset's steps take the effort's minutes at its measured step time
            steps = options.fitting_steps(effort, 768 * 512, preset)
            assert abs(steps * options.STEP_MS[preset] / 60_000 - minutes) < 0.01 * minutes
    assert options.EFFORT_MINUTES["fast"] < options.EFFORT_MINUTES["medium"] < options.EFFORT_MINUTES["best"]


def test_a_one_pixel_image_is_a_small_quick_file():
    import time

    import neuralcodecs as nc
    from neuralcodecs import bitstream

    began = time.time()
    data = nc.encode(np.array([[[200, 30, 90]]], np.uint8), codec="overfit", quality=6)
    seconds = time.time() - began
    header = bitstream.read_header(data)
    assert header.config["levels"] == 1 and header.config["hidden"] == SMALL_IMAGE["hidden"]
    assert len(data) < 800, len(data)  # revision 3: 931 bytes, its histogram tables alone 255 or more
    assert np.abs(nc.decode(data).astype(int) - [200, 30, 90]).max() <= 16
    print(f"1x1 overfit encode: {seconds:.1f} s, {len(data)} bytes")


def test_mutants_of_every_revision_decode_or_raise_bitstream_errors():
    """The conformance streams of revisions 2, 3 and 4 as fuzz seeds (no fitting needed)."""
    from pathlib import Path

    import neuralcodecs as nc
    from codec_checks import assert_mutants_decode_or_raise_bitstream_errors

    folder = Path(__file__).resolve().parents[2] / "bitstreams" / "conformance"
    seeds = [(folder / f"v2-overfit{r}-rgb-96x64-q1.ncb").read_bytes() for r in ("", "-r3", "-r4")]
    seeds += [(folder / f"v2-overfit-r{r}-gray-40x40-q6.ncb").read_bytes() for r in (3, 4)]
    codec = overfit_codec.OverfitCodec()
    assert {codec.stream_revision(nc.read_header(s)) for s in seeds} == {2, 3, 4}
    report = assert_mutants_decode_or_raise_bitstream_errors(codec, seeds, 200, 4 * 96 * 64)
    assert report["rejected"] > 100


def test_the_geometric_parameter_model_is_integer_exact_and_fits_laplace_weights():
    """Revision 4's per-tensor model: integer rows (the same on every machine) that sum to 2**24, and
    the chosen theta codes Laplace-like integers within a few percent of their empirical entropy."""
    from neuralcodecs.inr.overfit import parameters

    row = parameters.geometric_probabilities(60_000, 8)
    assert row.dtype == np.int64 and row.shape == (255,) and row.sum() == 2**24 and row.min() >= 1
    assert row[127] == row.max() and np.abs(row - row[::-1]).max() <= 1  # value 0 the likeliest, symmetric
    values = np.clip(np.round(np.random.default_rng(0).laplace(0, 9.0, 2000)), -127, 127).astype(np.int64)
    theta = parameters.best_theta(values, 8)
    counts = np.bincount(values + 127, minlength=255)
    entropy = -(counts[counts > 0] * np.log2(counts[counts > 0] / counts.sum())).sum()
    assert entropy < parameters.coded_bits(values, theta, 8) < 1.03 * entropy
    assert parameters.coded_bits(values, theta, 8) < min(parameters.coded_bits(values, t, 8) for t in (theta - 500, theta + 500))


def test_revision_4_parameters_round_trip_and_damage_is_a_typed_error():
    from neuralcodecs.errors import CorruptPayloadError
    from neuralcodecs.inr.overfit import parameters
    from neuralcodecs.inr.weight_coding import QuantizedTensors

    rng = np.random.default_rng(1)
    layout = [("arm.w0", (48,), 6, False), ("synthesis.a.weight", (40,), 11, True), ("synthesis.a.bias", (3,), 4, True)]
    values = [rng.integers(-31, 32, 48), rng.integers(-1023, 1024, 40), np.array([7, -7, 0])]
    steps = [np.ones(1, np.float32), np.array([0.01], np.float32), np.array([0.5], np.float32)]
    q = QuantizedTensors([n for n, *_ in layout], [s for _, s, *_ in layout], [b for _, _, b, _ in layout], values, steps)
    data = parameters.encode_parameters(q, [False, True, True])
    back = parameters.decode_parameters(data, layout)
    assert all(np.array_equal(a, b) for a, b in zip(back.values, values))
    assert [s[0] for s in back.steps] == [np.float32(1), np.float32(0.01), np.float32(0.5)]
    with pytest.raises(CorruptPayloadError):
        parameters.decode_parameters(data[:9], layout)


def test_revision_4_codes_the_same_parameters_in_fewer_bytes_than_revision_3_and_searches_the_arm_depth():
    """The same quantized tensors (8-bit ARM and networks) under revision 3's histogram tables and under
    revision 4's per-tensor models; then a revision 4 file carries its searched depths and decodes."""
    import neuralcodecs as nc
    from neuralcodecs import bitstream

    cfg = OverfitConfig()
    torch.manual_seed(0)
    model = OverfitModel(cfg, 64, 64)
    for conv in model.arm.stack.convs:
        torch.nn.init.normal_(conv.weight, std=0.3)
    g = torch.Generator().manual_seed(2)
    ints = [torch.randint(-4, 5, (h, w), generator=g).numpy().astype(np.int64) for h, w in grid_shapes(64, 64, cfg.levels)]
    net = freeze_arm(model.arm.stack, ints, cfg.offsets)
    r3, floats3 = overfit_codec.code_parameters(model, net, {"synthesis": 8, "upsampler": 8})
    eights = {group: 8 for group in overfit_codec.DEPTH_KEYS.values()}
    r4, floats4 = overfit_codec.code_parameters_r4(model, net, eights, 8)
    assert len(r4) < len(r3) - 200  # the 255-byte table of the 8-bit depth is gone
    assert all(torch.equal(floats3[n], floats4[n]) for n in floats3)
    arm, floats = overfit_codec.decode_parameters_r4(r4, cfg, eights, 8)
    assert all(np.array_equal(a, layer.weight[:, :, 0, 0].numpy()) for a, layer in zip(arm, net.layers))
    assert all(torch.equal(floats[n], floats4[n]) for n in floats4)

    pixels = np.asarray(Image.open(PHOTO).convert("RGB"))[100:132, 200:248]
    codec = overfit_codec.OverfitCodec()
    data = codec.encode(pixels, quality=3, steps=40)
    header, sections = bitstream.unpack(data)
    assert codec.stream_revision(header) == 4 and set(header.config) == overfit_codec.CONFIG_KEYS_R4
    assert header.config["arm_bits"] in overfit_codec.ARM_BIT_CHOICES
    out = nc.decode(data)
    psnr = 10 * np.log10(255**2 / np.mean((out.astype(float) - pixels) ** 2))
    assert abs(psnr - codec.last_report["psnr"]) < 1e-6
