"""Sweep points on a Dask distributed cluster (the optional ``dask`` extra).

The same point function and records as the local pool (:mod:`.pool`): the shared
:class:`~.points.Context` is scattered once to every worker, each point is one task
(``pure=False``: never deduplicated or cached by Dask; finished points are skipped by
key before submission), and Numba runs single-threaded inside each task. A task that
raises is recorded by :func:`~.points.run_task` inside the worker; a task whose worker
dies is retried by Dask on another worker up to its ``allowed-failures`` limit and then
recorded here as failed with Dask's error.
"""

from __future__ import annotations

from ..errors import BsnnError
from .points import run_task


def _dask_point(point_fn, context, task):
    import numba

    numba.set_num_threads(1)
    return run_task(point_fn, context, task)


def run_dask(tasks, point_fn, context, scheduler: str, on_result):
    """Run ``tasks`` on the Dask scheduler at ``scheduler`` (e.g. ``tcp://host:8786``);
    ``on_result(task, record)`` here as each finishes."""
    try:
        from distributed import Client, as_completed
    except ModuleNotFoundError:
        raise BsnnError("--scheduler needs Dask distributed: pip install 'bsnn-sim[dask]'") from None
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise BsnnError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    try:
        shared = client.scatter(context, broadcast=True)
        futures = {client.submit(_dask_point, point_fn, shared, t, pure=False): t for t in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                record = fut.result()
            except Exception as exc:  # noqa: BLE001  (a killed worker: recorded, the sweep goes on)
                record = {"status": "failed", "wall_s": 0.0, "reason": f"{type(exc).__name__}: {exc}"}
            on_result(task, record)
    finally:
        client.close()
