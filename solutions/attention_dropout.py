"""Reference: inverted dropout on attention weights, with the keep-mask given (NumPy, float64).

Training: out = p * keep_mask / (1 - rate). Each weight survives with probability 1 - rate, so dividing
the survivors by 1 - rate keeps E[out] = p, and evaluation (no dropout at all) needs no rescaling.
Dropout is a regulariser (it stops the model from relying on any single attention link); it has nothing
to do with vanishing gradients, and it is not an attention mask.
"""


def attention_dropout_forward(p, keep_mask, rate, training=True):
    """p: attention weights (..., Tq, Tk); keep_mask: bool, same shape, True = keep; 0 <= rate < 1."""
    if not training:
        return p  # eval: dropout is off, nothing dropped and nothing rescaled
    return p * keep_mask / (1.0 - rate)  # (..., Tq, Tk); dropped weights are 0, survivors scaled up


def attention_dropout_backward(d_out, keep_mask, rate):
    """Gradient with respect to p of sum(attention_dropout_forward(p, keep_mask, rate) * d_out), training mode."""
    return d_out * keep_mask / (1.0 - rate)  # the forward is linear in p: same mask, same scale
