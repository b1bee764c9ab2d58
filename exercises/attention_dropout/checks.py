"""Checks for attention_dropout: forward at two rates, rate 0, evaluation mode, and the backward."""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance

TOLERANCE = Tolerance()


def _forward(scale=lambda rate: 1.0 / (1.0 - rate), invert=False, at_eval=False):
    """A forward with the given survivor scale, possibly inverting the mask or dropping at eval too."""

    def factory(ref):
        def attention_dropout_forward(p, keep_mask, rate, training=True):
            if not training and not at_eval:
                return p
            return p * (~keep_mask if invert else keep_mask) * scale(rate)

        return attention_dropout_forward

    return factory


def _backward(scale=lambda rate: 1.0 / (1.0 - rate), invert=False, masked=True):
    def factory(ref):
        def attention_dropout_backward(d_out, keep_mask, rate):
            mask = (~keep_mask if invert else keep_mask) if masked else True
            return d_out * mask * scale(rate)

        return attention_dropout_backward

    return factory


def _both(**bug):
    return {"attention_dropout_forward": _forward(**bug), "attention_dropout_backward": _backward(**bug)}


# Bugs in the backward alone come first: where a both-sides bug explains the same failures, ties go to the first.
MUTANTS = (
    Mutant("backward_not_masked", "backward scaled but not masked: dropped weights still get gradient",
           patch={"attention_dropout_backward": _backward(masked=False)}),
    Mutant("backward_not_rescaled", "backward masked but not scaled by 1/(1 - rate), unlike the forward",
           patch={"attention_dropout_backward": _backward(scale=lambda rate: 1.0)}),
    Mutant("dropout_no_rescale", "survivors not scaled by 1/(1 - rate): E[out] = (1 - rate) p, not p",
           patch=_both(scale=lambda rate: 1.0)),
    Mutant("dropout_scaled_by_keep_prob", "survivors multiplied by (1 - rate) instead of divided by it",
           patch=_both(scale=lambda rate: 1.0 - rate)),
    Mutant("dropout_scaled_by_rate", "survivors divided by rate instead of by (1 - rate)",
           patch=_both(scale=lambda rate: 1.0 / rate)),
    Mutant("keep_mask_inverted", "keep-mask inverted: True means KEEP", patch=_both(invert=True)),
    Mutant("dropout_at_eval", "dropout applied in evaluation mode too (training=False must return p)",
           patch={"attention_dropout_forward": _forward(at_eval=True)}),
)


def _weights(rng, shape):
    scores = rng.standard_normal(shape)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# name, what it exposes, function, shape, rate, training
_CASES = (
    ("forward, rate 0.1", "(B, H, Tq, Tk) weights, the paper's P_drop = 0.1", "forward", (2, 3, 4, 5), 0.1, True),
    ("forward, rate 0.3", "another rate: 1/(1 - rate), (1 - rate) and 1/rate all differ", "forward", (3, 6, 7), 0.3, True),
    ("forward, rate 0", "rate 0 with every entry kept: the identity", "forward", (2, 4, 4), 0.0, True),
    ("forward, evaluation", "training=False: dropout is off, p comes back unchanged", "forward", (2, 3, 5), 0.1, False),
    ("backward, rate 0.1", "(B, H, Tq, Tk) upstream gradient", "backward", (2, 3, 4, 5), 0.1, True),
    ("backward, rate 0.3", "another rate", "backward", (3, 6, 7), 0.3, True),
)


def make_cases(seed):
    cases = []
    for index, (name, about, which, shape, rate, training) in enumerate(_CASES):
        rng = np.random.default_rng([seed, index])
        keep_mask = rng.random(shape) >= rate  # True with probability 1 - rate
        if which == "forward":
            args = {"p": _weights(rng, shape), "keep_mask": keep_mask, "rate": rate}
            if not training:
                args["training"] = False
            cases.append(Case(name, about, "attention_dropout_forward", args,
                              shapes=f"p {shape}, rate={rate}" + ("" if training else ", training=False")))
        else:
            args = {"d_out": rng.standard_normal(shape), "keep_mask": keep_mask, "rate": rate}
            cases.append(Case(name, about, "attention_dropout_backward", args,
                              shapes=f"d_out {shape}, rate={rate}", gradcheck=True))
    return cases


def gradcheck(case, outputs):
    """The backward against central differences of sum(forward(p) * d_out), at a random p."""
    forward = get_exercise("attention_dropout").reference().attention_dropout_forward
    keep_mask, rate, d_out = case.args["keep_mask"], case.args["rate"], case.args["d_out"]
    p = _weights(np.random.default_rng(0), d_out.shape)
    return fd.directional_checks(lambda a: forward(a["p"], keep_mask, rate), {"p": p}, d_out,
                                 {"p": outputs.get("out")}, ("p",))


def perf_case(seed):
    """Attention-sized weights, for the speed comparison with the reference (the forward)."""
    rng = np.random.default_rng([seed, 1000])
    shape = (8, 8, 64, 64)
    return Case("speed", "(B, H, T, T) weights, rate 0.1", "attention_dropout_forward",
                {"p": _weights(rng, shape), "keep_mask": rng.random(shape) >= 0.1, "rate": 0.1},
                shapes="p (8, 8, 64, 64), rate=0.1")
