"""One exception hierarchy for everything a user can get wrong.

The CLI turns a :class:`BsnnError` into a one-line message and exit code 2;
any other exception is a bug and keeps its traceback.
"""


_MAX_SHOWN = 60


def shown(value) -> str:
    """``repr(value)`` cut short, for an error message: it stays one readable line
    whatever the value."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


class BsnnError(Exception):
    """Base class of every user-facing error of bsnn-sim."""


class ConfigError(BsnnError):
    """A workload or architecture TOML file is malformed or out of range."""


class WeightFileError(BsnnError):
    """A weight file is unreadable, corrupted or inconsistent."""


class DatasetError(BsnnError):
    """A dataset is missing, truncated or corrupt."""


class MappingError(BsnnError):
    """A layer cannot be mapped onto the configured hardware."""


class SimulationError(BsnnError):
    """The simulation was asked to do something it cannot."""


class InteropError(BsnnError):
    """A graph from another tool (NIR) cannot be read or converted."""


class OutputError(BsnnError):
    """An output path (``--out``, ``--json``, ``--csv``) cannot be written."""
