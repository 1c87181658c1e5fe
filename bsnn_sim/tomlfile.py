"""Reading TOML config files with one-line errors that name the file.

Whatever the bytes, :func:`read_toml` returns a dict or raises :class:`ConfigError`:
a missing or unreadable path, a directory, a file that is not UTF-8, malformed TOML,
nesting deeper than the parser's recursion allows, a number literal too long to
convert, or a file larger than
:data:`MAX_BYTES` (configs are a few kB; a huge file is not a config).
"""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .errors import ConfigError

MAX_BYTES = 1 << 20


def read_toml(path: Path, what: str) -> dict:
    """Parse ``path``; every problem raises one ConfigError naming the file."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: {what} is a directory, expected a TOML file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{path}: {what} is {size} bytes; a TOML config is at most {MAX_BYTES} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                          f"{exc.start}); TOML files are UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's 4300-digit conversion limit
        raise ConfigError(f"{path}: malformed TOML: {str(exc).split(';')[0]}") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed TOML: arrays or tables nested too deeply") from None
