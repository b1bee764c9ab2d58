"""Checks for mha_forward: the standard attention cases and the forward mistakes to recognise."""

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Tolerance

TOLERANCE = Tolerance()
MUTANTS = mistakes.FORWARD + mistakes.FORWARD_OUTPUT


def make_cases(seed):
    return [Case(name, about, "mha_forward", args, shapes=shapes) for name, about, shapes, args in inputs.mha_cases(seed)]
