"""Visual tokens injected into tiny, randomly initialised Hugging Face VLMs (built offline)."""

import copy

import pytest
import torch

pytest.importorskip("transformers")

from transformers.modeling_outputs import BaseModelOutputWithPooling  # noqa: E402

from neuralcodecs.adapter.hf import (  # noqa: E402
    FAMILIES,
    placeholder_token_id,
    supported_models,
    tiny_vlm,
    to_hf_inputs,
)
from neuralcodecs.adapter.tokens import VisualTokens  # noqa: E402
from neuralcodecs.errors import CodecArgumentError  # noqa: E402

D = 64
GRID = (1, 4, 4)
# two samples with different counts of real tokens at scattered cells (t, y, x) of GRID
CELLS = ([(0, 0, 1), (0, 1, 3), (0, 2, 0), (0, 3, 3), (0, 3, 1)], [(0, 0, 2), (0, 2, 2), (0, 1, 0)])


@pytest.fixture(scope="module")
def models():
    return {family: tiny_vlm(family) for family in FAMILIES}


def scattered(seed=0, cells=CELLS, grid=GRID) -> VisualTokens:
    """B=2 samples with 5 and 3 real tokens; N = 6, so both rows end with padding (zeros)."""
    g = torch.Generator().manual_seed(seed)
    n = max(len(c) for c in cells) + 1
    tokens, mask = torch.zeros(len(cells), n, D), torch.zeros(len(cells), n, dtype=torch.bool)
    positions = torch.zeros(len(cells), n, 3, dtype=torch.long)
    for b, sample in enumerate(cells):
        tokens[b, :len(sample)] = torch.randn(len(sample), D, generator=g)
        mask[b, :len(sample)] = True
        positions[b, :len(sample)] = torch.tensor(sample)
    return VisualTokens(tokens, mask, positions, grid)


def full_grid(h, w, batch=2, seed=1) -> VisualTokens:
    """Every cell of a (1, h, w) grid, row-major, for ``batch`` samples."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cells = torch.stack([torch.zeros(h * w, dtype=torch.long), ys.flatten(), xs.flatten()], -1)
    tokens = torch.randn(batch, h * w, D, generator=torch.Generator().manual_seed(seed))
    return VisualTokens(tokens, torch.ones(batch, h * w, dtype=torch.bool), cells.expand(batch, -1, -1).clone(),
                        (1, h, w))


def prompts(model):
    """Two prompts of 5 ids, the placeholder at index 2 and 1."""
    p = placeholder_token_id(model)
    return torch.tensor([[5, 6, p, 7, 8], [9, p, 10, 11, 12]])


def native_layout(ids, counts, placeholder, mask=None):
    """Reference expansion written out by hand: padding dropped, placeholder repeated, rows
    left-padded with id 0.  Returns ``(ids, mask)``."""
    mask = torch.ones_like(ids) if mask is None else mask
    rows = []
    for row, keep, count in zip(ids.tolist(), mask.tolist(), counts):
        row = [i for i, k in zip(row, keep) if k]
        at = row.index(placeholder)
        rows.append(row[:at] + [placeholder] * count + row[at + 1:])
    length = max(map(len, rows))
    return (torch.tensor([[0] * (length - len(r)) + r for r in rows]),
            torch.tensor([[0] * (length - len(r)) + [1] * len(r) for r in rows]))


def patch_image_features(model, monkeypatch, features):
    """Make the native image path return ``features`` (a list, one (n_i, D) tensor per image)."""
    def fake(pixel_values, image_grid_thw=None, **kwargs):
        return BaseModelOutputWithPooling(pooler_output=list(features))

    monkeypatch.setattr(model.model, "get_image_features", fake)


def step_logits(model, kw, steps=4):
    """Greedy generation: ``(sequences (B, steps), logits (B, steps, V))``."""
    with torch.no_grad():
        out = model.generate(**kw, max_new_tokens=steps, do_sample=False, output_logits=True,
                             return_dict_in_generate=True)
    return out.sequences, torch.stack(out.logits, 1)


# --------------------------------------------------------------------------- layout and generate


@pytest.mark.parametrize("family", FAMILIES)
def test_placeholder_expansion_and_generate(models, family):
    model, visual = models[family], scattered()
    ids = prompts(model)
    kw = to_hf_inputs(model, visual, ids)

    # sample 0: 4 text + 5 visual = 9; sample 1: 4 text + 3 visual = 7, left-padded by 2
    assert kw["inputs_embeds"].shape == (2, 9, D)
    assert kw["attention_mask"].tolist() == [[1] * 9, [0, 0] + [1] * 7]
    table = model.get_input_embeddings().weight.detach()
    embeds = kw["inputs_embeds"].detach()
    image_rows = [range(2, 7), range(3, 6)]
    for b, rows in enumerate(image_rows):
        is_visual = torch.tensor([any(torch.equal(embeds[b, i], t) for t in visual.sample(b)[0]) for i in range(9)])
        assert is_visual.sum() == visual.counts[b]
        assert torch.equal(embeds[b, list(rows)], visual.tokens[b, :visual.counts[b]])
    assert torch.equal(embeds[0, [0, 1, 7, 8]], table[[5, 6, 7, 8]])
    assert torch.equal(embeds[1, [2, 6, 7, 8]], table[[9, 10, 11, 12]])

    with torch.no_grad():
        out = model.generate(**kw, max_new_tokens=3, do_sample=False)
    assert out.shape == (2, 3)


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_follow_the_tokens_but_not_their_padding(models, family):
    model, visual = models[family], scattered()
    ids = prompts(model)
    with torch.no_grad():
        base = model(**to_hf_inputs(model, visual, ids)).logits
        changed = copy.deepcopy(visual)
        changed.tokens[1, 0] += 1.0                 # a real token of sample 1
        moved = model(**to_hf_inputs(model, changed, ids)).logits
        padded = copy.deepcopy(visual)
        padded.tokens[~padded.mask] = torch.randn(int((~padded.mask).sum()), D)   # padding rows only
        same = model(**to_hf_inputs(model, padded, ids)).logits
    real = to_hf_inputs(model, visual, ids)["attention_mask"].bool()
    assert not torch.allclose(base[1][real[1]], moved[1][real[1]], atol=1e-4)
    assert torch.equal(base[0], moved[0])           # other samples are untouched
    assert torch.equal(base, same)


def test_gradients_reach_the_tokens(models):
    model, visual = models["llava"], scattered()
    visual.tokens.requires_grad_(True)
    model(**to_hf_inputs(model, visual, prompts(model))).logits.sum().backward()
    grad = visual.tokens.grad
    assert grad[visual.mask].abs().sum() > 0 and grad[~visual.mask].abs().sum() == 0


# --------------------------------------------------------------------------- native equivalence


def test_llava_matches_its_native_image_path(models, monkeypatch):
    model, visual = models["llava"], scattered()
    ids, p = prompts(model), placeholder_token_id(model)
    kw = to_hf_inputs(model, visual, ids)
    native_ids, native_mask = native_layout(ids, visual.counts, p)
    patch_image_features(model, monkeypatch, [visual.sample(b)[0] for b in range(2)])
    native = dict(input_ids=native_ids, attention_mask=native_mask, pixel_values=torch.zeros(2, 3, 8, 8))
    with torch.no_grad():
        ours = model(**kw).logits
        theirs = model(**native, position_ids=(native_mask.cumsum(-1) - 1).clamp_min(0)).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    # generate derives its own positions from the mask on the native path
    seq_ours, logits_ours = step_logits(model, kw)
    seq_theirs, logits_theirs = step_logits(model, native)
    assert torch.equal(seq_ours, seq_theirs[:, native_ids.shape[1]:])
    torch.testing.assert_close(logits_ours, logits_theirs, rtol=0, atol=1e-5)


def native_qwen_inputs(model, ids, visual, mask=None):
    """Kwargs of Qwen's native image path for a full ``(1, h, w)`` token grid: expanded
    ``input_ids``, ``attention_mask``, ``mm_token_type_ids``, ``image_grid_thw`` in patches
    (the spatial merge folds ``merge x merge`` patches into one token) and dummy pixels."""
    p, merge = placeholder_token_id(model), model.config.vision_config.spatial_merge_size
    native_ids, native_mask = native_layout(ids, visual.counts, p, mask)
    _, h, w = visual.grid
    thw = torch.tensor([[1, h * merge, w * merge]] * len(ids))
    return dict(input_ids=native_ids, attention_mask=native_mask, mm_token_type_ids=(native_ids == p).int(),
                image_grid_thw=thw, pixel_values=torch.zeros(len(ids) * h * w * merge * merge, 24))


QWEN = ["qwen2_vl", "qwen2_5_vl"]
# left-padded prompts with text on both sides of the placeholder (ids 0 = padding)
PADDED = ([[0, 0, 5, 6, -1, 7, 8], [9, 10, 11, -1, 12, 13, 14]], [[0, 0, 1, 1, 1, 1, 1], [1] * 7])


def padded_prompts(model):
    ids = torch.tensor(PADDED[0])
    return ids.masked_fill(ids < 0, placeholder_token_id(model)), torch.tensor(PADDED[1])


@pytest.mark.parametrize("family", QWEN)
def test_qwen_full_grid_positions_equal_get_rope_index(models, family):
    model, visual = models[family], full_grid(3, 4)
    ids, mask = padded_prompts(model)
    kw = to_hf_inputs(model, visual, ids, mask)
    native = native_qwen_inputs(model, ids, visual, mask)
    expected, deltas = model.model.get_rope_index(native["input_ids"], native["mm_token_type_ids"],
                                                  image_grid_thw=native["image_grid_thw"],
                                                  attention_mask=native["attention_mask"])
    assert torch.equal(kw["attention_mask"], native["attention_mask"])
    assert torch.equal(kw["position_ids"], expected)
    assert torch.equal(model.model.rope_deltas, deltas)


def test_qwen_subset_positions_follow_the_grid_rule(models):
    model, visual = models["qwen2_vl"], scattered()
    kw = to_hf_inputs(model, visual, prompts(model))
    t, y, x = kw["position_ids"]
    # sample 0: text 0, 1; image starts at 2 with cells (0,0,1) (0,1,3) (0,2,0) (0,3,3) (0,3,1);
    # text after continues at 2 + max(T, h, w) = 6
    assert t[0].tolist() == [0, 1, 2, 2, 2, 2, 2, 6, 7]
    assert y[0].tolist() == [0, 1, 2, 3, 4, 5, 5, 6, 7]
    assert x[0].tolist() == [0, 1, 3, 5, 2, 5, 3, 6, 7]
    # sample 1 (2 pads): text 0; image at 1 with cells (0,0,2) (0,2,2) (0,1,0); text 5, 6, 7
    assert y[1].tolist() == [0, 0, 0, 1, 3, 2, 5, 6, 7]
    assert x[1].tolist() == [0, 0, 0, 3, 3, 1, 5, 6, 7]
    # rope_deltas: next text position (8 in both rows) minus real tokens (9 and 7)
    assert model.model.rope_deltas.flatten().tolist() == [8 - 9, 8 - 7]


def test_qwen2_5_video_spacing_matches_native_video_rule(models):
    model = models["qwen2_5_vl"]
    frames, h, w, seconds = 2, 3, 4, 0.5
    ts, ys, xs = torch.meshgrid(torch.arange(frames), torch.arange(h), torch.arange(w), indexing="ij")
    cells = torch.stack([ts.flatten(), ys.flatten(), xs.flatten()], -1)[None]
    visual = VisualTokens(torch.randn(1, frames * h * w, D), torch.ones(1, frames * h * w, dtype=torch.bool), cells,
                          (frames, h, w))
    p, video = placeholder_token_id(model), model.config.video_token_id
    kw = to_hf_inputs(model, visual, torch.tensor([[5, p, 6, 7]]), second_per_grid_t=seconds)
    native_ids = torch.tensor([[5] + [video] * (frames * h * w) + [6, 7]])
    merge = model.config.vision_config.spatial_merge_size
    expected, _ = model.model.get_rope_index(native_ids, (native_ids == video).int() * 2,
                                             video_grid_thw=torch.tensor([[frames, h * merge, w * merge]]),
                                             second_per_grid_ts=torch.tensor([seconds]))
    assert model.config.vision_config.tokens_per_second * seconds != 1   # the spacing is exercised
    assert torch.equal(kw["position_ids"], expected)


@pytest.mark.parametrize("family", QWEN)
def test_qwen_generation_matches_the_native_image_path(models, family, monkeypatch):
    model, visual = models[family], full_grid(3, 4)
    ids, mask = padded_prompts(model)
    kw = to_hf_inputs(model, visual, ids, mask)
    native = native_qwen_inputs(model, ids, visual, mask)
    patch_image_features(model, monkeypatch, [visual.tokens[0], visual.tokens[1]])
    seq_ours, logits_ours = step_logits(model, kw)
    seq_theirs, logits_theirs = step_logits(model, native)   # positions from the model's own get_rope_index
    assert torch.equal(seq_ours, seq_theirs[:, native["input_ids"].shape[1]:])
    torch.testing.assert_close(logits_ours, logits_theirs, rtol=0, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model(**kw).logits[kw["attention_mask"].bool()],
                                   model(**native).logits[native["attention_mask"].bool()], rtol=0, atol=1e-5)
    # control: the same embeddings with plain 1-D text positions give other logits
    flat = dict(kw, position_ids=kw["attention_mask"].cumsum(-1).sub(1).clamp_min(0).expand(3, -1, -1))
    assert not torch.allclose(step_logits(model, flat)[1], logits_ours, atol=1e-3)


def test_qwen_generated_tokens_continue_the_text_positions(models):
    """generate() step logits equal one uncached forward over prompt + generated tokens whose
    positions continue the text rule (next text position + i in all three rows)."""
    model, visual = models["qwen2_vl"], scattered()
    kw = to_hf_inputs(model, visual, prompts(model))
    seq, logits = step_logits(model, kw, steps=3)
    start = kw["position_ids"].amax(dim=(0, 2)) + 1            # (B,) next text position
    new = start[None, :, None] + torch.arange(2)[None, None]   # positions of the 2 fed-back tokens
    full = dict(inputs_embeds=torch.cat([kw["inputs_embeds"], model.get_input_embeddings()(seq[:, :2])], 1),
                attention_mask=torch.cat([kw["attention_mask"], torch.ones(2, 2, dtype=torch.long)], 1),
                position_ids=torch.cat([kw["position_ids"], new.expand(3, -1, -1)], -1))
    with torch.no_grad():
        ref = model(**full, use_cache=False).logits[:, -3:]
    torch.testing.assert_close(logits, ref, rtol=0, atol=1e-4)


def test_qwen_rope_deltas_continue_a_manual_cached_decode(models):
    """A forward with a cache and no position_ids rebuilds positions from model.model.rope_deltas."""
    model = models["qwen2_vl"]
    visual = scattered(cells=(CELLS[0], CELLS[0]))               # equal lengths: no padding
    ids = prompts(model)
    ids = torch.stack([ids[0], ids[0]])
    kw = to_hf_inputs(model, visual, ids)
    _, logits = step_logits(model, kw, steps=2)
    with torch.no_grad():
        first = model(**kw, use_cache=True)
        nxt = model.get_input_embeddings()(first.logits[:, -1].argmax(-1))[:, None]
        second = model(inputs_embeds=nxt, cache=first.cache).logits[:, -1]
    torch.testing.assert_close(second, logits[:, 1], rtol=0, atol=1e-5)


def test_qwen_warns_when_the_prompt_ends_with_the_image(models):
    p = placeholder_token_id(models["qwen2_vl"])
    with pytest.warns(UserWarning, match="ends with the image"):
        to_hf_inputs(models["qwen2_vl"], scattered(), torch.tensor([[5, 6, p], [9, 10, p]]))


# --------------------------------------------------------------------------- errors


def test_typed_errors(models):
    model, visual = models["llava"], scattered()
    p = placeholder_token_id(model)
    with pytest.raises(CodecArgumentError, match="hidden size"):
        to_hf_inputs(model, VisualTokens(torch.zeros(2, 6, D + 1), visual.mask, visual.positions, GRID),
                     prompts(model))
    with pytest.raises(CodecArgumentError, match="exactly one"):
        to_hf_inputs(model, visual, torch.tensor([[5, 6, 7], [8, p, 9]]))
    with pytest.raises(CodecArgumentError, match="exactly one"):
        to_hf_inputs(model, visual, torch.tensor([[5, p, p], [8, p, 9]]))
    with pytest.raises(CodecArgumentError, match="exactly one"):   # a placeholder on padding does not count
        to_hf_inputs(model, visual, torch.tensor([[p, 6, 7], [8, p, 9]]), torch.tensor([[0, 1, 1], [1, 1, 1]]))
    with pytest.raises(CodecArgumentError, match="not supported"):
        to_hf_inputs(torch.nn.Linear(2, 2), visual, prompts(model))
    with pytest.raises(CodecArgumentError, match="not supported"):
        placeholder_token_id(torch.nn.Linear(2, 2))
    with pytest.raises(CodecArgumentError, match="outside the grid"):
        to_hf_inputs(model, VisualTokens(visual.tokens, visual.mask, visual.positions + 4, GRID), prompts(model))
    with pytest.raises(CodecArgumentError, match="unknown family"):
        tiny_vlm("blip")


def test_supported_models_are_what_tiny_vlm_builds(models):
    assert sorted(supported_models()) == sorted(type(m).__name__ for m in models.values())


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_tokens_from_real_hyperprior_and_walloc_files_run_through_generate(family, models):
    """End to end: .ncb files -> latents (no synthesis) -> projector -> budget -> generate()."""
    import numpy as np

    from neuralcodecs import latents, load_codec
    from neuralcodecs.adapter.core import tokens_from_latents
    from neuralcodecs.adapter.projector import TokenProjector

    picture = np.random.default_rng(5).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    model = models[family]
    for codec_name in ("hyperprior", "walloc"):
        lat = latents(load_codec(codec_name).encode(picture, quality=2))
        torch.manual_seed(0)
        projector = TokenProjector(lat.tensor.shape[0], lat.stride[0], dim=D).eval()
        visual = tokens_from_latents([lat, lat], projector, strategy="rate", budget=6)
        assert visual.counts == [6, 6] and visual.grid == (1, 4, 5)
        kw = to_hf_inputs(model, visual, prompts(model))
        assert int((kw["attention_mask"].sum(1) == torch.tensor([5 - 1 + 6] * 2)).all())
        out = model.generate(**kw, max_new_tokens=2, do_sample=False)
        assert out.shape == (2, 2), codec_name
