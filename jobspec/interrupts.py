"""Stopping a run: SIGTERM and SIGHUP as an exception, and how a parallel sweep's main thread
tells its runs to stop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class Stop(Exception):
    """SIGTERM, turned into an exception in the main thread like SIGINT's KeyboardInterrupt."""


class Interrupt:
    """How the main thread tells runs in other threads (a parallel sweep) to stop."""

    def __init__(self) -> None:
        self.requested = threading.Event()  # stop, with the grace period
        self.hurry = threading.Event()  # asked again: kill at once
        self.times = 0  # interrupts the user gave

    def again(self) -> bool:
        """One more interrupt from the user: the first asks every run to stop (True: say so),
        any later one to be killed at once (False)."""
        self.times += 1
        if self.times == 1:
            self.requested.set()
            return True
        self.hurry.set()
        return False


def install_sigterm() -> Callable[[], None]:
    """Turn SIGTERM, and SIGHUP (the terminal closed) unless it is ignored (nohup), into Stop
    in the main thread (elsewhere: nothing); returns the undo."""
    def handler(signum: int, frame: Any) -> None:
        raise Stop()

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(sig) is not signal.SIG_IGN}

    def restore() -> None:
        for sig, handling in previous.items():
            signal.signal(sig, signal.SIG_DFL if handling is None else handling)

    return restore
