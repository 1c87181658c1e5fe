"""A pool of long-lived local worker processes that survives a worker's death.

Each worker is a spawned process holding the sweep's shared :class:`Context` (sent
once, at start) with Numba kernels single-threaded (``numba.set_num_threads(1)``:
one level of parallelism, the pool's). It loads its compiled kernels on its first
point and keeps them for every later one. The parent sends one task at a time down a
pipe and waits on every busy worker's pipe and process sentinel together: a result
comes back through the pipe; a worker that dies mid-point (a segfault, ``os._exit``,
the OOM killer) has its point recorded as failed with the exit code, and a fresh worker
takes its place, so the rest of the sweep completes. A point handed to a worker that had
already died (say, while starting) is recorded the same way; a rerun retries it.

``concurrent.futures.ProcessPoolExecutor`` cannot do this: one dead worker breaks the
whole pool and every pending point with it.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from multiprocessing.connection import wait

from .points import run_task


def _worker_main(conn):
    import numba

    numba.set_num_threads(1)
    point_fn, context = conn.recv()
    while True:
        task = conn.recv()
        if task is None:
            break
        conn.send(run_task(point_fn, context, task))
    conn.close()


class _Worker:
    """One worker process and the parent's end of its pipe. The shared context goes down
    the pipe after the start, not as a process argument: CPython's spawn writes its
    arguments into a pipe whose read end the parent still holds, so a child that dies
    while starting would leave the parent blocked on a large write for ever."""

    def __init__(self, ctx, point_fn, context):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.task = None
        try:
            self.conn.send((point_fn, context))
        except OSError:  # died while starting: seen as dead when given a task
            pass

    def give(self, task) -> bool:
        """Send ``task``; False if the worker is gone."""
        self.task = task
        try:
            self.conn.send(task)
        except OSError:
            return False
        return True

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

    def died(i, w):
        """Record the dead worker's point as failed and put a fresh worker in its place."""
        task, w.task = w.task, None
        w.process.join()
        w.conn.close()
        on_result(task, {"status": "failed", "wall_s": 0.0,
                         "reason": f"worker process died (exit code {w.process.exitcode})"})
        if pending:
            pool[i] = _Worker(ctx, point_fn, context)

    try:
        while pending or any(w.task for w in pool):
            for i, w in enumerate(pool):
                if w.task is None and pending and not w.give(pending.popleft()):
                    died(i, w)
            busy = [w for w in pool if w.task is not None]
            if not busy:
                continue
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for i, w in enumerate(pool):
                if w.task is None or (w.conn not in ready and w.process.sentinel not in ready):
                    continue
                try:
                    record = w.conn.recv()
                except (EOFError, OSError):  # died mid-point
                    died(i, w)
                    continue
                task, w.task = w.task, None
                on_result(task, record)
    finally:
        for w in pool:
            w.stop()
