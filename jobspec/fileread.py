"""Reading a file that jobspec did not just write: a regular file only, and at most a bound.

A FIFO would block the read forever, a device (/dev/zero, /dev/urandom) never ends, a folder
is not a file: each is refused from its stat, before it is opened, so nothing of it is read.
The file is opened with O_NONBLOCK and checked again, so a file swapped for a FIFO between the
two cannot block either. A regular file larger than the bound is refused from its size.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(
    os, "O_CLOEXEC", 0)
_CHUNK = 1 << 16


class Refused(OSError):
    """Not read: ``reason`` completes "FILE ..." (e.g. "is a FIFO (named pipe), not a file")."""

    def __init__(self, reason: str, size: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.size = size  # set when the file is too large


def not_regular(mode: int) -> str | None:
    """What a file of this mode is, when it is not a regular file."""
    for test, kind in _KINDS:
        if test(mode):
            return f"is {kind}, not a regular file"
    return None if stat.S_ISREG(mode) else "is not a regular file"


def size_text(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def open_regular(path: Path | str) -> int:
    """A read-only descriptor of a regular file; Refused for anything else, OSError as usual."""
    why = not_regular(os.stat(path).st_mode)
    if why is not None:
        raise Refused(why)
    fd = os.open(path, _FLAGS)
    try:
        why = not_regular(os.fstat(fd).st_mode)  # swapped since the stat
        if why is not None:
            raise Refused(why)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Larger: Refused with its size,
    from the stat when it tells (without reading), else after reading ``limit + 1`` bytes."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise Refused(f"is larger than {size_text(limit)} ({size:,} bytes)", size)
        # one read of the whole file when its size is right (files in /proc say 0)
        chunks = [os.read(fd, min(size or _CHUNK, limit) + 1)]
        total = len(chunks[0])
        while chunks[-1] and total <= limit:
            chunks.append(os.read(fd, min(_CHUNK, limit + 1 - total)))
            total += len(chunks[-1])
        if total > limit:
            size = max(os.fstat(fd).st_size, total)
            raise Refused(f"is larger than {size_text(limit)} ({size:,} bytes)", size)
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_stream(stream: IO[Any], limit: int) -> Any:
    """At most ``limit`` bytes (or characters, from a text stream) of an open stream such as
    stdin or a pipe, or Refused: an endless stream stops there."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"is larger than {size_text(limit)}", len(data))
    return data
