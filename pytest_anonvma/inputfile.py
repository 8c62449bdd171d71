"""Reading a file the user names (a case file, an expected-failure list): it must be a regular
file of UTF-8 text no larger than :data:`MAX_INPUT_BYTES`, so ``/dev/zero``, a FIFO or a huge
file give one clear error instead of a hang or running out of memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["MAX_INPUT_BYTES", "InputFileError", "read_input_file"]

#: the largest input file read (the bundled corpus is far smaller)
MAX_INPUT_BYTES = 4 * 1024 * 1024
_CHUNK = 1 << 20


class InputFileError(ValueError):
    """A file that cannot be read as input; the message says why, without the file name."""


def read_input_file(path: str | Path, limit: int = MAX_INPUT_BYTES) -> str:
    """The text of ``path``; :class:`InputFileError` if it cannot be opened, is not a regular
    file, holds more than ``limit`` bytes or is not UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except OSError as exc:
        raise InputFileError(exc.strerror or str(exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputFileError("not a regular file")
        data = bytearray()
        while len(data) <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise InputFileError(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputFileError(f"larger than {limit:,} bytes (the limit for an input file)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"not UTF-8 text (byte {exc.start}: {exc.reason})") from None
