"""Checks for mha_backward: every gradient against the reference and against finite differences."""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Case, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance(why=Text(
    zh="float64 的舍入误差约为尺度的 1e-15，一个 float32 常数会带来约 1e-8，真正的 bug 通常差 1e-3 以上；绝对下限用来容纳 "
       "b_k 的梯度（恰好为 0）以及 softmax 饱和时的 dQ、dK（舍入误差范围内为 0）",
    en="float64 rounding leaves about 1e-15 of the scale, a float32 constant about 1e-8, real bugs 1e-3 or more; the "
       "floor covers the b_k gradient (exactly zero) and dQ, dK in a saturated softmax (zero up to rounding)"))
MUTANTS = mistakes.FORWARD + mistakes.BACKWARD
INPUTS = ("q", "k", "v") + tuple(f"params.{name}" for name in inputs.PARAM_NAMES)


def make_cases(seed):
    cases = []
    for index, (name, label, about, shapes, args) in enumerate(inputs.mha_cases(seed)):
        d_out = np.random.default_rng([seed, index, 1]).standard_normal(args["q"].shape)  # (B, Tq, D)
        # Finite differences need inputs that can move independently, and are ill-conditioned at x100.
        check_fd = args["k"] is not args["q"] and name != "large logits"
        cases.append(Case(name, about, "mha_backward", {"d_out": d_out, **args}, shapes=shapes, gradcheck=check_fd,
                          label=label))
    return cases


def gradcheck(case, grads):
    """Directional finite differences of the reference forward, against the submitted gradients."""
    forward = get_exercise("mha_forward").reference().mha_forward
    args = {name: value for name, value in case.args.items() if name != "d_out"}
    return fd.directional_checks(lambda a: forward(*a.values()), args, case.args["d_out"], grads, INPUTS)


def perf_case(seed):
    """A larger causal self-attention, for the speed comparison with the reference."""
    args = inputs.mha_perf_args(seed)
    d_out = np.random.default_rng([seed, 99]).standard_normal(args["q"].shape)
    return Case("speed", Text(zh="更大的因果自注意力", en="larger causal self-attention"), "mha_backward",
                {"d_out": d_out, **args}, shapes=inputs.mha_shapes(args))


# --- the PyTorch track --------------------------------------------------------------------------------------

TORCH_INPUTS = ("q", "k", "v", "w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")  # forward's order


def torch_call(namespace, args, case):
    """A PyTorch submission on a case: MultiHeadAttentionFunction.apply on leaf tensors that require grad (weights
    in nn.Linear's layout, w_x = W_x.T), the case's d_out back-propagated; each .grad under the NumPy track's
    name (weight gradients transposed back to W_x's layout)."""
    from mhaquiz.grader.torch_form import tensor

    params = args["params"]
    leaves = {name: tensor(args[name]) for name in "qkv"}
    for x in "qkvo":
        # nn.Linear's layout: w_x (D_out, D_in) = W_x.T; b_x (D_out,)
        leaves[f"w_{x}"], leaves[f"b_{x}"] = tensor(params[f"W_{x}"].T), tensor(params[f"b_{x}"])
    for leaf in leaves.values():
        leaf.requires_grad_(True)
    out = namespace.MultiHeadAttentionFunction.apply(*(leaves[name] for name in TORCH_INPUTS), args["num_heads"],
                                                     tensor(args["mask"]))
    out.backward(tensor(args["d_out"]))
    missing = [name for name in TORCH_INPUTS if leaves[name].grad is None]
    if missing:
        raise ValueError("backward returned None for " + ", ".join(missing) + ": every input needs its gradient")
    grads = {name: leaves[name].grad for name in "qkv"}
    for x in "qkvo":
        grads[f"W_{x}"], grads[f"b_{x}"] = leaves[f"w_{x}"].grad.T, leaves[f"b_{x}"].grad  # back to (D_in, D_out)
    return grads
