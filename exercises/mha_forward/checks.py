"""Checks for mha_forward: the standard attention cases and the forward mistakes to recognise."""

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
MUTANTS = mistakes.FORWARD + mistakes.FORWARD_OUTPUT


def make_cases(seed):
    return [Case(name, about, "mha_forward", args, shapes=shapes, label=label)
            for name, label, about, shapes, args in inputs.mha_cases(seed)]


def perf_case(seed):
    """A larger causal self-attention, for the speed comparison with the reference."""
    args = inputs.mha_perf_args(seed)
    return Case("speed", Text(zh="更大的因果自注意力", en="larger causal self-attention"), "mha_forward", args,
                shapes=inputs.mha_shapes(args))


def error_map(case, name, got, expected):
    """|error| per batch, query position and head, seen before W_o (solve heads @ W_o = out - b_o)."""
    return inputs.heads_error_map(case, got, expected)
