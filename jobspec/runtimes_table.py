"""`jobspec runtimes`: the runtime table and its status on a given day, as plain text."""

from __future__ import annotations

from datetime import date

from jobspec.runtimes import status_rows
from jobspec.runtimes_data import (
    AI_PLATFORM,
    MACHINE_TYPES,
    READ_ON,
    SCALE_TIERS,
    SECONDARY,
    UNSOURCED,
    VERTEX_POLICY,
    VERTEX_PREBUILT,
    PoolShape,
)


def _columns(*rows: tuple[str, ...]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _pools_text(pools: tuple[PoolShape, ...]) -> str:
    return "; ".join(
        f"{p.role} {p.count} x {p.machine_type}"
        + (f" + {p.accelerator_count} x {p.accelerator_type}" if p.accelerator_type else "")
        for p in pools
    )


def format_table(today: date) -> str:
    """Plain text for `jobspec runtimes`: every entry with its status on TODAY, then shapes."""
    rows = status_rows(today)
    legacy = [(r.name, r.framework, r.python_version, r.status)
              for r in rows if r.kind == "ai-platform-runtime"]
    images = [(r.name, r.framework, r.python_version, str(r.end_of_patch),
               str(r.end_of_availability), r.status) for r in rows if r.kind == "vertex-image"]
    tiers = [(t.name, _pools_text(t.pools) or "-",
              t.provenance + (f": {t.refused}" if t.refused else ""), t.note)
             for t in SCALE_TIERS]
    machines = [(m.legacy_name, m.machine_type, m.accelerator_type or "-", m.note)
                for m in MACHINE_TYPES]
    return "\n".join([
        f"Status on {today.isoformat()}; facts read {READ_ON.isoformat()}. Newer images may exist.",
        "",
        f"AI Platform Training runtimes ({AI_PLATFORM.source.cite()}):",
        *_columns(("RUNTIME", "FRAMEWORK", "PYTHON", "STATUS"), *legacy),
        "",
        "Vertex AI prebuilt training images, {us,europe,asia}-docker.pkg.dev/vertex-ai/training/"
        f"NAME:latest ({VERTEX_PREBUILT.cite()}; dates: {VERTEX_POLICY.cite()}):",
        *_columns(("NAME", "FRAMEWORK", "PYTHON", "END OF PATCH", "END OF AVAILABILITY",
                   "STATUS"), *images),
        "",
        "Legacy scale tiers -> Vertex worker pools:",
        *_columns(("TIER", "POOLS", "WHY", "NOTE"), *tiers),
        "",
        f"Legacy machine types ({SECONDARY.cite()}):",
        *_columns(("LEGACY", "MACHINE", "GPU", "NOTE"), *machines),
        "",
        "Could not be sourced:",
        *(f"  - {fact}" for fact in UNSOURCED),
    ]) + "\n"

