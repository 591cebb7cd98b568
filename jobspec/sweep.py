"""Matrix sweeps on this machine: members one after another, or N at a time, and the group
record that lets `jobspec status GROUP --target local` show them all."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jobspec.errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_OK, JobspecError, UsageError
from jobspec.plan import LocalPlan
from jobspec.records import Records, is_job_name, job_name, read_record, utc_now


def _group_file(root: Path, group: str) -> Path:
    return root / ".jobspec" / "groups" / f"{job_name(group)}.json"


def run_local_group(group: str, plans: list[LocalPlan], *, parallel: int = 1) -> int:
    from jobspec.local import execute

    if parallel > 1 and any(len(p.processes) > 1 for p in plans):
        raise UsageError("--parallel cannot run distributed members at once: their ports "
                         "would collide", hint="drop --parallel, or the distributed block")
    root = Path(plans[0].project_root)
    path = _group_file(root, group)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"group": group, "members": [p.name for p in plans],
                                "created": utc_now()}, indent=2) + "\n", encoding="utf-8")

    def one(plan: LocalPlan) -> int:
        print(f"jobspec: {plan.name}: starting", file=sys.stderr, flush=True)
        try:
            code = execute(plan, label=plan.name if parallel > 1 else None)
        except JobspecError as exc:
            from jobspec.secrets import mask

            print(mask(exc.render()), file=sys.stderr, flush=True)
            code = exc.exit_code
        print(f"jobspec: {plan.name}: {'succeeded' if code == 0 else f'exit {code}'}",
              file=sys.stderr, flush=True)
        return code

    if parallel > 1:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            codes = list(pool.map(one, plans))
    else:
        codes = []
        for plan in plans:
            codes.append(one(plan))
            if codes[-1] == EXIT_INTERRUPTED:
                break
    failed = [p.name for p, c in zip(plans, codes, strict=False) if c != EXIT_OK]
    if EXIT_INTERRUPTED in codes:
        return EXIT_INTERRUPTED
    if failed:
        print(f"jobspec: {len(failed)} of {len(plans)} runs of {group} failed: "
              f"{', '.join(failed)}", file=sys.stderr)
        return EXIT_JOB_FAILED
    return EXIT_OK


def group_status(root: Path, group: str, *, as_json: bool) -> str | None:
    """The members' latest states, or None when GROUP is not a local group."""
    path = _group_file(root, group)
    if not path.is_file():
        return None
    try:
        record = read_record(path)
        members = [m for m in record["members"] if isinstance(m, str) and is_job_name(m)]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"{path}: not a group record jobspec wrote: "
                         f"{exc.strerror if isinstance(exc, OSError) else exc}") from None
    records = Records(root / ".jobspec" / "runs")
    rows: list[dict[str, Any]] = []
    for member in members:
        runs = records.runs(member)
        status = runs[-1].status() if runs else {"state": "not run"}
        rows.append({"name": member, "state": status.get("state"),
                     "exit_code": status.get("exit_code"), "start": status.get("start")})
    if as_json:
        return json.dumps({"group": group, "members": rows}, indent=2)
    lines = [f"group {group}: {len(rows)} runs", f"  {'NAME':<32} {'STATE':<12} STARTED"]
    lines += [f"  {r['name']:<32} {r['state']:<12} {r['start'] or '-'}" for r in rows]
    return "\n".join(lines)
