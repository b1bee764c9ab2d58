"""Exit codes and the one kind of error the CLI turns into a one-line message in the learner's language."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Every status mhaquiz exits with (documented in README.md)."""

    OK = 0  # success; for `grade`, every check passed
    FAILED = 1  # the thing checked failed (a submission, a test)
    USAGE = 2  # bad input: no such file, unknown id, a broken question bank
    INTERRUPTED = 130  # Ctrl-C; everything answered so far is kept


class MhaquizError(Exception):
    """An expected problem: a message-catalogue key and its parameters, shown as one line on stderr in the
    learner's language, then exit with `code`."""

    def __init__(self, key: str, code: ExitCode = ExitCode.USAGE, **params):
        super().__init__(key)
        self.key = key
        self.code = code
        self.params = params

    def text(self, lang: str) -> str:
        from mhaquiz.i18n import t

        return t(self.key, lang, **self.params)

    @property
    def message(self) -> str:
        """The English text (logs, tests); the CLI shows `text(lang)`."""
        return self.text("en")

    def __str__(self) -> str:
        return self.message
