"""Reference: the causal language-model loss, its perplexity and its gradient (NumPy, float64, no loops).

Conventions (PyTorch's F.cross_entropy with ignore_index and reduction='mean', applied to a causal LM the way
Hugging Face's ForCausalLMLoss applies it):
- logits (B, T, V): the scores made at position t predict the NEXT token, tokens[:, t+1]; so logits[:, :-1]
  are scored against tokens[:, 1:], and the last position predicts nothing here.
- targets equal to ignore_index (padding, a masked prompt) count neither in the sum nor in the count N.
- loss = the mean negative log-likelihood over the N counted targets of the whole batch; perplexity =
  exp(loss); d_logits = d loss / d logits = (softmax - one_hot) / N at counted targets, 0 everywhere else.
"""

import numpy as np


def log_softmax(z):
    """log softmax over the last axis by log-sum-exp: z - m - log(sum(exp(z - m))), m the max of each row."""
    m = z.max(axis=-1, keepdims=True)  # (..., 1)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))  # (..., V): exponents <= 0, sums >= 1


def shift(logits, tokens):
    """Position t predicts token t+1: the predictions logits[:, :-1] and their targets tokens[:, 1:]."""
    return logits[:, :-1], tokens[:, 1:]  # (B, T-1, V), (B, T-1)


def counted_targets(targets, ignore_index):
    """Which targets count: those not equal to ignore_index."""
    return targets != ignore_index  # (B, T-1) bool


def token_weights(counted):
    """Each counted target weighs 1/N (N = counted targets in the whole batch); an ignored one weighs 0."""
    return counted / counted.sum()  # (B, T-1), sums to 1


def nll_gradient(log_probs, targets, weights):
    """d/d(predictions) of sum(weights * nll) = weights * (softmax - one_hot(targets))."""
    V = log_probs.shape[-1]
    one_hot = np.arange(V) == targets[..., None]  # (B, T-1, V) bool
    return weights[..., None] * (np.exp(log_probs) - one_hot)  # (B, T-1, V)


def unshift(d_pred, T):
    """The gradient of the predictions put back on all T positions: a position that predicts nothing gets 0."""
    B, P, V = d_pred.shape
    return np.concatenate([d_pred, np.zeros((B, T - P, V))], axis=1)  # (B, T, V)


def lm_loss(logits, tokens, ignore_index=-100):
    """Next-token cross-entropy: {"loss": (), "perplexity": (), "d_logits": (B, T, V)}."""
    B, T, V = logits.shape
    assert tokens.shape == (B, T) and T >= 2, "logits (B, T, V) and tokens (B, T) with T >= 2"
    pred, targets = shift(logits, tokens)  # (B, T-1, V), (B, T-1)
    counted = counted_targets(targets, ignore_index)  # (B, T-1)
    assert counted.any(), "no target counts: the mean is 0/0 (PyTorch returns NaN)"
    safe = np.where(counted, targets, 0)  # (B, T-1): an ignored target is never used as a class index
    log_probs = log_softmax(pred)  # (B, T-1, V)
    nll = -np.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]  # (B, T-1): -log p(target)
    weights = token_weights(counted)  # (B, T-1)
    loss = np.asarray((weights * nll).sum())  # (): the mean over the N counted targets
    d_logits = unshift(nll_gradient(log_probs, safe, weights), T)  # (B, T, V)
    return {"loss": loss, "perplexity": np.exp(loss), "d_logits": d_logits}
