from __future__ import annotations

from jobspec.cli import main

if __name__ == "__main__":
    main()
