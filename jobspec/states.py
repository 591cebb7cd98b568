"""Job states, scale tiers and the default region: the constants every module shares. Free of
imports, so any module can use them."""

from __future__ import annotations

from typing import Literal

# a job name: a letter, then letters, digits or underscores, at most 128 characters (ML Engine's
# rule, kept for Vertex display names); one pattern for the spec and for the stdlib-only
# records a cached run reads
JOB_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,127}"

# where a cloud target runs when neither the spec, the environment nor gcloud's configuration
# names a region (jobspec.context resolves it)
DEFAULT_REGION = "us-central1"

# Vertex AI JobState values (aiplatform v1). A job in a terminal state never changes again:
# nothing to cancel, nothing more to wait for.
SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
CANCELLED = "JOB_STATE_CANCELLED"
EXPIRED = "JOB_STATE_EXPIRED"
PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED, PARTIALLY_SUCCEEDED})


def short_state(state: str) -> str:
    """JOB_STATE_SUCCEEDED -> SUCCEEDED, as `status` and `list` show it."""
    return state.removeprefix("JOB_STATE_")


TERMINAL_SHORT = frozenset(short_state(s) for s in TERMINAL)


def is_terminal(state: str | None) -> bool:
    """True for a terminal state, long (JOB_STATE_X) or short (X)."""
    return state is not None and (state in TERMINAL or state in TERMINAL_SHORT)


# Local run states, in .jobspec/runs/NAME/*/status.json
LOCAL_TERMINAL = ("succeeded", "failed", "interrupted")

# Legacy ML Engine scale tiers (runtimes_data.SCALE_TIERS maps them); BASIC_TPU is named only
# to be refused with a reason
SCALE_TIERS = ("BASIC", "STANDARD_1", "PREMIUM_1", "BASIC_GPU", "BASIC_TPU", "CUSTOM")
ScaleTier = Literal["BASIC", "STANDARD_1", "PREMIUM_1", "BASIC_GPU", "BASIC_TPU", "CUSTOM"]
DEFAULT_SCALE_TIER: ScaleTier = "BASIC"
