"""Checks for attention_dropout: forward at two rates, rate 0, evaluation mode, and the backward."""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

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


# The question that teaches inverted dropout: keep-mask and 1/(1 - rate) in training, the identity at evaluation.
_DROPOUT = ("mask-dropout-vs-mask",)

# Bugs in the backward alone come first: where a both-sides bug explains the same failures, ties go to the first.
MUTANTS = (
    Mutant("backward_not_masked",
           Text(zh="反向只做了缩放，没有乘 keep_mask：被丢弃的权重仍然得到梯度",
                en="backward scaled but not masked: dropped weights still get gradient"),
           patch={"attention_dropout_backward": _backward(masked=False)}, related=_DROPOUT),
    Mutant("backward_not_rescaled",
           Text(zh="反向乘了 keep_mask，却没有像前向那样乘 1/(1 - rate)",
                en="backward masked but not scaled by 1/(1 - rate), unlike the forward"),
           patch={"attention_dropout_backward": _backward(scale=lambda rate: 1.0)}, related=_DROPOUT),
    Mutant("dropout_no_rescale",
           Text(zh="保留的权重没有除以 (1 - rate)：E[out] = (1 - rate) p，而不是 p",
                en="survivors not scaled by 1/(1 - rate): E[out] = (1 - rate) p, not p"),
           patch=_both(scale=lambda rate: 1.0), related=_DROPOUT),
    Mutant("dropout_scaled_by_keep_prob",
           Text(zh="保留的权重乘了 (1 - rate)，应当是除以 (1 - rate)",
                en="survivors multiplied by (1 - rate) instead of divided by it"),
           patch=_both(scale=lambda rate: 1.0 - rate), related=_DROPOUT),
    Mutant("dropout_scaled_by_rate",
           Text(zh="保留的权重除以了 rate，应为除以 (1 - rate)", en="survivors divided by rate instead of by (1 - rate)"),
           patch=_both(scale=lambda rate: 1.0 / rate), related=_DROPOUT),
    Mutant("keep_mask_inverted", Text(zh="keep_mask 用反了：True 表示保留", en="keep-mask inverted: True means KEEP"),
           patch=_both(invert=True), related=_DROPOUT),
    Mutant("dropout_at_eval",
           Text(zh="评估模式下也做了 dropout（training=False 时应原样返回 p）",
                en="dropout applied in evaluation mode too (training=False must return p)"),
           patch={"attention_dropout_forward": _forward(at_eval=True)}, related=_DROPOUT + ("tr-dropout-places",)),
)


def _weights(rng, shape):
    scores = rng.standard_normal(shape)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _text(zh, en):
    return Text(zh=zh, en=en)


# name, label, what it exposes, function, shape, rate, training
_CASES = (
    ("forward, rate 0.1", _text("前向，rate 0.1", "forward, rate 0.1"),
     _text("(B, H, Tq, Tk) 的权重，原论文的 P_drop = 0.1", "(B, H, Tq, Tk) weights, the paper's P_drop = 0.1"),
     "forward", (2, 3, 4, 5), 0.1, True),
    ("forward, rate 0.3", _text("前向，rate 0.3", "forward, rate 0.3"),
     _text("换一个 rate：1/(1 - rate)、(1 - rate) 和 1/rate 互不相同",
           "another rate: 1/(1 - rate), (1 - rate) and 1/rate all differ"),
     "forward", (3, 6, 7), 0.3, True),
    ("forward, rate 0", _text("前向，rate 0", "forward, rate 0"),
     _text("rate 为 0，每个元素都保留：恒等映射", "rate 0 with every entry kept: the identity"),
     "forward", (2, 4, 4), 0.0, True),
    ("forward, evaluation", _text("前向，评估模式", "forward, evaluation"),
     _text("training=False：dropout 关闭，原样返回 p", "training=False: dropout is off, p comes back unchanged"),
     "forward", (2, 3, 5), 0.1, False),
    ("backward, rate 0.1", _text("反向，rate 0.1", "backward, rate 0.1"),
     _text("(B, H, Tq, Tk) 的上游梯度", "(B, H, Tq, Tk) upstream gradient"), "backward", (2, 3, 4, 5), 0.1, True),
    ("backward, rate 0.3", _text("反向，rate 0.3", "backward, rate 0.3"), _text("换一个 rate", "another rate"),
     "backward", (3, 6, 7), 0.3, True),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, which, shape, rate, training) in enumerate(_CASES):
        rng = np.random.default_rng([seed, index])
        keep_mask = rng.random(shape) >= rate  # True with probability 1 - rate
        if which == "forward":
            args = {"p": _weights(rng, shape), "keep_mask": keep_mask, "rate": rate}
            if not training:
                args["training"] = False
            cases.append(Case(name, about, "attention_dropout_forward", args, label=label,
                              shapes=f"p {shape}, rate={rate}" + ("" if training else ", training=False")))
        else:
            args = {"d_out": rng.standard_normal(shape), "keep_mask": keep_mask, "rate": rate}
            cases.append(Case(name, about, "attention_dropout_backward", args,
                              shapes=f"d_out {shape}, rate={rate}", gradcheck=True, label=label))
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
    return Case("speed", Text(zh="(B, H, T, T) 的权重，rate 0.1", en="(B, H, T, T) weights, rate 0.1"),
                "attention_dropout_forward",
                {"p": _weights(rng, shape), "keep_mask": rng.random(shape) >= 0.1, "rate": 0.1},
                shapes="p (8, 8, 64, 64), rate=0.1")


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case. Forward: AttentionDropout(rate) in train() or eval() mode on (p, keep_mask).
    Backward: AttentionDropoutFunction.apply(p, keep_mask, rate) on a p that requires grad, the case's d_out
    back-propagated; p.grad (p is any weights: the backward of this linear map does not depend on it)."""
    import torch

    from mhaquiz.grader.torch_form import build, tensor

    keep_mask, rate = tensor(args["keep_mask"]), args["rate"]
    if case.function == "attention_dropout_forward":
        module = build(namespace, "AttentionDropout", rate)
        module.train(args.get("training", True))
        with torch.no_grad():
            return module(tensor(args["p"]), keep_mask)
    d_out = tensor(args["d_out"])
    p = torch.softmax(torch.zeros_like(d_out), dim=-1).requires_grad_(True)  # uniform weights, (..., Tq, Tk)
    out = namespace.AttentionDropoutFunction.apply(p, keep_mask, rate)
    out.backward(d_out)
    return p.grad
