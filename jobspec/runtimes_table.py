"""`jobspec runtimes`: the runtime table and its status on a given day, as text or data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Any

from jobspec.output import table
from jobspec.runtimes import runtime_versions, status_rows
from jobspec.runtimes_data import (
    AI_PLATFORM,
    MACHINE_TYPES,
    READ_ON,
    SCALE_TIERS,
    SECONDARY,
    UNSOURCED,
    VERTEX_PREBUILT,
    PoolShape,
    Source,
)

if TYPE_CHECKING:
    from jobspec.output import Output


def _pools_text(pools: tuple[PoolShape, ...]) -> str:
    return "; ".join(
        f"{p.role} {p.count} x {p.machine_type}"
        + (f" + {p.accelerator_count} x {p.accelerator_type}" if p.accelerator_type else "")
        for p in pools
    )


# A section: a line of prose, or a table (columns, rows), or a list of facts.
Section = str | tuple[tuple[str, ...], Sequence[Sequence[str]]] | list[str]


def _sources(today: date) -> list[Source]:
    """Every source the table cites, numbered in order of first use."""
    found: list[Source] = []
    for row in status_rows(today):
        if row.source not in found:
            found.append(row.source)
    for source in (VERTEX_PREBUILT, *(t.source for t in SCALE_TIERS),
                   *(m.source for m in MACHINE_TYPES)):
        if source not in found:
            found.append(source)
    return found


def _sections(today: date) -> list[Section]:
    rows = status_rows(today)
    sources = _sources(today)

    def ref(source: Source) -> str:
        return f"[{sources.index(source) + 1}]"

    containers = [(r.name, r.gpu_image or "(same)", r.framework, r.python_version, r.status,
                   ref(r.source)) for r in rows if r.kind == "container-image"]
    vertex = [r for r in rows if r.kind == "vertex-image"]
    usable = [(r.name, r.framework, r.python_version, str(r.end_of_patch),
               str(r.end_of_availability), r.status, ref(r.source)) for r in vertex if r.available]
    ended = [(r.name, r.framework, r.status, f"image: {r.use_instead}", ref(r.source))
             for r in vertex if not r.available]
    legacy = [(r.name, r.framework, r.python_version, r.status, f"image: {r.use_instead}",
               ref(r.source)) for r in rows if r.kind == "ai-platform-runtime"]
    tiers = [(t.name, _pools_text(t.pools) or "-",
              t.provenance + (f": {t.refused}" if t.refused else ""), t.note)
             for t in SCALE_TIERS]
    machines = [(m.legacy_name, m.machine_type, m.accelerator_type or "-", m.note)
                for m in MACHINE_TYPES]
    return [
        f"Status on {today.isoformat()}, usable first. Newer images may exist.",
        "",
        "Usable today: container images (`image: IMAGE`, or runtime_version \"X.Y\" for"
        f" TensorFlow {', '.join(runtime_versions())}). jobspec stages the package and the job"
        " runs `python3 -m pip install` on it, then the module:",
        (("IMAGE", "WITH ACCELERATORS", "FRAMEWORK", "PYTHON", "STATUS", "SOURCE"), containers),
        "",
        "Usable today: Google's prebuilt training images (executor_image, pythonPackageSpec),"
        " {us,europe,asia}-docker.pkg.dev/vertex-ai/training/NAME:latest:",
        (("NAME", "FRAMEWORK", "PYTHON", "END OF PATCH", "END OF AVAILABILITY", "STATUS",
          "SOURCE"), usable),
        "",
        "Past their end of availability: refused by plan and run (allow_unavailable_image: true"
        " submits anyway, with a warning):",
        (("NAME", "FRAMEWORK", "STATUS", "USE INSTEAD", "SOURCE"), ended),
        "",
        f"AI Platform Training runtimes (runtime_version; the service shut down"
        f" {AI_PLATFORM.shut_down_on.isoformat()}):",
        (("RUNTIME", "FRAMEWORK", "PYTHON", "STATUS", "USE INSTEAD", "SOURCE"), legacy),
        "",
        "Legacy scale tiers -> Vertex worker pools:",
        (("TIER", "POOLS", "WHY", "NOTE"), tiers),
        "",
        f"Legacy machine types ({SECONDARY.cite()}):",
        (("LEGACY", "MACHINE", "GPU", "NOTE"), machines),
        "",
        "Could not be sourced:",
        list(UNSOURCED),
        "",
        "Sources:",
        [f"[{i}] {source.title}: {source.where} (read {source.read_on.isoformat()})"
         for i, source in enumerate(sources, 1)],
    ]


def _lines(today: date, out: Output | None) -> list[str]:
    lines: list[str] = []
    for section in _sections(today):
        if isinstance(section, str):
            lines += out.wrap(section) if out is not None else [section]
        elif isinstance(section, list):
            for fact in section:
                lines += out.wrap(f"  - {fact}", indent="    ") if out is not None else [
                    f"  - {fact}"]
        else:
            columns, rows = section
            lines += out.table(rows, columns) if out is not None else table(rows, columns)
    return lines


def format_table(today: date) -> str:
    """Plain text for `jobspec runtimes`: every entry with its status on TODAY, then shapes."""
    return "\n".join(_lines(today, None)) + "\n"


def print_table(today: date, out: Output) -> None:
    """`jobspec runtimes` on OUT: tables and prose fitting its width."""
    for line in _lines(today, out):
        out.print(line)


def table_data(today: date) -> dict[str, Any]:
    """`jobspec runtimes --json`: the same facts as data."""
    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "today": today.isoformat(), "read_on": READ_ON.isoformat(),
        "runtimes": [{"kind": r.kind, "name": r.name, "framework": r.framework,
                      "python_version": r.python_version, "end_of_patch": day(r.end_of_patch),
                      "end_of_availability": day(r.end_of_availability), "status": r.status,
                      "available": r.available, "source": r.source.cite(),
                      "source_where": r.source.where, "note": r.note,
                      "use_instead": r.use_instead or None, "gpu_image": r.gpu_image or None}
                     for r in status_rows(today)],
        "runtime_versions": runtime_versions(),
        "scale_tiers": [{"name": t.name, "pools": [asdict(p) for p in t.pools],
                         "provenance": t.provenance, "refused": t.refused, "note": t.note}
                        for t in SCALE_TIERS],
        "machine_types": [asdict(m) | {"source": m.source.cite()} for m in MACHINE_TYPES],
        "unsourced": list(UNSOURCED),
    }
