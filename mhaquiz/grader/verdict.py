"""Verdicts: stable ids, one precedence, and the facts each one stands for.

A run and each case collect facts as a set of verdicts (several can hold at once: a case can be wrong and
modify its input; a run can time out after a case raised). `main(flags)` picks the one the learner sees
first, by the single PRECEDENCE below (the order DMOJ's judge uses: grader faults, then limits, then
errors, then wrong answers). TIME, MEMORY and OUTPUT limits come from what the grader measured or decoded
from the exit status, never from what the submission says about itself.
"""

from __future__ import annotations

from enum import Enum
from typing import Iterable


class Verdict(str, Enum):
    """A verdict id: stable (JSON, the progress store and tests use it); its words live in the catalogues
    under `verdict.<id>` (long) and `verdict_short.<id>` (the report table)."""

    INTERNAL_ERROR = "internal_error"  # the grader itself failed: never the learner's fault
    SYNTAX_ERROR = "syntax_error"  # the file does not parse (decided before anything runs)
    NO_EXERCISE = "no_exercise"  # the file defines none of the exercises' functions
    BANNED_CALL = "banned_call"  # calls the library's own op for what the exercise asks to write (decided unrun)
    CHANNEL_CORRUPTED = "channel_corrupted"  # the result channel carried something the worker never sends
    FORBIDDEN_OPERATION = "forbidden_operation"  # started or signalled a process, wrote outside its folder, ...
    TIME_LIMIT = "time_limit_exceeded"  # wall clock (grader's) or CPU time (SIGXCPU)
    MEMORY_LIMIT = "memory_limit_exceeded"  # over the memory bound the grader measured (the kernel's count)
    OUTPUT_LIMIT = "output_limit_exceeded"  # printed more than the grader keeps reading
    CRASHED = "crashed"  # killed by a signal the grader did not send
    EXITED_EARLY = "exited_early"  # the process ended before returning every result
    LEFT_PROCESSES = "left_processes"  # processes still running after the submission finished
    IMPORT_ERROR = "import_error"  # an exception while importing the file
    MISSING_FUNCTION = "missing_function"  # a function the exercise needs is not defined
    NOT_IMPLEMENTED = "not_implemented"  # every case raised NotImplementedError: the stub as it was given
    INPUT_MODIFIED = "input_modified"  # wrote into an input array (caught as it happened: inputs are read-only)
    RUNTIME_ERROR = "runtime_error"  # a case raised
    WRONG_ANSWER = "wrong_answer"  # a case returned wrong values
    NOT_RUN = "not_run"  # a case never ran (the process stopped before it)
    PASSED = "passed"

    def __str__(self) -> str:
        return self.value


# Most severe first: main(flags) is the first of these present.
PRECEDENCE = (
    Verdict.INTERNAL_ERROR,
    Verdict.SYNTAX_ERROR,
    Verdict.NO_EXERCISE,
    Verdict.BANNED_CALL,
    Verdict.CHANNEL_CORRUPTED,
    Verdict.FORBIDDEN_OPERATION,
    Verdict.TIME_LIMIT,
    Verdict.MEMORY_LIMIT,
    Verdict.OUTPUT_LIMIT,
    Verdict.CRASHED,
    Verdict.EXITED_EARLY,
    Verdict.LEFT_PROCESSES,
    Verdict.IMPORT_ERROR,
    Verdict.MISSING_FUNCTION,
    Verdict.NOT_IMPLEMENTED,
    Verdict.INPUT_MODIFIED,
    Verdict.RUNTIME_ERROR,
    Verdict.WRONG_ANSWER,
    Verdict.NOT_RUN,
    Verdict.PASSED,
)
_RANK = {verdict: rank for rank, verdict in enumerate(PRECEDENCE)}


def main(flags: Iterable[Verdict]) -> Verdict:
    """The verdict shown first among `flags` (PASSED when there are none)."""
    return min(flags, key=_RANK.__getitem__, default=Verdict.PASSED)


def ranked(flags: Iterable[Verdict]) -> list:
    """`flags` in precedence order, without repeats."""
    return sorted(set(flags), key=_RANK.__getitem__)
