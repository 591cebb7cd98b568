"""Write the small census sample shipped with the example trainer.

Usage: python data/census/make_sample.py FULL_DIR [OUT_DIR]

FULL_DIR holds the full UCI Adult files `adult.data.csv` and `adult.test.csv`
(15 fields separated by ", ", no header). Every STRIDE-th row is kept, starting
with the first, so the sample is deterministic and lines are copied byte for byte.
OUT_DIR defaults to this script's folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

STRIDE = 8  # 32,561 -> 4,071 training rows; 16,281 -> 2,036 test rows
FILES = ("adult.data.csv", "adult.test.csv")
LABELS = ("<=50K", ">50K")


def sample_lines(lines: list[str], stride: int) -> list[str]:
    rows = [line for line in lines if line.strip()]
    for number, row in enumerate(rows, 1):
        fields = row.rstrip("\n").split(", ")
        if len(fields) != 15 or fields[-1] not in LABELS:
            raise ValueError(f"row {number} is not a 15-field census row: {row!r}")
    return rows[::stride]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("full_dir", type=Path)
    parser.add_argument("out_dir", type=Path, nargs="?", default=Path(__file__).parent)
    args = parser.parse_args(argv)
    for name in FILES:
        source = args.full_dir / name
        with source.open(encoding="utf-8", newline="") as handle:
            rows = sample_lines(handle.readlines(), STRIDE)
        target = args.out_dir / name
        with target.open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(row if row.endswith("\n") else row + "\n" for row in rows)
        rich = sum(row.rstrip("\n").endswith(">50K") for row in rows)
        print(f"{target}: {len(rows)} rows, {rich / len(rows):.1%} >50K")
    return 0


if __name__ == "__main__":
    sys.exit(main())
