"""Import compressai without paying for its point-cloud half.

``import compressai`` (1.2.8) runs, at package import, its point-cloud datasets and transforms
and a registry of transforms built from ``torch_geometric.transforms`` and
``torchvision.transforms``; those import ``torch_geometric``, ``torchvision``, pandas and
``torch._dynamo``.  Measured on this project's 2-core CPU (torch 2.14.1): ``import torch`` 1.9 s
and 0.65 GB; ``import compressai`` 9.5 s and 0.95 GB, of which about 6 s is point-cloud and
vision code this library never calls.  It uses compressai's entropy models, layers and
``CompressionModel``.

:func:`install` puts a finder on ``sys.meta_path`` (before compressai is first imported) that
changes *when* three compressai modules run, not what they contain:

* ``compressai.datasets`` and ``compressai.transforms`` are deferred: the module object exists
  at once (with its ``__file__``, ``__path__`` and spec) and its own code runs, in full, the
  first time one of its public names is read (a user who trains compressai's point-cloud models
  gets them unchanged).  Unlike :class:`importlib.util.LazyLoader`, reading a dunder attribute
  does not load it: tools that scan ``sys.modules`` (``inspect.getmodule`` asks every module
  for ``__file__``) would otherwise start the import in the middle of another one;
* ``compressai.registry.transforms`` becomes a module with the same two names, ``TRANSFORMS``
  and ``register_transform``; ``TRANSFORMS`` is a dict that adds compressai's built-in entries
  (every capitalised name of ``torchvision.transforms`` and ``torch_geometric.transforms``) the
  first time it is read, keeping any transform registered before that.

With it, ``import compressai`` costs about 0.7 s after torch (scipy's statistics, which its
entropy models use).  ``benchmarks/startup.py`` measures both ways;
``NEURALCODECS_EAGER_COMPRESSAI=1`` turns the finder off.  compressai is pinned (``==1.2.8``) in
``pyproject.toml``; a test checks that its layout still matches what this finder expects.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys

LAZY_MODULES = ("compressai.datasets", "compressai.transforms")
REGISTRY_MODULE = "compressai.registry.transforms"


class LazyTransforms(dict):
    """compressai's ``TRANSFORMS`` mapping, filled with the built-in transforms on first read."""

    _filled = False

    def _fill(self) -> None:
        if self._filled:
            return
        self._filled = True
        import torch_geometric.transforms
        import torchvision.transforms

        # upstream order: torchvision, then torch_geometric over it, then registered transforms over both
        builtin = {k: v for k, v in torchvision.transforms.__dict__.items() if k[0].isupper()}
        builtin.update({k: v for k, v in torch_geometric.transforms.__dict__.items() if k[0].isupper()})
        for key, value in builtin.items():
            dict.setdefault(self, key, value)

    def __getitem__(self, key):
        if not dict.__contains__(self, key):
            self._fill()
        return dict.__getitem__(self, key)

    def __contains__(self, key):
        if not dict.__contains__(self, key):
            self._fill()
        return dict.__contains__(self, key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def __len__(self):
        self._fill()
        return dict.__len__(self)

    def keys(self):
        self._fill()
        return dict.keys(self)

    def values(self):
        self._fill()
        return dict.values(self)

    def items(self):
        self._fill()
        return dict.items(self)

    def __repr__(self):
        self._fill()
        return dict.__repr__(self)


def register_transform(name: str):
    """Decorator registering a transform class under ``name`` (compressai's signature)."""

    def decorator(cls):
        dict.__setitem__(_TRANSFORMS, name, cls)
        return cls

    return decorator


_TRANSFORMS = LazyTransforms()


class _DeferredLoader(importlib.abc.Loader):
    """Runs the real loader's ``exec_module`` on the first read of a public name (or ``__all__``)."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        loader = self.loader

        def load_on_first_use(name):
            if name.startswith("__") and name != "__all__":
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
            del module.__getattr__
            loader.exec_module(module)
            return getattr(module, name)

        module.__getattr__ = load_on_first_use


class _RegistryLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.TRANSFORMS = _TRANSFORMS
        module.register_transform = register_transform
        module.__all__ = ["TRANSFORMS", "register_transform"]


class CompressaiDeferringFinder(importlib.abc.MetaPathFinder):
    """The finder :func:`install` adds (see the module docstring)."""

    def find_spec(self, name, path=None, target=None):
        if name == REGISTRY_MODULE:
            return importlib.machinery.ModuleSpec(name, _RegistryLoader())
        if name not in LAZY_MODULES:
            return None
        for finder in sys.meta_path:  # the spec the rest of the path would give
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _DeferredLoader(spec.loader)
                return spec
        return None


def install() -> bool:
    """Add the finder unless compressai is already imported or the environment turns it off;
    True if it is in place."""
    if os.environ.get("NEURALCODECS_EAGER_COMPRESSAI") == "1" or "compressai" in sys.modules:
        return False
    if not any(isinstance(f, CompressaiDeferringFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, CompressaiDeferringFinder())
    return True
