"""Smallest possible trainer: report the Python and TensorFlow versions, then exit 0.

Used to check that a runner can start a module at all; it imports nothing heavy
unless TensorFlow is actually installed.
"""

from __future__ import annotations

import platform


def main() -> int:
    print(f"Python {platform.python_version()}", flush=True)
    try:
        import tensorflow as tf  # optional and slow to import
    except ImportError:
        print("TensorFlow is not installed", flush=True)
    else:
        print(f"TensorFlow {tf.__version__}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
