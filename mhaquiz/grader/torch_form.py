"""Running a PyTorch submission on a case: the glue an exercise's `torch_call` (checks.py) is made of.

Imported only for the PyTorch track, inside the sandbox's runner (it imports torch; the NumPy track never
does). Cases are the NumPy track's: arrays in, arrays out, compared by the grader in float64 as for NumPy.

- `tensor` / `to_numpy`: float64 tensors from the case's arrays (copies: the inputs stay untouched) and arrays
  back from whatever the submission returned (dtype kept: a float32 result is reported as such).
- `build`: the submission's class instantiated with the constructor the task states, in float64, eval mode.
- `load_linears`: the case's weights loaded by NAME into the learner's layers, whatever order they were
  created in and whatever they were initialised to: `q_proj` / `W_q` / `wq` / `query` / `q_linear` ... or a
  fused `qkv` / `c_attn` / `in_proj`. nn.Linear holds W.T (it computes x @ weight.T + bias); a bare
  nn.Parameter named like the contract's W_q is used as the contract states, x @ W_q. A module whose
  parameters cannot be matched raises ParameterMismatch, listing what it has next to what was expected.
- `load_vector` with NORM_WEIGHT_NAMES / NORM_BIAS_NAMES: a norm's weight and bias by name; `load_projections`:
  bias-free projections by name (SwiGLU's w1 / gate_proj ...), a fused gate_up_proj too.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

# contract letter -> the names people give that projection (Hugging Face, Meta, BERT, GPT-2, tutorials)
PROJECTION_NAMES = {
    "q": ("q_proj", "w_q", "wq", "q_linear", "query", "linear_q", "to_q", "q", "fc_q", "q_layer"),
    "k": ("k_proj", "w_k", "wk", "k_linear", "key", "linear_k", "to_k", "k", "fc_k", "k_layer"),
    "v": ("v_proj", "w_v", "wv", "v_linear", "value", "linear_v", "to_v", "v", "fc_v", "v_layer"),
    "o": ("o_proj", "w_o", "wo", "o_linear", "out_proj", "out_linear", "fc_out", "linear_o", "to_out", "out",
          "c_proj", "proj", "dense", "output", "o", "fc_o", "o_layer"),
}
FUSED_NAMES = ("qkv", "c_attn", "in_proj", "qkv_proj", "w_qkv", "wqkv", "to_qkv", "qkv_linear", "linear_qkv")
# a norm's scale and shift (nn.LayerNorm / Llama: weight, bias; papers: gamma, beta; The Annotated Transformer: a_2, b_2)
NORM_WEIGHT_NAMES = ("weight", "gamma", "g", "scale", "w", "a_2", "alpha")
NORM_BIAS_NAMES = ("bias", "beta", "b", "shift", "offset", "b_2")


class ParameterMismatch(Exception):
    """The module's parameters could not be matched with the exercise's; the message lists both."""

    def __init__(self, problem: str, expected: Sequence[Tuple[str, tuple]], found: Sequence[Tuple[str, tuple]]):
        self.problem, self.expected, self.found = problem, list(expected), list(found)
        listing = "; ".join(f"{name} {tuple(shape)}" for name, shape in self.found) or "none"
        wanted = "; ".join(f"{name} {tuple(shape)}" for name, shape in self.expected)
        super().__init__(f"{problem}. Your module's parameters: {listing}. Expected: {wanted}")


def tensor(value):
    """A float64 (or bool / int64) tensor copy of a case's array; None and numbers pass through."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return torch.tensor(value, dtype=torch.bool)
        if value.dtype.kind in "iu":
            return torch.tensor(value, dtype=torch.int64)
        return torch.tensor(value, dtype=torch.float64)
    return value


def to_numpy(value):
    """What the submission returned, as arrays: tensors detached, dicts and tuples kept; dtypes kept."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().resolve_conj().resolve_neg().numpy().copy()
    if isinstance(value, dict):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(to_numpy(item) for item in value)
    return value


def build(namespace, class_name: str, *args, **kwargs) -> nn.Module:
    """The submission's `class_name(*args, **kwargs)`, converted to float64, in eval mode (no dropout)."""
    module = getattr(namespace, class_name)(*args, **kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{class_name}(...) must be a torch.nn.Module, got {type(module).__name__}")
    return module.double().eval()


def _key(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower()


def _shapes(module: nn.Module) -> List[Tuple[str, tuple]]:
    return [(name, tuple(parameter.shape)) for name, parameter in module.named_parameters()]


def find_linear(module: nn.Module, candidates: Iterable[str]) -> Optional[nn.Linear]:
    """The submodule of type nn.Linear whose own name (last component) is one of `candidates`."""
    wanted = [c.lower() for c in candidates]
    found = {}
    for name, child in module.named_modules():
        if isinstance(child, nn.Linear) and _key(name) in wanted:
            found.setdefault(_key(name), child)
    return next((found[name] for name in wanted if name in found), None)


def find_parameter(module: nn.Module, candidates: Iterable[str]) -> Optional[nn.Parameter]:
    """A parameter registered directly on a module (not inside an nn.Linear) named one of `candidates`."""
    wanted = [c.lower() for c in candidates]
    owners = {name: child for name, child in module.named_modules()}
    found = {}
    for name, parameter in module.named_parameters():
        owner = owners.get(name.rsplit(".", 1)[0] if "." in name else "")
        if not isinstance(owner, nn.Linear) and _key(name) in wanted:
            found.setdefault(_key(name), parameter)
    return next((found[name] for name in wanted if name in found), None)


def _set(parameter: torch.Tensor, value: np.ndarray, name: str, module: nn.Module, expected) -> None:
    value = torch.tensor(value, dtype=torch.float64)
    if tuple(parameter.shape) != tuple(value.shape):
        raise ParameterMismatch(f"{name} has shape {tuple(parameter.shape)}, the case needs {tuple(value.shape)}",
                                expected, _shapes(module))
    with torch.no_grad():
        parameter.copy_(value)


def load_linears(module: nn.Module, params: Dict[str, np.ndarray], letters: str = "qkvo",
                 names: Optional[Dict[str, Sequence[str]]] = None) -> None:
    """Load W_x (D_in, D_out) and b_x (D_out,) for each letter x into the learner's layers, by name.

    For each letter: an nn.Linear named like it (weight = W_x.T, bias = b_x); else bare parameters named
    W_x / b_x (used as x @ W_x + b_x). Q, K and V may instead be one fused layer (q, k, v stacked in that
    order along the output axis, as GPT-2's c_attn and nn.MultiheadAttention's in_proj)."""
    names = {**PROJECTION_NAMES, **(names or {})}
    expected = [(f"W_{x} / {names[x][0]}", params[f"W_{x}"].shape) for x in letters]
    missing = []
    for x in letters:
        linear = find_linear(module, names[x])
        if linear is not None:
            _load_linear(linear, params[f"W_{x}"], params.get(f"b_{x}"), names[x][0], module, expected)
            continue
        weight = find_parameter(module, (f"W_{x}", f"w_{x}"))
        if weight is not None:
            _set(weight, params[f"W_{x}"], f"W_{x}", module, expected)
            bias = find_parameter(module, (f"b_{x}",))
            if f"b_{x}" in params:
                if bias is None:
                    raise ParameterMismatch(f"W_{x} has no bias b_{x} beside it", expected, _shapes(module))
                _set(bias, params[f"b_{x}"], f"b_{x}", module, expected)
            continue
        missing.append(x)
    if set(missing) == {"q", "k", "v"} & set(letters) and missing:
        fused = find_linear(module, FUSED_NAMES)
        if fused is not None:
            W = np.concatenate([params[f"W_{x}"] for x in "qkv"], axis=1)  # (D, 3D): q, k, v in that order
            b = np.concatenate([params[f"b_{x}"] for x in "qkv"]) if all(f"b_{x}" in params for x in "qkv") else None
            _load_linear(fused, W, b, "qkv", module, expected)
            missing = [x for x in missing if x not in "qkv"]
    if missing:
        raise ParameterMismatch("no layer for " + ", ".join(f"W_{x}" for x in missing), expected, _shapes(module))


def _load_linear(linear: nn.Linear, W: np.ndarray, b: Optional[np.ndarray], name: str, module, expected) -> None:
    _set(linear.weight, W.T, f"{name}.weight", module, expected)  # nn.Linear computes x @ weight.T + bias
    if b is not None and np.any(b != 0):
        if linear.bias is None:
            raise ParameterMismatch(f"{name} was made with bias=False, the exercise's projections have biases",
                                    expected, _shapes(module))
        _set(linear.bias, b, f"{name}.bias", module, expected)
    elif linear.bias is not None:
        with torch.no_grad():
            linear.bias.zero_()


def load_vector(module: nn.Module, value: np.ndarray, candidates: Sequence[str], expected_name: str) -> None:
    """A norm's weight or bias (gamma / weight / g / scale ...) loaded by name."""
    parameter = find_parameter(module, candidates)
    expected = [(expected_name, value.shape)]
    if parameter is None:
        raise ParameterMismatch(f"no parameter for {expected_name} (named {' / '.join(candidates[:3])} ...)",
                                expected, _shapes(module))
    _set(parameter, value, expected_name, module, expected)


def load_projections(module: nn.Module, weights: Dict[str, np.ndarray], names: Dict[str, Sequence[str]],
                     fused: Sequence[Tuple[Sequence[str], Sequence[str]]] = ()) -> None:
    """Bias-free projections (the case's W of shape (D_in, D_out), used as x @ W) loaded by name.

    For each key of `weights`: an nn.Linear named one of names[key] (weight = W.T; a bias it has is zeroed), else
    a bare parameter named like the key or one of names[key] (used as the contract states, x @ W). `fused` lists
    (keys, layer names): one nn.Linear holding those keys' outputs side by side in that order (a fused
    gate_up_proj), tried when none of its keys has a layer of its own."""
    expected = [(f"{key} / {names[key][0]}", tuple(W.shape)) for key, W in weights.items()]
    missing = []
    for key, W in weights.items():
        linear = find_linear(module, names[key])
        if linear is not None:
            _load_linear(linear, W, None, names[key][0], module, expected)
            continue
        parameter = find_parameter(module, (key, *names[key]))
        if parameter is not None:
            _set(parameter, W, key, module, expected)
            continue
        missing.append(key)
    for keys, layer_names in fused:
        linear = find_linear(module, layer_names) if set(keys) <= set(missing) else None
        if linear is not None:
            W = np.concatenate([weights[key] for key in keys], axis=1)  # (D_in, sum of D_out): in the order of keys
            _load_linear(linear, W, None, layer_names[0], module, expected)
            missing = [key for key in missing if key not in keys]
    if missing:
        raise ParameterMismatch("no layer for " + ", ".join(missing), expected, _shapes(module))


# --- submodules, norms and single matrices by name (transformer_block, mla_forward, moe_forward) ----------------

# NORM_WEIGHT_NAMES, NORM_BIAS_NAMES: at the top (one list for every norm)


def find_module(module: nn.Module, candidates: Iterable[str]) -> Optional[nn.Module]:
    """The submodule whose own name (last component) is one of `candidates`, the earlier candidates first."""
    wanted = [c.lower() for c in candidates]
    found = {}
    for name, child in module.named_modules():
        if name and _key(name) in wanted:
            found.setdefault(_key(name), child)
    return next((found[name] for name in wanted if name in found), None)


def load_matrix(module: nn.Module, W: np.ndarray, b: Optional[np.ndarray], candidates: Sequence[str],
                expected_name: str, expected=None, bias_candidates: Sequence[str] = ()) -> bool:
    """Load one projection x @ W (+ b), W of shape (in, out), into the learner's layer named one of `candidates`:
    an nn.Linear (weight = W.T; a bias it has is set to b, or zeroed when the contract has none) or a bare
    parameter used as x @ W (its bias one of `bias_candidates`). False when no layer has such a name."""
    expected = expected or [(expected_name, W.shape)]
    linear = find_linear(module, candidates)
    if linear is not None:
        _load_linear(linear, W, b, candidates[0], module, expected)
        return True
    weight = find_parameter(module, candidates)
    if weight is None:
        return False
    _set(weight, W, expected_name, module, expected)
    if b is not None:
        bias = find_parameter(module, bias_candidates) if bias_candidates else None
        if bias is None:
            raise ParameterMismatch(f"{expected_name} has no bias beside it", expected, _shapes(module))
        _set(bias, b, f"bias of {expected_name}", module, expected)
    return True


def load_norm(module: nn.Module, scopes: Sequence[str], gamma: np.ndarray, beta: Optional[np.ndarray],
              expected_name: str) -> None:
    """A norm's gamma (and beta, unless None) loaded by name: the parameters weight / gamma / g / scale (bias /
    beta / b) of the submodule named one of `scopes` (ln_1, norm1 ...: an nn.LayerNorm or the learner's own
    class), or bare parameters on `module` named <scope>_<name> (ln1_gamma, ln_1_weight ...)."""
    expected = [(f"{expected_name}.weight", gamma.shape)] + ([] if beta is None else [(f"{expected_name}.bias",
                                                                                      beta.shape)])
    norm = find_module(module, scopes)
    if norm is not None:
        own = {name.lower(): parameter for name, parameter in norm.named_parameters(recurse=False)}
        weight = next((own[name] for name in NORM_WEIGHT_NAMES if name in own), None)
        bias = next((own[name] for name in NORM_BIAS_NAMES if name in own), None)
    else:
        weight = find_parameter(module, [f"{s}_{n}" for s in scopes for n in NORM_WEIGHT_NAMES])
        bias = find_parameter(module, [f"{s}_{n}" for s in scopes for n in NORM_BIAS_NAMES])
    if weight is None:
        raise ParameterMismatch(f"no norm named {' / '.join(scopes[:3])} ... with a weight", expected, _shapes(module))
    _set(weight, gamma, f"{expected_name}.weight", module, expected)
    if beta is not None:
        if bias is None:
            raise ParameterMismatch(f"{expected_name} has no bias (beta)", expected, _shapes(module))
        _set(bias, beta, f"{expected_name}.bias", module, expected)


def shared(value):
    """A tensor over the case's array itself, no copy (a large read-only input, such as the (Tq, Tk) mask of a
    memory case, whose copy would count against the bound as the NumPy track's never does); None and numbers
    pass through. Torch cannot make it read-only: what the learner writes into it reaches only their own call."""
    import warnings

    if not isinstance(value, np.ndarray):
        return value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "The given NumPy array is not writable": it is the case's input
        return torch.from_numpy(value)
