"""Feed precomputed visual tokens to Hugging Face vision-language models (transformers 5.24).

The compressed-domain adapter produces :class:`~neuralcodecs.adapter.tokens.VisualTokens`
that stand in for what a VLM's vision tower (and projector) would output.  This module puts
them into the language model at the prompt's image placeholder, for ``model(**kw)`` and
``model.generate(**kw)``::

    kw = to_hf_inputs(model, visual, input_ids)          # input_ids hold one placeholder per row
    out = model.generate(**kw, max_new_tokens=20)        # (B, 20): only the new tokens

Mechanism: ``inputs_embeds``
----------------------------
Transformers 5.24 offers two ways to skip the vision tower:

* ``inputs_embeds``: the prompt's text embeddings with the visual tokens written over the
  placeholder rows.  Every supported class accepts it in ``forward`` and ``generate``; with
  no ``pixel_values`` / ``mm_encoder_outputs`` the vision code is never reached, so nothing
  depends on a family's feature layout (LLaVA-OneVision's ``image_newline`` and anyres
  packing, Qwen's ``image_grid_thw`` split sizes) or on how many placeholders a native image
  of that size would have.  The contract has been stable since transformers 4.x.
* ``mm_encoder_outputs`` (new in 5.x; also what ``generate`` builds internally by calling
  ``get_image_features`` before prefill): a dict ``{"image": BaseModelOutputWithPooling}``
  whose ``pooler_output`` is a list of per-image features, scattered by the model at the
  placeholder ids.  Overriding ``get_image_features`` to return our tokens reaches the same
  place but needs dummy ``pixel_values`` and a patched model.

We use ``inputs_embeds``: it works the same way for all four families, does not patch or
mutate the model's forward, carries gradients to the tokens, and takes no dependence on the
young ``mm_encoder_outputs`` structure.  Its costs: ``generate`` returns only the new
tokens (there are no prompt ids to echo), and Qwen-VL must receive explicit ``position_ids``
(see below) because without ``input_ids`` its forward cannot rebuild M-RoPE positions.

Positions
---------
Every row is left-padded; ``attention_mask`` marks the real tokens.

* LLaVA / LLaVA-OneVision: ``position_ids (B, L)`` count the real tokens
  (``cumsum(mask) - 1``, 0 on padding), exactly what ``generate`` would derive itself, so
  that ``model(**kw)`` and ``generate`` agree on left-padded rows.
* Qwen2-VL / Qwen2.5-VL: 3-D M-RoPE ``position_ids (3, B, L)`` (rows t, y, x), built like
  the model's own ``get_rope_index`` but for an arbitrary subset of grid cells:

  - text before the image: ``t = y = x = i`` (running index over real tokens);
  - an image token at grid cell ``(t, y, x)``: ``(s + floor(t * dt), s + y, s + x)`` with
    ``s`` the position the image starts at and ``dt`` the temporal interval: 1 for images
    (native rule for the image placeholder, both models); for Qwen2.5-VL, passing
    ``second_per_grid_t`` gives the video rule ``dt = tokens_per_second * second_per_grid_t``;
  - text after the image continues at ``s + E`` with ``E`` the extent of the *whole grid*,
    ``max(floor((T - 1) * dt) + 1, h, w)``: max(previous) + 1 computed over the grid the
    tokens were selected from.  For a full still-image grid this is exactly the native
    ``s + max(h, w)``; for a subset it keeps the text at the same relative offset to every
    kept token as with the full image (a budget drops tokens, it does not move the text);
  - padding: 0 (as the native code).

  ``rope_deltas (B, 1)`` = next text position - number of real tokens is stored in
  ``model.model.rope_deltas`` like the native ``get_rope_index`` does: the model's forward
  reads it when called with a cache and without ``position_ids`` (a hand-written decode
  loop).  In 5.24 that fallback only works without ``attention_mask`` and without padding:
  with a mask, ``compute_3d_position_ids`` builds positions for the whole mask length, not
  for the new tokens, and the forward fails.  ``generate`` never uses it (next paragraph).

Generation in 5.24 carries ``position_ids`` in its model kwargs and extends each row by
``last + 1`` per new token (``_update_model_kwargs_for_generation``); ``cache_position`` no
longer exists (only remote-code models still get one).  New tokens therefore continue the
text rule as long as the prompt ends with text after the image (every Qwen chat template
does).  A prompt that *ends* with the image would continue each M-RoPE row separately, as the
native path does in 5.24; :func:`to_hf_inputs` warns in that case.
"""

from __future__ import annotations

import warnings

import torch

from neuralcodecs.adapter.tokens import VisualTokens
from neuralcodecs.errors import CodecArgumentError

# class name -> position scheme ("text": 1-D positions, "mrope": Qwen 3-D positions)
_SUPPORTED = {
    "LlavaForConditionalGeneration": "text",
    "LlavaOnevisionForConditionalGeneration": "text",
    "Qwen2VLForConditionalGeneration": "mrope",
    "Qwen2_5_VLForConditionalGeneration": "mrope",
}

FAMILIES = ("llava", "llava_onevision", "qwen2_vl", "qwen2_5_vl")


def supported_models() -> tuple[str, ...]:
    """Class names of the transformers models :func:`to_hf_inputs` supports."""
    return tuple(_SUPPORTED)


def _scheme(model) -> str:
    """``"text"`` or ``"mrope"`` for a supported model (subclasses included)."""
    for cls in type(model).__mro__:
        if cls.__name__ in _SUPPORTED:
            return _SUPPORTED[cls.__name__]
    raise CodecArgumentError(f"{type(model).__name__} is not supported; supported models: "
                             f"{', '.join(supported_models())}")


def placeholder_token_id(model) -> int:
    """The id of the image placeholder token of a supported model
    (``config.image_token_id``, alias ``image_token_index`` on LLaVA configs)."""
    _scheme(model)
    config = model.config
    token = getattr(config, "image_token_id", None)
    if token is None:
        token = getattr(config, "image_token_index", None)
    if token is None:
        raise CodecArgumentError(f"{type(model).__name__}'s config names no image token id")
    return int(token)


def _pad_token_id(model) -> int:
    """The id whose embedding fills padding rows (the text config's pad id, else 0)."""
    text_config = model.config.get_text_config()
    pad = getattr(text_config, "pad_token_id", None)
    return 0 if pad is None else int(pad)


# --------------------------------------------------------------------------- checks


def _check_visual(model, visual: VisualTokens) -> None:
    """Raise CodecArgumentError when the tokens do not fit the model's text hidden size
    or lie outside their grid."""
    if visual.tokens.ndim != 3:
        raise CodecArgumentError(f"tokens must be (B, N, D), got {tuple(visual.tokens.shape)}")
    width = model.get_input_embeddings().embedding_dim
    if visual.tokens.shape[-1] != width:
        raise CodecArgumentError(f"visual tokens have D={visual.tokens.shape[-1]} but the model's text hidden "
                                 f"size is {width}; project the tokens to {width} first")
    if visual.mask.dtype != torch.bool:
        raise CodecArgumentError(f"mask must be bool, got {visual.mask.dtype}")
    limits = torch.as_tensor(visual.grid, device=visual.positions.device)
    real = visual.positions[visual.mask]
    if real.numel() and (bool((real < 0).any()) or bool((real >= limits).any())):
        raise CodecArgumentError(f"token positions fall outside the grid {tuple(visual.grid)}")


def _check_ids(input_ids) -> None:
    """Raise CodecArgumentError unless ``input_ids`` is an integer ``(B, L)`` tensor."""
    if not isinstance(input_ids, torch.Tensor):
        raise CodecArgumentError(f"input_ids must be a torch tensor, got {type(input_ids).__name__}")
    if input_ids.ndim != 2 or input_ids.dtype not in (torch.int32, torch.int64):
        raise CodecArgumentError(f"input_ids must be an integer (B, L) tensor, got {input_ids.dtype} "
                                 f"{tuple(input_ids.shape)}")


def _check_prompt(input_ids: torch.Tensor, mask: torch.Tensor, placeholder: int, batch: int) -> None:
    """Raise CodecArgumentError unless ``input_ids (B, L)`` has exactly one placeholder in
    the real tokens (``mask (B, L)`` bool) of each row and ``B`` matches the visual batch."""
    if input_ids.shape[0] != batch:
        raise CodecArgumentError(f"input_ids hold {input_ids.shape[0]} prompts but the visual tokens {batch} samples")
    if mask.shape != input_ids.shape:
        raise CodecArgumentError(f"attention_mask {tuple(mask.shape)} does not match input_ids "
                                 f"{tuple(input_ids.shape)}")
    found = ((input_ids == placeholder) & mask).sum(1)
    bad = [i for i, n in enumerate(found.tolist()) if n != 1]
    if bad:
        raise CodecArgumentError(f"each prompt needs exactly one image placeholder (id {placeholder}); rows {bad} "
                                 f"have {[int(found[i]) for i in bad]}")


# --------------------------------------------------------------------------- layout


def expand_placeholders(input_ids: torch.Tensor, attention_mask: torch.Tensor, counts: list[int],
                        placeholder: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeat each row's placeholder ``counts[b]`` times, drop old padding, left-pad to one length.

    Args:
        input_ids: long ``(B, L)`` with exactly one ``placeholder`` among each row's real tokens.
        attention_mask: ``(B, L)``, 1 on real tokens (padding may be left or right).
        counts: real visual tokens of each sample.
        placeholder: the image placeholder id.
        pad_id: the id written on padding.

    Returns:
        ``ids (B, L')``, ``mask (B, L')`` long (0 on the left padding) and ``image (B, L')``
        bool (True where a visual token goes).
    """
    rows = []
    for b, count in enumerate(counts):
        ids = input_ids[b][attention_mask[b].bool()]
        at = int((ids == placeholder).nonzero()[0, 0])
        rows.append(torch.cat([ids[:at], ids.new_full((count,), placeholder), ids[at + 1:]]))
    length = max(len(r) for r in rows)
    out = input_ids.new_full((len(rows), length), pad_id)
    mask = torch.zeros(len(rows), length, dtype=torch.long, device=input_ids.device)
    image = torch.zeros(len(rows), length, dtype=torch.bool, device=input_ids.device)
    for b, row in enumerate(rows):
        out[b, length - len(row):] = row
        mask[b, length - len(row):] = 1
        image[b, length - len(row):] = row == placeholder
    return out, mask, image


def text_position_ids(mask: torch.Tensor) -> torch.Tensor:
    """1-D positions ``(B, L)`` counting real tokens: ``cumsum(mask) - 1``, 0 on padding."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0) * mask.long()


def _grid_extent(grid: tuple[int, int, int], dt: float) -> int:
    """Positions one full grid occupies: ``max(floor((T - 1) * dt) + 1, h, w)``."""
    frames, height, width = grid
    return max(int((frames - 1) * dt) + 1, height, width)


def _mrope_row(length: int, at: int, cells: torch.Tensor, grid: tuple[int, int, int],
               dt: float) -> tuple[torch.Tensor, int]:
    """M-RoPE positions of one unpadded row.

    Args:
        length: real tokens in the row (text plus ``len(cells)`` visual tokens).
        at: index of the first visual token.
        cells: long ``(k, 3)``: ``(t, y, x)`` of the visual tokens in sequence order.
        grid: ``(T, h, w)``.
        dt: temporal interval.

    Returns:
        ``(3, length)`` positions and the position the next text token would get.
    """
    k = len(cells)
    after = length - at - k
    before = torch.arange(at, device=cells.device).expand(3, at)
    visual = cells.T.clone()
    visual[0] = (visual[0].double() * dt).long()
    visual = visual + at
    start = at + (_grid_extent(grid, dt) if k else 0)
    tail = torch.arange(start, start + after, device=cells.device).expand(3, after)
    return torch.cat([before, visual, tail], dim=1), start + after


def mrope_position_ids(mask: torch.Tensor, image: torch.Tensor, cells: list[torch.Tensor],
                       grid: tuple[int, int, int], dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Qwen-VL 3-D positions for left-padded rows holding one visual block each (module doc).

    Args:
        mask: ``(B, L)``, 1 on real tokens.
        image: bool ``(B, L)``, True on visual tokens (one contiguous block per row).
        cells: per sample, long ``(k_b, 3)`` grid cells ``(t, y, x)`` of its visual tokens.
        grid: ``(T, h, w)``.
        dt: temporal interval (1 for images).

    Returns:
        ``position_ids (3, B, L)`` long (0 on padding) and ``rope_deltas (B, 1)``: the next
        text position minus the count of real tokens.
    """
    batch, length = mask.shape
    positions = torch.zeros(3, batch, length, dtype=torch.long, device=mask.device)
    deltas = torch.zeros(batch, 1, dtype=torch.long, device=mask.device)
    for b in range(batch):
        real = mask[b].bool()
        where = image[b][real].nonzero()
        at = int(where[0, 0]) if len(where) else int(real.sum())
        row, nxt = _mrope_row(int(real.sum()), at, cells[b].to(mask.device), grid, dt)
        positions[:, b, real] = row
        deltas[b, 0] = nxt - int(real.sum())
    return positions, deltas


def _time_interval(model, second_per_grid_t: float | None) -> float:
    """Temporal position step per grid frame: 1 (image rule) unless Qwen2.5-VL gets
    ``second_per_grid_t`` (video rule ``tokens_per_second * second_per_grid_t``)."""
    if second_per_grid_t is None:
        return 1.0
    tokens_per_second = getattr(model.config.vision_config, "tokens_per_second", None)
    if tokens_per_second is None:
        raise CodecArgumentError(f"second_per_grid_t only applies to Qwen2.5-VL, not {type(model).__name__}")
    return float(tokens_per_second) * float(second_per_grid_t)


# --------------------------------------------------------------------------- public entry


def _embed(model, ids: torch.Tensor, image: torch.Tensor, visual: VisualTokens) -> torch.Tensor:
    """Text embeddings ``(B, L, D)`` of ``ids`` with the real visual tokens written, in order,
    on the ``image`` rows (differentiable with respect to the tokens).  Placeholder ids are
    looked up as the pad id, so a placeholder id outside the embedding table is harmless."""
    table = model.get_input_embeddings()
    embeds = table(ids.masked_fill(image, _pad_token_id(model)))
    source = torch.cat([visual.sample(b)[0] for b in range(len(visual.counts))])
    return embeds.masked_scatter(image[..., None], source.to(embeds.device, embeds.dtype))


def to_hf_inputs(model, visual: VisualTokens, input_ids: torch.LongTensor, attention_mask=None, *,
                 second_per_grid_t: float | None = None) -> dict:
    """Keyword arguments for ``model(**kw)`` and ``model.generate(**kw)`` with ``visual`` in
    place of the vision tower's output.

    Args:
        model: one of :func:`supported_models` (``tokens`` dimension ``D`` must equal its text
            hidden size).
        visual: ``tokens (B, N, D)``, ``mask (B, N)``, ``positions (B, N, 3)`` on ``grid``;
            samples may hold different counts of real tokens, at any subset of grid cells.
        input_ids: long ``(B, L)``, exactly ONE image placeholder
            (:func:`placeholder_token_id`) among each row's real tokens, where the image goes.
        attention_mask: optional ``(B, L)``, 1 on real tokens (left or right padding).
        second_per_grid_t: Qwen2.5-VL only: seconds per grid frame, to space the temporal
            positions of a ``T > 1`` grid like a video; default: the image rule.

    Returns:
        ``inputs_embeds (B, L', D)``: the prompt with each placeholder expanded to that
        sample's count of real tokens, rows left-padded to one length ``L'``;
        ``attention_mask (B, L')`` long; ``position_ids``: ``(B, L')`` for LLaVA families,
        ``(3, B, L')`` M-RoPE for Qwen-VL (the module doc gives the rule; the Qwen
        ``rope_deltas (B, 1)`` is also stored in ``model.model.rope_deltas``).

    Raises:
        CodecArgumentError: unsupported model, hidden-size mismatch, a prompt without exactly
            one placeholder, batch-size mismatch, positions outside the grid.
    """
    scheme = _scheme(model)
    _check_visual(model, visual)
    placeholder = placeholder_token_id(model)
    _check_ids(input_ids)
    mask = torch.ones_like(input_ids) if attention_mask is None else torch.as_tensor(attention_mask)
    _check_prompt(input_ids, mask.bool(), placeholder, visual.tokens.shape[0])
    device = model.get_input_embeddings().weight.device
    ids, mask, image = expand_placeholders(input_ids.to(device), mask.to(device), visual.counts, placeholder,
                                           _pad_token_id(model))
    kw = {"inputs_embeds": _embed(model, ids, image, visual), "attention_mask": mask}
    if scheme == "text":
        kw["position_ids"] = text_position_ids(mask)
        return kw
    cells = [visual.sample(b)[1] for b in range(len(visual.counts))]
    dt = _time_interval(model, second_per_grid_t)
    kw["position_ids"], deltas = mrope_position_ids(mask, image, cells, visual.grid, dt)
    model.model.rope_deltas = deltas
    if bool(image[:, -1].any()):
        warnings.warn("a prompt ends with the image: generate() would continue each M-RoPE row from the last "
                      "visual token; put text (e.g. the vision-end token) after the image", stacklevel=2)
    return kw


# --------------------------------------------------------------------------- tiny models


def _text_kwargs(hidden_size: int, vocab_size: int) -> dict:
    """Shared sizes of a tiny decoder: 2 layers, 4 heads, 2 KV heads."""
    return dict(hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, vocab_size=vocab_size, pad_token_id=0,
                bos_token_id=1, eos_token_id=2, max_position_embeddings=512, initializer_range=0.2)


def _mrope_section(hidden_size: int) -> list[int]:
    """An M-RoPE split of the rotary half-dimension ``hidden_size / 8`` (4 heads) into (t, y, x)."""
    half = hidden_size // 8
    spatial = half * 3 // 8
    return [half - 2 * spatial, spatial, spatial]


def _llava_config(hidden_size: int, vocab_size: int):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                              image_size=8, patch_size=4)
    return LlavaConfig(vision_config=vision, text_config=LlamaConfig(**_text_kwargs(hidden_size, vocab_size)),
                       image_token_index=vocab_size - 1, image_seq_length=4)


def _onevision_config(hidden_size: int, vocab_size: int):
    from transformers import LlavaOnevisionConfig, Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=8, patch_size=4)
    return LlavaOnevisionConfig(vision_config=vision, text_config=Qwen2Config(**_text_kwargs(hidden_size, vocab_size)),
                                image_token_index=vocab_size - 1, video_token_index=vocab_size - 2,
                                image_grid_pinpoints=[[8, 8]])


def _qwen_text(hidden_size: int, vocab_size: int) -> dict:
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": _mrope_section(hidden_size)}
    return dict(_text_kwargs(hidden_size, vocab_size), rope_parameters=rope)


def _qwen_ids(vocab_size: int) -> dict:
    return dict(image_token_id=vocab_size - 1, video_token_id=vocab_size - 2, vision_start_token_id=vocab_size - 3,
                vision_end_token_id=vocab_size - 4)


def _qwen2_vl_config(hidden_size: int, vocab_size: int):
    from transformers import Qwen2VLConfig

    vision = dict(depth=1, embed_dim=16, hidden_size=hidden_size, num_heads=2, mlp_ratio=2, patch_size=2,
                  temporal_patch_size=2, spatial_merge_size=2)
    return Qwen2VLConfig(vision_config=vision, text_config=_qwen_text(hidden_size, vocab_size), **_qwen_ids(vocab_size))


def _qwen2_5_vl_config(hidden_size: int, vocab_size: int):
    from transformers import Qwen2_5_VLConfig

    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=hidden_size,
                  patch_size=2, temporal_patch_size=2, spatial_merge_size=2, window_size=8,
                  fullatt_block_indexes=[0])
    return Qwen2_5_VLConfig(vision_config=vision, text_config=_qwen_text(hidden_size, vocab_size),
                            **_qwen_ids(vocab_size))


_TINY = {
    "llava": ("LlavaForConditionalGeneration", _llava_config),
    "llava_onevision": ("LlavaOnevisionForConditionalGeneration", _onevision_config),
    "qwen2_vl": ("Qwen2VLForConditionalGeneration", _qwen2_vl_config),
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", _qwen2_5_vl_config),
}


def tiny_vlm(family: str, hidden_size: int = 64, vocab_size: int = 128, seed: int = 0):
    """A randomly initialised tiny VLM of ``family`` (one of :data:`FAMILIES`), built offline
    from config classes, in eval mode: 2 decoder layers of width ``hidden_size`` (a multiple of
    16), 4 heads; the image placeholder is ``vocab_size - 1``, pad 0, bos 1, eos 2.  Decoder
    weights use ``initializer_range=0.2`` (not 0.02) so that attention is far from uniform and
    positions visibly change the logits.  The global RNG is left untouched."""
    if family not in _TINY:
        raise CodecArgumentError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    if hidden_size % 16 or hidden_size < 32:
        raise CodecArgumentError(f"hidden_size must be a multiple of 16 and >= 32, got {hidden_size}")
    if vocab_size < 8:
        raise CodecArgumentError(f"vocab_size must be >= 8, got {vocab_size}")
    import transformers

    name, make_config = _TINY[family]
    config = make_config(hidden_size, vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = getattr(transformers, name)(config)
    return model.eval()
