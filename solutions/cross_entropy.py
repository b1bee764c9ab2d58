"""参考实现：因果语言模型的损失、困惑度及其梯度（NumPy，float64，无循环）。

约定（PyTorch 的 F.cross_entropy，带 ignore_index、reduction='mean'，按 Hugging Face 的
ForCausalLMLoss 的方式用于因果 LM）：
- logits (B, T, V)：位置 t 的分数预测的是下一个 token tokens[:, t+1]；所以 logits[:, :-1] 对照
  tokens[:, 1:] 计分，最后一个位置在这里什么也不预测。
- 等于 ignore_index 的目标（padding、被 mask 掉的 prompt）既不计入求和，也不计入个数 N。
- loss = 整个 batch 中 N 个计入的目标的平均负对数似然；perplexity = exp(loss)；
  d_logits = d loss / d logits，在计入的目标处为 (softmax - one_hot) / N，其他位置都是 0。

Reference: the causal language-model loss, its perplexity and its gradient (NumPy, float64, no loops).

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
    """用 log-sum-exp 沿最后一维计算 log softmax：z - m - log(sum(exp(z - m)))，m 是每行的最大值。

    log softmax over the last axis by log-sum-exp: z - m - log(sum(exp(z - m))), m the max of each row."""
    m = z.max(axis=-1, keepdims=True)  # (..., 1)
    # (..., V)：指数都 <= 0，和 >= 1
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))  # (..., V): exponents <= 0, sums >= 1


def shift(logits, tokens):
    """位置 t 预测 token t+1：预测是 logits[:, :-1]，对应的目标是 tokens[:, 1:]。

    Position t predicts token t+1: the predictions logits[:, :-1] and their targets tokens[:, 1:]."""
    return logits[:, :-1], tokens[:, 1:]  # (B, T-1, V), (B, T-1)


def counted_targets(targets, ignore_index):
    """哪些目标计入：不等于 ignore_index 的那些。

    Which targets count: those not equal to ignore_index."""
    return targets != ignore_index  # (B, T-1) bool


def token_weights(counted):
    """每个计入的目标权重为 1/N（N = 整个 batch 中计入的目标数）；被忽略的权重为 0。

    Each counted target weighs 1/N (N = counted targets in the whole batch); an ignored one weighs 0."""
    return counted / counted.sum()  # (B, T-1), sums to 1


def nll_gradient(log_probs, targets, weights):
    """sum(weights * nll) 对预测的导数 = weights * (softmax - one_hot(targets))。

    d/d(predictions) of sum(weights * nll) = weights * (softmax - one_hot(targets))."""
    V = log_probs.shape[-1]
    one_hot = np.arange(V) == targets[..., None]  # (B, T-1, V) bool
    return weights[..., None] * (np.exp(log_probs) - one_hot)  # (B, T-1, V)


def unshift(d_pred, T):
    """把预测的梯度放回全部 T 个位置：什么也不预测的位置梯度为 0。

    The gradient of the predictions put back on all T positions: a position that predicts nothing gets 0."""
    B, P, V = d_pred.shape
    return np.concatenate([d_pred, np.zeros((B, T - P, V))], axis=1)  # (B, T, V)


def lm_loss(logits, tokens, ignore_index=-100):
    """下一个 token 的交叉熵：{"loss": (), "perplexity": (), "d_logits": (B, T, V)}。

    Next-token cross-entropy: {"loss": (), "perplexity": (), "d_logits": (B, T, V)}."""
    B, T, V = logits.shape
    assert tokens.shape == (B, T) and T >= 2, "logits (B, T, V) and tokens (B, T) with T >= 2"
    pred, targets = shift(logits, tokens)  # (B, T-1, V), (B, T-1)
    counted = counted_targets(targets, ignore_index)  # (B, T-1)
    assert counted.any(), "no target counts: the mean is 0/0 (PyTorch returns NaN)"
    # (B, T-1)：被忽略的目标不会被当作类别下标
    safe = np.where(counted, targets, 0)  # (B, T-1): an ignored target is never used as a class index
    log_probs = log_softmax(pred)  # (B, T-1, V)
    # (B, T-1)：-log p(目标)
    nll = -np.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]  # (B, T-1): -log p(target)
    weights = token_weights(counted)  # (B, T-1)
    # ()：N 个计入目标上的平均
    loss = np.asarray((weights * nll).sum())  # (): the mean over the N counted targets
    d_logits = unshift(nll_gradient(log_probs, safe, weights), T)  # (B, T, V)
    return {"loss": loss, "perplexity": np.exp(loss), "d_logits": d_logits}
