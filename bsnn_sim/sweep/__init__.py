"""Design-space sweeps: a TOML spec of axes over architecture keys (:mod:`.spec`), points
keyed and stored atomically (:mod:`.points`), run on local worker processes
(:mod:`.pool`) or Dask (:mod:`.cluster`) by :func:`run_sweep` (:mod:`.run`)."""

from .run import run_sweep, table_rows
from .spec import load_spec

__all__ = ["load_spec", "run_sweep", "table_rows"]
