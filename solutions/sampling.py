"""Reference: temperature, top-k and top-p (nucleus) sampling with the uniform draws given (NumPy, float64).

Conventions (the order of Hugging Face's logits warpers: temperature, then top-k, then top-p):
- probs = softmax(logits / temperature) over the vocabulary, per row.
- Tokens are ranked by probability, most probable first; equal probabilities rank the lower token id first.
- top-k keeps the k first tokens of that ranking, and the kept ones are renormalised.
- top-p keeps the smallest prefix of the ranking whose cumulative probability (of the top-k renormalised
  distribution) is >= top_p: the token that reaches or crosses top_p is kept; tokens after it are not.
- The kept tokens are renormalised; the token drawn is the first in the ranking whose cumulative probability is
  > u (inverse CDF in the sorted order); if rounding leaves u at or above the total, the last token of
  positive probability.
Returns the token ids (N,) and the final distribution (N, V) in token-id order.
"""

import numpy as np


def softmax(z):
    """Numerically stable softmax over the last axis."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def apply_temperature(logits, temperature):
    """The distribution at this temperature: the logits are divided BEFORE the softmax."""
    return softmax(logits / temperature)  # (N, V)


def sort_descending(probs):
    """Token ids by rank: most probable first, equal probabilities in increasing id (a stable sort)."""
    return np.argsort(-probs, axis=-1, kind="stable")  # (N, V)


def top_k_mask(sorted_probs, k):
    """Keep the k first ranks."""
    return np.arange(sorted_probs.shape[-1]) < k  # (V,), broadcast over the rows


def top_p_mask(sorted_probs, p):
    """Keep the smallest prefix whose cumulative probability reaches p: a token is kept when the probability
    ranked before it is still < p (so the token reaching or crossing p is kept)."""
    before = np.cumsum(sorted_probs, axis=-1)[:, :-1]  # (N, V-1): the mass ranked before tokens 1..V-1
    return np.concatenate([np.ones((sorted_probs.shape[0], 1), dtype=bool), before < p], axis=-1)  # (N, V)


def renormalise(sorted_probs, keep):
    """Zero what is not kept and rescale each row to sum to 1."""
    q = np.where(keep, sorted_probs, 0.0)  # (N, V)
    return q / q.sum(axis=-1, keepdims=True)


def filter_sorted(sorted_probs, top_k, top_p):
    """Top-k, then top-p on the top-k renormalised distribution: (keep mask, the distribution top-p saw)."""
    keep = np.ones(sorted_probs.shape, dtype=bool)
    if top_k is not None:
        keep = keep & top_k_mask(sorted_probs, top_k)
        sorted_probs = renormalise(sorted_probs, keep)
    if top_p is not None:
        keep = keep & top_p_mask(sorted_probs, top_p)
    return keep, sorted_probs


def inverse_cdf(sorted_q, u):
    """The rank of the first token whose cumulative probability is > u (the last positive one at most)."""
    cdf = np.cumsum(sorted_q, axis=-1)  # (N, V)
    rank = (cdf <= u[:, None]).sum(axis=-1)  # (N,): how many cumulative values do not exceed u
    return np.minimum(rank, (sorted_q > 0).sum(axis=-1) - 1)  # (N,)


def to_token_ids(order, rank):
    """Ranks back to token ids."""
    return np.take_along_axis(order, rank[:, None], axis=-1)[:, 0]  # (N,)


def unsort(sorted_q, order):
    """The distribution back in token-id order."""
    probs = np.zeros_like(sorted_q)
    np.put_along_axis(probs, order, sorted_q, axis=-1)  # probs[n, order[n, r]] = sorted_q[n, r]
    return probs  # (N, V)


def sample(logits, u, temperature, top_k=None, top_p=None):
    """{"tokens": (N,) int token ids, "probs": (N, V) the final distribution}."""
    N, V = logits.shape
    assert u.shape == (N,) and temperature > 0
    probs = apply_temperature(logits, temperature)  # (N, V)
    order = sort_descending(probs)  # (N, V) token ids, best first
    keep, sorted_probs = filter_sorted(np.take_along_axis(probs, order, axis=-1), top_k, top_p)
    sorted_q = renormalise(sorted_probs, keep)  # (N, V), rows sum to 1
    return {"tokens": to_token_ids(order, inverse_cdf(sorted_q, u)), "probs": unsort(sorted_q, order)}
