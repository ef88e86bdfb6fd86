"""Well-formed streams that ask for too much: the cases a decoder's budget exists for.

Each function writes a complete, valid ``.ncb`` file of an overfitted video codec whose network
parameters are all zero (they entropy-code to almost nothing, so a small file can announce a big
network and many frames), as an attacker would.  Nothing here fits a network.  The tests and
``benchmarks/hostile_cases.py`` use them; the decoder's budget (:mod:`neuralcodecs.budget`) must
refuse them before building anything.
"""

from __future__ import annotations

import numpy as np

from . import bitstream
from .bitstream import WHOLE_STREAM, Header
from .inr.video_codec import canonical_json
from .inr.weight_coding import QuantizedTensors, encode, step_count


def zero_parameters(layout) -> bytes:
    """The coded parameters of ``layout`` (``[(name, shape, bits), ...]``), every value zero."""
    names, shapes, bits, values, steps = [], [], [], [], []
    for name, shape, b in layout:
        names.append(name)
        shapes.append(tuple(shape))
        bits.append(b)
        values.append(np.zeros(int(np.prod(shape)), dtype=np.int64))
        steps.append(np.zeros(step_count(tuple(shape)), dtype=np.float32))
    return encode(QuantizedTensors(names, shapes, bits, values, steps))


def nerv_stream(frames: int, height: int, width: int, parameters_target: int) -> bytes:
    """A NeRV stream of ``frames`` frames whose network has about ``parameters_target`` parameters."""
    from .inr.nerv import count_parameters, for_size
    from .inr.nerv_codec import NervCodec, architecture_of, parameter_layout

    cfg = for_size(height, width, parameters_target)
    header = Header(codec="nerv", fingerprint=NervCodec().fingerprint, width=width, height=height, frames=frames,
                    fps=(25, 1), config={"parameters": count_parameters(cfg)})
    return bitstream.pack(header, [canonical_json(architecture_of(cfg)), zero_parameters(parameter_layout(cfg))],
                          section_frames=[WHOLE_STREAM, WHOLE_STREAM], keyframes=[])


def hnerv_stream(frames: int, height: int, width: int, parameters_target: int) -> bytes:
    """An HNeRV stream: a decoder and ``frames`` embeddings of about ``parameters_target`` values in all."""
    from .inr.hnerv import for_size, stored_values
    from .inr.hnerv_codec import HnervCodec, architecture_of, decoder_layout, embedding_layout

    cfg = for_size(height, width, frames, parameters_target)
    codec = HnervCodec()
    header = Header(codec="hnerv", fingerprint=codec.fingerprint, width=width, height=height, frames=frames,
                    fps=(25, 1), config={"parameters": stored_values(cfg, frames)})
    sections = [canonical_json(architecture_of(cfg)), zero_parameters(decoder_layout(cfg)),
                zero_parameters(embedding_layout(cfg, frames))]
    tags, keyframes = codec.payload_layout(architecture_of(cfg), header)
    return bitstream.pack(header, sections, section_frames=[WHOLE_STREAM, *tags], keyframes=keyframes)
