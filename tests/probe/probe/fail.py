"""A trainer that prints, then fails with a traceback."""

from __future__ import annotations


def train() -> None:
    print("training starts", flush=True)
    raise RuntimeError("probe failure marker")


if __name__ == "__main__":
    train()
