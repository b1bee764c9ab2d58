"""修复原始面试文章里的多头注意力前向代码 / Repair the multi-head attention forward of the interview article
this quiz grew from.

【中文】下面的 multi_head_attention 原样照录自原始面试文章（一篇“Transformer 多头注意力面试题”，mhaquiz 就是
从它起步的），连同中文注释，错误一个没改：它跑不起来，而且就算跑起来也不是多头注意力。请把它修成符合 mhaquiz 约定的

    mha_forward(q, k, v, params, num_heads, mask=None)

- q：(B, Tq, D)；k、v：(B, Tk, D)（允许交叉注意力，Tq != Tk）。
- params：W_q、W_k、W_v、W_o 形状 (D, D)，b_q、b_k、b_v、b_o 形状 (D,)；投影为 x @ W + b（不是 PyTorch 的 x @ W.T）。
- dh = D // num_heads，第 h 个头使用投影后的第 h*dh:(h+1)*dh 列；分数乘以 1/sqrt(dh)；softmax 沿 key；
  各头按顺序拼接后 @ W_o + b_o。
- mask：None 或可广播到 (B, Tq, Tk) 的布尔数组，True 表示“可以看”。没有 dropout：前向是确定的。
- 返回 (B, Tq, D)，全程 float64；不要修改输入，不要在 batch、头或位置上写 Python 循环。
可以在原函数上改，也可以重写；评测只调用 mha_forward。提示（mhaquiz hint repair_article_code）会按发现的顺序逐个讲解它的错误。

[English] multi_head_attention below is copied verbatim from the interview article this quiz grew from
("Transformer multi-head attention interview questions"), Chinese comments included, every bug kept: it
does not run, and if it did it would not be multi-head attention. Repair it into mhaquiz's

    mha_forward(q, k, v, params, num_heads, mask=None)

- q: (B, Tq, D); k, v: (B, Tk, D) (cross-attention allowed: Tq != Tk).
- params: W_q, W_k, W_v, W_o of shape (D, D), b_q, b_k, b_v, b_o of shape (D,); projections are x @ W + b
  (NOT PyTorch's x @ W.T).
- dh = D // num_heads; head h owns columns h*dh:(h+1)*dh of the projections; scores scaled by 1/sqrt(dh);
  softmax over the keys; heads concatenated in order, then @ W_o + b_o.
- mask: None or a boolean array broadcastable to (B, Tq, Tk), True = "may attend". No dropout: the forward
  is deterministic.
- Return (B, Tq, D), float64 throughout; do not modify the inputs; no Python loops over batch, heads or
  positions.
Edit the function in place or start afresh; the grader calls mha_forward only. The hints
(mhaquiz hint repair_article_code) explain its bugs one by one, in the order you will meet them.
"""

__all__ = ["mha_forward"]  # what the grader calls: the function you are to write

import numpy as np

def multi_head_attention(q, k, v, heads, dropout_rate=0.0):
    # 计算注意力分数
    attention_scores = np.dot(q, k.T) / np.sqrt(k.shape[1])
    
    # 应用softmax函数进行归一化
    attention_probs = np.softmax(attention_scores, axis=1)
    
    # 生成mask，防止梯度消失
    mask = np.ones(attention_probs.shape)
    if dropout_rate > 0:
        mask = (mask > 0).astype(np.float32)
        mask = np.random.dropout(mask, dropout_rate)
    
    # 计算加权值
    attention_weights = attention_probs * mask
    context_vector = np.dot(attention_weights, v)
    
    # 拼接多个注意力头的结果
    output = np.dot(context_vector, heads.T)
    
    return output
