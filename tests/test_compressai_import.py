"""compressai loads without its point-cloud half, and that half still works when asked for
(neuralcodecs.compressai_import)."""

import ast
import importlib.util
import subprocess
import sys

import pytest


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_codecs_load_without_torch_geometric_or_torchvision():
    out = _run(
        "import sys, inspect, neuralcodecs as nc\n"
        "nc.load_codec('hyperprior')\n"
        "import compressai\n"
        "inspect.getmodule(compressai)\n"  # scans sys.modules: must not start the deferred imports
        "print(sorted(m for m in ('torch_geometric', 'torchvision', 'pandas') if m in sys.modules))\n"
    )
    assert out == "[]"


def test_deferred_modules_load_in_full_on_first_use():
    out = _run(
        "import sys, neuralcodecs, compressai\n"
        "from compressai.registry import TRANSFORMS\n"
        "import compressai.datasets, compressai.transforms\n"
        "print('torch_geometric' in sys.modules)\n"
        "print(compressai.datasets.ImageFolder.__name__, compressai.transforms.point.__name__)\n"
        "print('Compose' in TRANSFORMS, 'RandomSample' in TRANSFORMS, TRANSFORMS['Compose'].__module__)\n"
    )
    assert out.splitlines() == ["False", "ImageFolder compressai.transforms.point",
                                "True True torch_geometric.transforms.compose"]


def test_the_replaced_registry_module_still_has_upstreams_names():
    """The finder stands in for compressai.registry.transforms: its public names must be upstream's."""
    import neuralcodecs.compressai_import as shim

    spec = importlib.util.find_spec("compressai")
    path = spec.submodule_search_locations[0] + "/registry/transforms.py"
    tree = ast.parse(open(path).read())
    exported = [ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)]
    assert exported == [["TRANSFORMS", "register_transform"]], f"compressai's registry changed: {exported}"
    for module in shim.LAZY_MODULES:
        assert importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("eager", ["1", "0"])
def test_the_environment_switch(eager):
    out = _run(
        f"import os; os.environ['NEURALCODECS_EAGER_COMPRESSAI'] = '{eager}'\n"
        "import sys, neuralcodecs, compressai\n"
        "print('torch_geometric' in sys.modules)\n"
    )
    assert out == ("True" if eager == "1" else "False")
