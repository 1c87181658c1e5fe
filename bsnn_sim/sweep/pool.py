"""A pool of long-lived local worker processes that survives a worker's death.

Each worker is a spawned process holding the sweep's shared :class:`Context` (sent
once, at start) with Numba kernels single-threaded (``numba.set_num_threads(1)``:
one level of parallelism, the pool's). It loads its compiled kernels on its first
point and keeps them for every later one. The parent sends one task at a time down a
pipe and waits on every busy worker's pipe and process sentinel together: a result
comes back through the pipe; a worker that dies mid-point (a segfault, ``os._exit``,
the OOM killer) has its point recorded as failed with the exit code, and a fresh worker
takes its place, so the rest of the sweep completes.

``concurrent.futures.ProcessPoolExecutor`` cannot do this: one dead worker breaks the
whole pool and every pending point with it.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from multiprocessing.connection import wait

from .points import run_task


def _worker_main(conn, point_fn, context):
    import numba

    numba.set_num_threads(1)
    while True:
        task = conn.recv()
        if task is None:
            break
        conn.send((task.index, run_task(point_fn, context, task)))
    conn.close()


class _Worker:
    def __init__(self, ctx, point_fn, context):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, point_fn, context), daemon=True)
        self.process.start()
        child.close()
        self.task = None

    def stop(self):
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_local(tasks, point_fn, context, workers: int, on_result):
    """Run ``tasks`` on ``workers`` processes; ``on_result(task, record)`` in the
    calling process as each finishes (in completion order)."""
    ctx = multiprocessing.get_context("spawn")
    pending = deque(tasks)
    pool = [_Worker(ctx, point_fn, context) for _ in range(max(1, min(workers, len(pending))))]
    try:
        while pending or any(w.task for w in pool):
            for i, w in enumerate(pool):
                if w.task is None and pending:
                    if not w.process.is_alive():  # died between points
                        w.conn.close()
                        pool[i] = w = _Worker(ctx, point_fn, context)
                    w.task = pending.popleft()
                    w.conn.send(w.task)
            busy = [w for w in pool if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for i, w in enumerate(pool):
                if w.task is None or (w.conn not in ready and w.process.sentinel not in ready):
                    continue
                task, w.task = w.task, None
                try:
                    _, record = w.conn.recv()
                except (EOFError, OSError):  # died mid-point: record it, replace the worker
                    w.process.join()
                    on_result(task, {"status": "failed", "wall_s": 0.0,
                                     "reason": f"worker process died (exit code {w.process.exitcode})"})
                    w.conn.close()
                    pool[i] = _Worker(ctx, point_fn, context)
                    continue
                on_result(task, record)
    finally:
        for w in pool:
            w.stop()
