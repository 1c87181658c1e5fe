"""bsnn-sim: in-memory binary spiking neural networks on STT-MRAM."""

__version__ = "0.1.0"
