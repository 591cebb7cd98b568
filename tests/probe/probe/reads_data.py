"""Read data/table.csv beside this module through __file__.

data/ has no __init__.py and is not declared package data: the package's sdist does not
install it, so this works from the source tree and fails where the package is installed.
"""

from __future__ import annotations

from pathlib import Path

if __name__ == "__main__":
    table = Path(__file__).with_name("data") / "table.csv"
    print("table:", table.read_text(encoding="utf-8").strip())
