"""bsnn-sim: in-memory binary spiking neural networks on STT-MRAM."""

import os

__version__ = "0.1.0"

# Numba's parallel kernels run on OpenMP here. By default its threads spin at every barrier,
# which costs little on an idle machine and several-fold when another process shares the
# cores (measured: docs/performance.md). Passive waiting keeps a run's share fair. Set
# OMP_WAIT_POLICY yourself to override; it must be set before OpenMP is first loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
