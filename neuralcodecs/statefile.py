"""Resumable state files that are data, never code: tensors in safetensors, the rest as JSON.

A fitting state (an overfitted codec's ``--fit-state`` file) is a tree of dicts, lists, tuples,
numbers, strings, bytes and tensors: a model's and an optimizer's ``state_dict``, a random
generator's state, the step, the identity of the fit.  :func:`save_state` writes it as one
safetensors file: every tensor (and every ``bytes`` value, as a ``uint8`` tensor) becomes a
named tensor, and the tree itself, with each tensor replaced by a reference to its name, is
JSON in the file's metadata under ``"neuralcodecs.state"``.  Nothing is pickled, so reading a
file a user hands in runs no code of theirs.

:func:`load_state` reads the metadata alone first (the safetensors header), checks that the
file belongs to the fit at hand (every key of ``expected`` equal to the stored one), and only
then reads the tensors.  Any file that is not such a state (a pickle written by an earlier
version of the library, another safetensors file, a damaged file) is refused with
:class:`~neuralcodecs.errors.StateFileError`.

JSON encoding of the tree: a dict whose keys are all strings (none starting with ``$``) is a
JSON object; any other dict is ``{"$dict": [[key, value], ...]}`` (an optimizer's integer
parameter ids); a tuple is ``{"$tuple": [...]}``; a tensor ``{"$tensor": name}``; bytes
``{"$bytes": name}``.  Floats may be ``Infinity`` / ``NaN`` (Python's JSON dialect).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import StateFileError

METADATA_KEY = "neuralcodecs.state"
FORMAT_VERSION = 1
_MARKERS = ("$dict", "$tuple", "$tensor", "$bytes")


def save_state(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (a dict tree, see the module docstring) to ``path`` atomically."""
    from safetensors.torch import save

    tensors: dict[str, Any] = {}
    tree = _encode(state, tensors)
    blob = save(tensors, metadata={METADATA_KEY: json.dumps({"version": FORMAT_VERSION, "state": tree})})
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(blob)
    os.replace(temporary, path)


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON tree of the state at ``path`` with tensors still unread (``{"$tensor": name}``)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as reader:
            metadata = reader.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise StateFileError(_not_a_state(path, str(exc))) from None
    if METADATA_KEY not in metadata:
        raise StateFileError(_not_a_state(path, "no neuralcodecs state in its metadata"))
    try:
        document = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise StateFileError(_not_a_state(path, f"its state is not JSON ({exc})")) from None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION or not isinstance(document.get("state"), dict):
        raise StateFileError(_not_a_state(path, "unknown state layout"))
    return document["state"]


def load_state(path: str | os.PathLike | None, expected: dict, device=None) -> dict | None:
    """The state saved at ``path`` (``None`` if there is no file), tensors on the CPU (or ``device``).

    ``expected``: keys whose stored values must equal these (the fit's identity and
    configuration, compared as JSON); a mismatch raises :class:`StateFileError` before any
    tensor is read.
    """
    if path is None or not Path(path).exists():
        return None
    tree = read_metadata(path)
    for key, value in expected.items():
        if key not in tree or tree[key] != _as_stored(value):
            raise StateFileError(f"{path} was made by another fit (another input, model or fitting configuration: "
                                 f"{key!r} differs); delete it or choose another state file")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path), device=str(device) if device is not None else "cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise StateFileError(_not_a_state(path, str(exc))) from None
    return _decode(tree, tensors, path)


def restore_failed(path, exc: Exception) -> StateFileError:
    """The error for a state whose values do not fit the model or optimizer they are restored into."""
    return StateFileError(f"{path} does not fit this fit's model ({type(exc).__name__}: {exc}); delete it to start afresh")


def _not_a_state(path, why: str) -> str:
    return (f"{path} is not a neuralcodecs fitting state ({why}); state files of earlier versions were pickles and "
            "are not read: delete the file to start the fit afresh")


def _as_stored(value):
    """``value`` (no tensors) encoded as the state's JSON holds it."""
    return json.loads(json.dumps(_encode(value, {})))


def _encode(value, tensors: dict):
    import torch

    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().contiguous().clone()
        return {"$tensor": name}
    if isinstance(value, (bytes, bytearray)):
        name = f"t{len(tensors)}"
        tensors[name] = torch.frombuffer(bytearray(value), dtype=torch.uint8) if value else torch.zeros(0, dtype=torch.uint8)
        return {"$bytes": name}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, tensors) for k, v in value.items()}
        return {"$dict": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a state file cannot hold {type(value).__name__}")


def _decode(value, tensors: dict, path):
    if isinstance(value, list):
        return [_decode(v, tensors, path) for v in value]
    if not isinstance(value, dict):
        return value
    markers = [m for m in _MARKERS if m in value]
    if not markers:
        return {k: _decode(v, tensors, path) for k, v in value.items()}
    if len(value) != 1:
        raise StateFileError(_not_a_state(path, f"malformed entry {sorted(value)}"))
    marker, content = markers[0], value[markers[0]]
    if marker in ("$tensor", "$bytes"):
        if not isinstance(content, str) or content not in tensors:
            raise StateFileError(_not_a_state(path, f"it names a tensor it does not hold ({content!r})"))
        tensor = tensors[content]
        return tensor if marker == "$tensor" else tensor.numpy().tobytes()
    if not isinstance(content, list):
        raise StateFileError(_not_a_state(path, f"malformed {marker} entry"))
    if marker == "$tuple":
        return tuple(_decode(v, tensors, path) for v in content)
    out = {}
    for pair in content:
        if not isinstance(pair, list) or len(pair) != 2:
            raise StateFileError(_not_a_state(path, "malformed $dict entry"))
        key = _decode(pair[0], tensors, path)
        if not isinstance(key, (str, int, float, bool, type(None), tuple)):
            raise StateFileError(_not_a_state(path, "a dict key that is not a plain value"))
        out[key] = _decode(pair[1], tensors, path)
    return out
