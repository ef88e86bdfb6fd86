"""The compressed-domain adapter: token-budget strategies, tokens from real files, the CLI."""

import numpy as np
import pytest
import torch

from neuralcodecs.adapter.core import flatten_grid, select_tokens, tokens_from_file, tokens_from_latents
from neuralcodecs.adapter.strategies import STRATEGIES, coarse_shape, lowpass_grid, parse_budget, resolve_budget
from neuralcodecs.errors import CodecArgumentError


def grid_tokens(frames=1, dim=8, h=6, w=7, seed=0):
    torch.manual_seed(seed)
    return torch.randn(frames, dim, h, w)


def test_budgets_parse_and_resolve():
    assert parse_budget("64") == 64 and parse_budget("0.25") == 0.25 and parse_budget("adaptive") == "adaptive"
    assert resolve_budget(64, 10) == 10 and resolve_budget(0.25, 10) == 3 and resolve_budget(1.0, 10) == 10
    importance = torch.tensor([8.0, 1, 1, 0, 0])  # 80% of it in one token
    assert resolve_budget("adaptive", 5, importance) == 1 and resolve_budget("adaptive", 5, torch.ones(5)) == 4
    for bad in (0, -3, 1.5, 0.0, "many", True, None):
        with pytest.raises(CodecArgumentError):
            parse_budget(bad)


@pytest.mark.parametrize("name", [n for n in STRATEGIES if n != "keyframe"])
@pytest.mark.parametrize("k", [1, 5, 16, 41, 42])
def test_every_image_strategy_keeps_exactly_the_budget_in_grid_order(name, k):
    grid = grid_tokens()
    rate = torch.rand(1, 6, 7)
    tokens, positions = select_tokens(grid, rate, name, k)
    assert len(tokens) == len(positions) == (42 if name == "all" else k) and tokens.shape[1] == 8
    assert (positions[:, 1] < 6).all() and (positions[:, 2] < 7).all() and (positions >= 0).all()
    key = positions[:, 1] * 7 + positions[:, 2]
    assert (key[1:] > key[:-1]).all()  # grid order, no duplicates
    if name in ("uniform", "kcenter", "rate", "rate_nms"):  # selections: the tokens are rows of the grid at their positions
        for token, (t, y, x) in zip(tokens, positions):
            assert torch.equal(token, grid[t, :, y, x])


# (frames, h, w) grids: a picture's, Kodak's at stride 16, one row, one column, a square, videos
GRIDS = [(1, 6, 7), (1, 32, 48), (1, 1, 9), (1, 9, 1), (1, 14, 14), (3, 4, 5), (2, 7, 3)]
BUDGETS = [1, 2, 5, 7, 16, 29, 41, 63, 64]


@pytest.mark.parametrize("name, shape", [(name, shape) for name in sorted(STRATEGIES) for shape in GRIDS
                                         if name != "keyframe" or shape[0] > 1],  # keyframe selects frames of videos
                         ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v)))
def test_every_strategy_returns_exactly_the_budget_when_the_grid_holds_it(name, shape):
    """``min(k, N)`` tokens for every budget ``k`` (``all``: every token, it applies no budget), each at
    its own grid position; fractions resolve to ``ceil(f N)`` and are met exactly too."""
    frames, h, w = shape
    n = frames * h * w
    grid = grid_tokens(frames=frames, h=h, w=w, seed=frames * 100 + h * 10 + w)
    rate = torch.rand(frames, h, w, generator=torch.Generator().manual_seed(n))
    for budget in [*BUDGETS, n - 1, n, n + 3, 0.5, 0.1]:
        want = n if name == "all" else resolve_budget(budget, n)
        assert name == "all" or not isinstance(budget, int) or want == min(budget, n)
        tokens, positions = select_tokens(grid, rate, name, budget)
        assert len(tokens) == len(positions) == want, (name, shape, budget, len(tokens))
        assert len({tuple(p) for p in positions.tolist()}) == want  # distinct cells
        assert ((positions >= 0) & (positions < torch.tensor(shape))).all()


def test_dct_and_uniform_keep_64_of_a_kodak_grid_on_an_8_by_8_coarse_grid():
    """Item 9's case: 64 tokens of the 32 x 48 grid of a Kodak picture at stride 16 came back as 63
    (a 7 x 9 grid); 64 factors into 8 x 8, within a factor 2 of the picture's aspect."""
    assert coarse_shape(32, 48, 64) == (8, 8) and coarse_shape(32, 48, 63) == (7, 9)
    assert coarse_shape(6, 7, 5) == (2, 3)  # 5 is 1 x 5 or 5 x 1 only: a 2 x 3 grid, its last row cut short
    assert coarse_shape(1, 9, 4) == (1, 4)  # a one-row grid stays one row
    grid = grid_tokens(h=32, w=48)
    for name in ("dct", "uniform"):
        _, positions = select_tokens(grid, None, name, 64)
        assert sorted({int(y) for y in positions[:, 1]}) == [2, 6, 10, 14, 18, 22, 26, 30]  # centres of 8 rows of 4
        assert sorted({int(x) for x in positions[:, 2]}) == [3, 9, 15, 21, 27, 33, 39, 45]  # and of 8 columns of 6
    tokens, positions = select_tokens(grid_tokens(h=6, w=7), None, "dct", 5)
    assert positions[:, 1:].tolist() == [[1, 1], [1, 3], [1, 5], [4, 1], [4, 3]]


def test_video_budgets_are_shared_out_over_the_frames():
    grid = grid_tokens(frames=3, h=4, w=5)
    for name in ("dct", "uniform"):
        for k, shares in ((7, [2, 2, 3]), (2, [0, 1, 1]), (1, [0, 0, 1])):
            _, positions = select_tokens(grid, None, name, k)
            assert [int((positions[:, 0] == t).sum()) for t in range(3)] == shares, (name, k)
    rate = torch.ones(3, 4, 5)
    rate[2] *= 3
    rate[0] *= 2
    rate[0, 1, 2] = 9.0
    _, positions = select_tokens(grid, rate, "keyframe", 23)  # frame 2 whole, then frame 0's three costliest
    assert positions[:, 0].tolist() == [0] * 3 + [2] * 20 and [0, 1, 2] in positions.tolist()


def test_rate_keeps_the_most_expensive_positions():
    grid, rate = grid_tokens(), torch.zeros(1, 6, 7)
    rate[0, 2, 3], rate[0, 5, 6], rate[0, 0, 0] = 9, 7, 5
    _, positions = select_tokens(grid, rate, "rate", 2)
    assert positions.tolist() == [[0, 2, 3], [0, 5, 6]]
    with pytest.raises(CodecArgumentError):
        select_tokens(grid, None, "rate", 2)  # no rate map


def test_rate_nms_spreads_the_budget_over_the_picture():
    grid, rate = grid_tokens(h=8, w=8), torch.zeros(1, 8, 8)
    rate[0, :2, :2] = torch.tensor([[9.0, 8], [7, 6]])  # a costly corner
    rate[0, 6, 6] = 5.0
    _, positions = select_tokens(grid, rate, "rate_nms", 4)  # radius floor(sqrt(64 / 4) / 2) = 2
    kept = {tuple(p[1:].tolist()) for p in positions}
    assert (0, 0) in kept and (6, 6) in kept and not kept & {(0, 1), (1, 0), (1, 1)}
    _, plain = select_tokens(grid, rate, "rate", 4)
    assert {tuple(p[1:].tolist()) for p in plain} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_dct_is_a_low_pass_that_keeps_constants_and_inverts_at_full_size():
    grid = grid_tokens()[0]
    assert torch.allclose(lowpass_grid(grid, 6, 7), grid, atol=1e-5)
    constant = torch.full((3, 6, 7), 2.5)
    assert torch.allclose(lowpass_grid(constant, 2, 3), torch.full((3, 2, 3), 2.5), atol=1e-5)
    tokens, _ = select_tokens(grid_tokens(), None, "dct", 6)
    assert len(tokens) == 6


def test_kcenter_covers_clusters_and_tome_merges_to_the_mean():
    a, b = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0])
    tokens = torch.stack([a] * 5 + [b] * 5 + [a])
    positions = torch.stack([torch.zeros(11), torch.zeros(11), torch.arange(11)], 1).long()
    chosen, _ = STRATEGIES["kcenter"].select(tokens, positions, 2)
    assert {tuple(t.tolist()) for t in chosen} == {tuple(a.tolist()), tuple(b.tolist())}
    merged, pos = STRATEGIES["tome"].select(tokens, positions, 1)
    assert torch.allclose(merged[0], tokens.mean(0), atol=1e-6) and len(pos) == 1
    alternating = torch.stack([a, a, b, b] * 2)
    half, _ = STRATEGIES["tome"].select(alternating, positions[:8], 4)  # one round: each token meets its twin
    assert sorted(tuple(t.tolist()) for t in half) == sorted([tuple(a.tolist())] * 2 + [tuple(b.tolist())] * 2)


def test_keyframe_selects_whole_costly_frames_of_video_only():
    grid, rate = grid_tokens(frames=3, h=2, w=2), torch.ones(3, 2, 2)
    rate[1] *= 5
    rate[2] *= 3
    _, positions = select_tokens(grid, rate, "keyframe", 8)
    assert positions[:, 0].tolist() == [1] * 4 + [2] * 4
    _, positions = select_tokens(grid, rate, "keyframe", 3)  # not one frame fits: frame 1's costliest tokens
    assert positions[:, 0].tolist() == [1] * 3
    with pytest.raises(CodecArgumentError):
        select_tokens(grid_tokens(), torch.rand(1, 6, 7), "keyframe", 8)
    with pytest.raises(CodecArgumentError):
        select_tokens(grid_tokens(), None, "nosuch", 8)


def test_flatten_grid_positions():
    tokens, positions = flatten_grid(grid_tokens(frames=2, h=2, w=3))
    assert tokens.shape == (12, 8) and positions[7].tolist() == [1, 0, 1]


@pytest.fixture(scope="module")
def files():
    from neuralcodecs import load_codec

    rng = np.random.default_rng(1)
    picture = np.clip(rng.normal(128, 40, (70, 90, 3)), 0, 255).astype(np.uint8)
    picture[:, :45] = 128  # a flat half: few bits there
    return {name: load_codec(name).encode(picture, quality=q) for name, q in (("hyperprior", 2), ("walloc", 2))}


@pytest.mark.parametrize("codec", ["hyperprior", "walloc"])
def test_tokens_from_real_files(codec, files):
    from neuralcodecs import latents

    lat = latents(files[codec])
    h, w = lat.picture_grid
    everything = tokens_from_file(files[codec])
    assert everything.counts == [h * w] and everything.tokens.shape[2] == lat.tensor.shape[0]
    budget = tokens_from_file(files[codec], strategy="rate", budget=5)
    assert budget.counts == [5]
    top = torch.argsort(lat.bits[:h, :w].reshape(-1), descending=True)[:5]
    kept = budget.positions[0, :, 1] * w + budget.positions[0, :, 2]
    assert sorted(kept.tolist()) == sorted(top.tolist())
    assert (budget.positions[0, :, 2] >= w // 2 - 1).float().mean() > 0.5  # the busy half costs the bits
    batch = tokens_from_latents([lat, lat], strategy="kcenter", budget=0.5)
    assert batch.tokens.shape[0] == 2 and batch.counts[0] == batch.counts[1] == -(-h * w // 2)


def test_tokens_through_an_untrained_projector_sit_on_a_stride_16_grid(files):
    from neuralcodecs import latents
    from neuralcodecs.adapter.projector import TokenProjector

    lat = latents(files["walloc"])
    projector = TokenProjector(lat.tensor.shape[0], lat.stride[0], dim=32).eval()
    visual = tokens_from_latents(lat, projector, "rate", 4)
    assert visual.tokens.shape == (1, 4, 32) and visual.grid == (1, 5, 6)  # 70x90 pixels -> 5x6 tokens of 16x16
    wrong = TokenProjector(lat.tensor.shape[0] + 1, lat.stride[0]).eval()
    with pytest.raises(CodecArgumentError):
        tokens_from_latents(lat, wrong)
    with pytest.raises(CodecArgumentError):
        tokens_from_latents([lat, latents(files["hyperprior"])])  # two codecs in one batch


def test_a_loaded_projector_must_match_the_files_codec_weights(files, tmp_path):
    from neuralcodecs import latents, load_codec
    from neuralcodecs.adapter.projector import TokenProjector
    from neuralcodecs.adapter.train_projector import load_projector, save_projector
    from neuralcodecs.cli import main

    lat = latents(files["walloc"])
    right, wrong = tmp_path / "right.safetensors", tmp_path / "wrong.safetensors"
    save_projector(TokenProjector(lat.tensor.shape[0], 8).eval(), right, "walloc", 2, {}, load_codec("walloc").fingerprint)
    save_projector(TokenProjector(lat.tensor.shape[0], 8).eval(), wrong, "walloc", 2, {}, b"\x00" * 16)
    assert tokens_from_file(files["walloc"], load_projector(right)[0], "rate", 3).counts == [3]
    with pytest.raises(CodecArgumentError):
        tokens_from_file(files["walloc"], load_projector(wrong)[0])
    with pytest.raises(CodecArgumentError):
        tokens_from_file(files["hyperprior"], load_projector(right)[0])  # another codec's file
    src = tmp_path / "in.ncb"
    src.write_bytes(files["walloc"])
    assert main(["tokens", str(src), "--projector", str(wrong), "-o", str(tmp_path / "t.safetensors")]) == 2
    assert main(["tokens", str(src), "--projector", str(right), "-o", str(tmp_path / "t.safetensors")]) == 0
    from safetensors.torch import load_file

    written, expected = load_file(tmp_path / "t.safetensors"), tokens_from_file(files["walloc"], load_projector(right)[0])
    assert written["tokens"].shape == (expected.counts[0], 96) and lat.tensor.shape[0] != 96  # the projector's token size D
    assert torch.equal(written["tokens"], expected.tokens[0].float())


def test_tokens_cli(files, tmp_path, capsys):
    import json

    from safetensors.torch import load_file

    from neuralcodecs.cli import main

    src = tmp_path / "in.ncb"
    src.write_bytes(files["hyperprior"])
    out = tmp_path / "tokens.safetensors"
    assert main(["tokens", str(src), "--budget", "6", "--strategy", "rate", "-o", str(out)]) == 0
    saved = load_file(out)
    assert saved["tokens"].shape[0] == 6 and saved["positions"].shape == (6, 3)
    assert "note" not in json.loads(capsys.readouterr().out)
    expected = tokens_from_file(files["hyperprior"], strategy="rate", budget=6)
    assert torch.equal(saved["tokens"], expected.tokens[0].float()) and torch.equal(saved["positions"], expected.positions[0])
    n = len(tokens_from_file(files["hyperprior"]).tokens[0])
    for argv, count, note in ((["--budget", "6"], n, "strategy 'all' keeps every token"),  # the default strategy
                              (["--budget", str(n + 5), "--strategy", "dct"], n, f"holds only {n} tokens")):
        assert main(["tokens", str(src), *argv, "-o", str(out), "--force"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["tokens"] == count == load_file(out)["tokens"].shape[0] and note in summary["note"]
    assert main(["tokens", str(src), "--budget", "6", "-o", str(out)]) == 2  # exists without --force
    for bad in (["--budget", "0"], ["--budget", "1.5"], ["--strategy", "nosuch"], ["--projector", str(src)]):
        assert main(["tokens", str(src), *bad, "-o", str(tmp_path / "x.safetensors")]) == 2
    assert not (tmp_path / "x.safetensors").exists()


def test_every_shipped_image_codec_gives_tokens_within_budget(monkeypatch):
    from neuralcodecs import load_codec, registry
    from neuralcodecs.inr.overfit import options as overfit_options

    monkeypatch.setitem(overfit_options.EFFORT_STEPS, "fast", 50)  # a fit per image: keep it short here

    picture = np.random.default_rng(2).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    names = [n for n in registry.names("image") if registry.spec(n).ready]
    assert {"hyperprior", "walloc"} <= set(names)
    for name in names:
        codec = load_codec(name)
        fast = {"effort": "fast"} if registry.spec(name).capabilities.get("overfitted") else {}  # fitted per image
        data = codec.encode(picture, quality=codec.quality.default, **fast)
        visual = tokens_from_file(data, strategy="rate", budget=3)
        assert visual.counts == [3] and visual.codec == name, name
