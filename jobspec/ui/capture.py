"""What a command's function prints, kept instead of printed: the page calls the functions the
command line uses (cancel), and shows their answer."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from jobspec.output import Output, using


class Captured(Output):
    """An Output whose stdout and stderr are strings (JSON, as under --json)."""

    def __init__(self) -> None:
        super().__init__(color="never", as_json=True)
        self._out = io.StringIO()
        self._err = io.StringIO()

    @property
    def stdout(self) -> IO[str]:
        return self._out

    @property
    def stderr(self) -> IO[str]:
        return self._err

    def text(self) -> str:
        return self._out.getvalue()

    def messages(self) -> str:
        return self._err.getvalue()


@contextmanager
def captured() -> Iterator[Captured]:
    """Within the block (and this thread), current() is a Captured."""
    with using(Captured()) as out:
        assert isinstance(out, Captured)
        yield out
