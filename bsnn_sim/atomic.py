"""Writing an output file whole or not at all.

The content goes into a temporary file beside the target, which is then renamed over
it (``os.replace``, atomic on one file system). A failure or an interrupt leaves the
target as it was: never half-written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, write: Callable, binary: bool = False) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it to ``path``
    (permissions as a newly created file would get). OSError propagates."""
    def to_file(tmp: str):
        with open(tmp, "wb" if binary else "w", **({} if binary else {"newline": ""})) as fh:
            write(fh)

    write_atomic_path(path, to_file)


def write_atomic_path(path, write: Callable[[str], None]) -> None:
    """As :func:`write_atomic` for writers that take a file name: ``write(tmp_name)``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
