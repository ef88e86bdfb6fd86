"""encode-dataset through Ray Data, on a local Ray instance this test starts (2 CPUs) and stops."""

import pytest
from shard_samples import CODEC, QUALITY

pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'neuralcodecs[scale]')")

from neuralcodecs.errors import UnsupportedImageError  # noqa: E402
from neuralcodecs.shards import encode_dataset  # noqa: E402


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_writes_the_same_bytes_as_one_local_process(ray_instance, dataset, image_folder, tmp_path):
    out = tmp_path / "ray"
    manifest = encode_dataset(image_folder, out, CODEC, QUALITY, shard_size=3, engine="ray", mirror=True, progress=False)
    assert manifest.complete and len(manifest.shards) == 6
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {p.name: p.read_bytes() for p in dataset.iterdir()}
    assert ray_instance.is_initialized()  # the engine used the running instance and left it running


def test_a_task_s_typed_error_reaches_the_caller(ray_instance, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(UnsupportedImageError, match="broken.png"):
        encode_dataset(tmp_path / "src", tmp_path / "out", CODEC, QUALITY, engine="ray", progress=False)
