"""参考实现：对注意力权重做 inverted dropout，保留掩码由调用方给出（NumPy，float64）。

训练时：out = p * keep_mask / (1 - rate)。每个权重以 1 - rate 的概率保留，保留下来的除以 1 - rate，
期望 E[out] = p 不变，评估时（完全不做 dropout）也就不需要再缩放。dropout 是一种正则化
（让模型不依赖任何单条注意力连接）；它和梯度消失无关，也不是注意力 mask。

Reference: inverted dropout on attention weights, with the keep-mask given (NumPy, float64).

Training: out = p * keep_mask / (1 - rate). Each weight survives with probability 1 - rate, so dividing
the survivors by 1 - rate keeps E[out] = p, and evaluation (no dropout at all) needs no rescaling.
Dropout is a regulariser (it stops the model from relying on any single attention link); it has nothing
to do with vanishing gradients, and it is not an attention mask.
"""


def attention_dropout_forward(p, keep_mask, rate, training=True):
    """p：注意力权重 (..., Tq, Tk)；keep_mask：同形的布尔数组，True 表示保留；0 <= rate < 1。

    p: attention weights (..., Tq, Tk); keep_mask: bool, same shape, True = keep; 0 <= rate < 1."""
    if not training:
        return p  # 评估模式：不做 dropout，不丢弃也不缩放 / eval: dropout is off, nothing dropped and nothing rescaled
    # (..., Tq, Tk)；被丢弃的权重为 0，保留的被放大
    return p * keep_mask / (1.0 - rate)  # (..., Tq, Tk); dropped weights are 0, survivors scaled up


def attention_dropout_backward(d_out, keep_mask, rate):
    """训练模式下 sum(attention_dropout_forward(p, keep_mask, rate) * d_out) 对 p 的梯度。

    Gradient with respect to p of sum(attention_dropout_forward(p, keep_mask, rate) * d_out), training mode."""
    # 前向对 p 是线性的：同样的掩码，同样的缩放
    return d_out * keep_mask / (1.0 - rate)  # the forward is linear in p: same mask, same scale
