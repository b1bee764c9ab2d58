"""Exit codes and the one kind of error the CLI turns into a one-line message."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Every status mhaquiz exits with (documented in README.md)."""

    OK = 0  # success; for `grade`, every check passed
    FAILED = 1  # the thing checked failed (a submission, a test)
    USAGE = 2  # bad input: no such file, unknown id, a broken question bank
    INTERRUPTED = 130  # Ctrl-C; everything answered so far is kept


class MhaquizError(Exception):
    """An expected problem: shown as one line on stderr, then exit with `code`."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE):
        super().__init__(message)
        self.message = message
        self.code = code
