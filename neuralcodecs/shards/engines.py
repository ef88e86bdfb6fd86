"""Where :func:`~neuralcodecs.shards.encoding.encode_task` runs: this process, local worker
processes, or a Ray cluster through Ray Data.

Every engine is ``engine(tasks, codec, quality, jobs) -> iterator of result rows``, in any
order; the caller puts the rows back in dataset order.  Nothing here schedules work by hand:
``multiprocessing.Pool.imap_unordered`` and Ray Data's streaming executor do it.

``ray``: joins the cluster named by ``RAY_ADDRESS`` (``ray.init()`` reads it), or the instance
this process already started (``ray.is_initialized()``), or else starts a local instance with
``jobs`` CPUs (all of them when ``jobs`` is None) and shuts it down at the end.  The tasks are
a Ray dataset (``ray.data.from_items``), mapped with ``num_cpus=1`` per call; on a real cluster
the source images must be readable at the same paths on every node, as for any Ray Data job
that reads files.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator

from ..errors import CodecArgumentError
from .encoding import encode_task, use_one_thread

ENGINES = ("local", "ray")


def run_in_process(tasks: list[dict], codec: str, quality: float, jobs: int | None = None) -> Iterator[dict]:
    """Encode the tasks one after another here, with one torch thread (restored after)."""
    import torch

    before = use_one_thread()
    try:
        for task in tasks:
            yield encode_task(task, codec, quality)
    finally:
        torch.set_num_threads(before)


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    use_one_thread()


def run_local(tasks: list[dict], codec: str, quality: float, jobs: int | None = 1) -> Iterator[dict]:
    """``jobs`` worker processes (spawned: forking after torch started its thread pools is unsafe);
    ``jobs`` 1 (or None) runs in this process."""
    jobs = jobs or 1
    if jobs == 1 or len(tasks) <= 1:
        yield from run_in_process(tasks, codec, quality)
        return
    import multiprocessing

    work = functools.partial(encode_task, codec=codec, quality=quality)
    pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(tasks)), initializer=_init_worker)
    try:
        # small chunks keep the rows flowing back in about dataset order (few held back)
        yield from pool.imap_unordered(work, tasks, chunksize=max(1, min(8, len(tasks) // (4 * jobs))))
        pool.close()
    finally:
        pool.terminate()
        pool.join()


@contextlib.contextmanager
def ray_session(jobs: int | None):
    """A connected Ray: the existing session, the cluster at ``RAY_ADDRESS``, or a new local instance."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise CodecArgumentError(f"--engine ray needs Ray Data: pip install 'neuralcodecs[scale]' ({exc})") from None
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # one line per execution step otherwise
    started = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS") or None
        local = {} if address else {"num_cpus": jobs, "include_dashboard": False}
        ray.init(address=address, log_to_driver=False, configure_logging=False, **local)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def run_ray(tasks: list[dict], codec: str, quality: float, jobs: int | None = None) -> Iterator[dict]:
    """The tasks as a Ray dataset mapped by :func:`~neuralcodecs.shards.encoding.encode_row`
    (at most ``jobs`` calls at once when given); Ray Data's own progress bars are off (the caller
    shows one)."""
    if not tasks:
        return
    from .encoding import encode_row, raise_row_error

    with ray_session(jobs) as ray:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.enable_operator_progress_bars = False
        context.execution_options.verbose_progress = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        # blocks of about 16 images: rows come back steadily, and no worker waits on a long tail
        blocks = min(len(tasks), max(2 * cpus, -(-len(tasks) // 16)))
        dataset = ray.data.from_items(tasks, override_num_blocks=blocks)
        mapped = dataset.map(encode_row, fn_kwargs={"codec": codec, "quality": quality}, num_cpus=1,
                             compute=ray.data.TaskPoolStrategy(size=jobs) if jobs else None)
        for row in mapped.iter_rows():
            raise_row_error(row)
            yield row


def engine(name: str) -> Callable[..., Iterator[dict]]:
    """The engine called ``name`` (:data:`ENGINES`); :class:`CodecArgumentError` for another name."""
    if name not in ENGINES:
        raise CodecArgumentError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
    return {"local": run_local, "ray": run_ray}[name]
