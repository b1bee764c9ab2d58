"""In the style of CS231n assignment 3's temporal_softmax_loss (cs231n/rnn_layers.py, the captioning RNN's
loss), written for these tests; not copied.

What is distinctive: the scores are flattened to (N*T, V); the max is subtracted before exp (no overflow), the
probabilities are normalised, and the loss takes np.log of the target's probability, so a probability that
underflows to 0 gives log 0 = -inf and the loss is inf; the gradient is built from the same probabilities
(probs - one_hot), so it stays right. The loss is summed over time and divided by the batch size N; the
adapter shifts by one and rescales to the mean over the counted targets (the lm_loss contract).

Expected: right everywhere but on the large-logits case, where the loss and the perplexity are inf. Two
catalogued mistakes give inf there (log of a max-subtracted softmax, log-sum-exp without the max); the right
gradient tells them apart: only the first keeps it.
"""

import numpy as np


def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    x_flat = x.reshape(N * T, V)
    y_flat = y.reshape(N * T)
    mask_flat = mask.reshape(N * T)
    probs = np.exp(x_flat - np.max(x_flat, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(mask_flat * np.log(probs[np.arange(N * T), y_flat])) / N
    dx_flat = probs.copy()
    dx_flat[np.arange(N * T), y_flat] -= 1
    dx_flat /= N
    dx_flat *= mask_flat[:, None]
    return loss, dx_flat.reshape(N, T, V)


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def lm_loss(logits, tokens, ignore_index=-100):
    B, T, V = logits.shape
    targets = tokens[:, 1:]
    mask = targets != ignore_index
    loss, dx = temporal_softmax_loss(logits[:, :-1], np.where(mask, targets, 0), mask)
    per_target = B / mask.sum()  # CS231n divides by N; the contract divides by the counted targets
    loss = loss * per_target
    d_logits = np.concatenate([dx * per_target, np.zeros((B, 1, V))], axis=1)
    return {"loss": np.asarray(loss), "perplexity": np.exp(loss), "d_logits": d_logits}
