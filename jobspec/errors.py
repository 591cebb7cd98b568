"""The one family of expected errors, each with its fixed exit code (README.md lists them)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_NAME_TAKEN = 3
EXIT_CLOUD = 4
EXIT_INTERRUPTED = 130


class JobspecError(Exception):
    """An expected failure: printed as one message, never as a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(JobspecError):
    exit_code = EXIT_USAGE


class JobFailed(JobspecError):
    exit_code = EXIT_JOB_FAILED


class NameTaken(JobspecError):
    exit_code = EXIT_NAME_TAKEN


class CloudError(JobspecError):
    exit_code = EXIT_CLOUD

