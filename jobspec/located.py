"""Spec data that remembers where each value came from, so every error can name file:line:col.

Mappings and lists are dict/list subclasses carrying positions; scalars are plain values whose
position is held by their container. Transformations (overrides, extends, interpolation) keep
the positions, so a value inherited from another target or file still points at its origin.
"""

from __future__ import annotations

from typing import Any, NamedTuple

Path_ = tuple[str | int, ...]


class Loc(NamedTuple):
    """Where a value is written. A named tuple (immutable, hashable, the same repr) rather than a
    frozen dataclass: the loader makes one per key and value of every spec, and creating a
    frozen dataclass took over twice as long."""

    file: str  # a display name: the spec path, or "--set key=value" for an override
    line: int  # 1-based
    col: int  # 1-based


class LDict(dict[str, Any]):
    """A mapping with the position of itself, of each key, and of each value."""

    def __init__(self, loc: Loc) -> None:
        super().__init__()
        self.loc = loc
        self.key_locs: dict[str, Loc] = {}
        self.val_locs: dict[str, Loc] = {}

    def put(self, key: str, value: Any, key_loc: Loc, val_loc: Loc) -> None:
        self[key] = value
        self.key_locs[key] = key_loc
        self.val_locs[key] = val_loc

    def copy_entry(self, other: LDict, key: str, value: Any = None, *, use: bool = False) -> None:
        self.put(key, value if use else other[key], other.key_locs[key], other.val_locs[key])

    def clone(self, loc: Loc | None = None) -> LDict:
        """A shallow copy with its own positions (at ``loc``, if given)."""
        out = LDict(self.loc if loc is None else loc)
        out.update(self)
        out.key_locs = self.key_locs.copy()
        out.val_locs = self.val_locs.copy()
        return out


class LList(list[Any]):
    def __init__(self, loc: Loc) -> None:
        super().__init__()
        self.loc = loc
        self.item_locs: list[Loc] = []

    def clone(self) -> LList:
        """A shallow copy with its own positions."""
        out = LList(self.loc)
        out.extend(self)
        out.item_locs = self.item_locs.copy()
        return out


def deep_merge(base: Any, over: Any) -> Any:
    """Mappings merge deeply; lists and scalars in ``over`` replace those in ``base``."""
    if not (isinstance(base, LDict) and isinstance(over, LDict)):
        return over
    merged = base.clone(over.loc)
    for key in over:
        if key in merged:
            merged.put(key, deep_merge(merged[key], over[key]), over.key_locs[key],
                       over.val_locs[key])
        else:
            merged.copy_entry(over, key)
    return merged


def count_values(value: Any, memo: dict[int, int]) -> int:
    """Values in ``value`` with aliases expanded; a shared (aliased) container is walked once,
    its count kept in ``memo`` by id, so the containers must not change while it is in use."""
    if not isinstance(value, (LDict, LList)):
        return 1
    known = memo.get(id(value))
    if known is None:
        known = 1
        for item in value.values() if isinstance(value, LDict) else value:
            known += count_values(item, memo) if isinstance(item, (LDict, LList)) else 1
        memo[id(value)] = known
    return known


def plain(value: Any) -> Any:
    # scalars are tested inline, not passed to plain(): most values are scalars
    if isinstance(value, LDict):
        return {k: plain(v) if isinstance(v, (LDict, LList)) else v for k, v in value.items()}
    if isinstance(value, LList):
        return [plain(v) if isinstance(v, (LDict, LList)) else v for v in value]
    return value


def locate(root: Any, path: Path_, *, key: bool = False) -> Loc | None:
    """Position of the value (or key) at ``path``; the nearest known ancestor when not exact."""
    node = root
    best: Loc | None = root.loc if isinstance(root, (LDict, LList)) else None
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, LDict) and isinstance(part, str) and part in node:
            best = node.key_locs[part] if (last and key) else node.val_locs[part]
            node = node[part]
        elif isinstance(node, LList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_locs[part]
            node = node[part]
        else:
            break
    return best


def key_loc(root: Any, path: Path_) -> Loc | None:
    """Where the key of ``path`` is written: for a mapping, errors read best at its key."""
    return locate(root, path, key=True)
