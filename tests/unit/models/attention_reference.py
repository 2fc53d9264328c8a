#!/usr/bin/python3
"""Independent NumPy reference for the attention blocks of vit3d and swinunetr3d (issue 15).

Written from the papers and MONAI's documented behaviour, not from tomograd's code: float64 NumPy,
explicit loops over windows where that is clearer. Run with Debian's python3-numpy:

    /usr/bin/python3 tests/unit/models/attention_reference.py

and paste its output into tests/unit/models/test_vit3d.cpp and test_swinunetr3d.cpp (the tests
record which run produced them). Inputs and weights are closed-form (no RNG), the same formulas as
fill_parameter()/reference_input() in tests/unit/models/nets3d_testing.hpp:
  parameter `name`, flat index k: 0.2 * sin(0.37 k + 0.01 * (sum of the name's bytes mod 97)),
  plus 1 for LayerNorm weights (names ending in norm1.weight / norm2.weight / norm.weight);
  input flat index k: 1.5 * sin(0.3 k + 0.1).
"""
import math

import numpy as np


def param(name, shape):
    seed = sum(name.encode()) % 97
    k = np.arange(int(np.prod(shape)), dtype=np.float64)
    v = 0.2 * np.sin(0.37 * k + 0.01 * seed)
    if name.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
        v = v + 1.0
    return v.reshape(shape)


def reference_input(shape):
    k = np.arange(int(np.prod(shape)), dtype=np.float64)
    return (1.5 * np.sin(0.3 * k + 0.1)).reshape(shape)


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def softmax(a):
    a = a - a.max(-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(-1, keepdims=True)


def multi_head(x, wqkv, bqkv, wout, bout, heads, bias=None, mask=None):
    """Scaled dot-product attention over the tokens of x [n, C]; the qkv output features are
    ordered (q|k|v, head, head_dim). bias [heads, n, n] and mask [n, n] are added to the logits."""
    n, c = x.shape
    d = c // heads
    qkv = linear(x, wqkv, bqkv)
    out = np.zeros((n, c))
    for h in range(heads):
        q = qkv[:, 0 * c + h * d: 0 * c + (h + 1) * d]
        k = qkv[:, 1 * c + h * d: 1 * c + (h + 1) * d]
        v = qkv[:, 2 * c + h * d: 2 * c + (h + 1) * d]
        logits = (q @ k.T) / math.sqrt(d)
        if bias is not None:
            logits = logits + bias[h]
        if mask is not None:
            logits = logits + mask
        out[:, h * d:(h + 1) * d] = softmax(logits) @ v
    return linear(out, wout, bout)


def fmt(values, per_line=6):
    flat = np.asarray(values).reshape(-1)
    items = [f"{v:.9g}" for v in flat]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n    " + ",\n    ".join(lines) + "}"


# ---- ViT: SABlock and TransformerBlock (hidden 8, heads 2, mlp 12; batch 2 x 5 tokens) ----------
C, HEADS, MLP, B, N = 8, 2, 12, 2, 5
x = reference_input((B, N, C))
p = {name: param(name, shape) for name, shape in [
    ("mlp.linear1.weight", (MLP, C)), ("mlp.linear1.bias", (MLP,)),
    ("mlp.linear2.weight", (C, MLP)), ("mlp.linear2.bias", (C,)),
    ("norm1.weight", (C,)), ("norm1.bias", (C,)),
    ("attn.out_proj.weight", (C, C)), ("attn.out_proj.bias", (C,)),
    ("attn.qkv.weight", (3 * C, C)), ("attn.qkv.bias", (3 * C,)),
    ("norm2.weight", (C,)), ("norm2.bias", (C,))]}

sa = np.stack([multi_head(x[b], p["attn.qkv.weight"], p["attn.qkv.bias"], p["attn.out_proj.weight"],
                          p["attn.out_proj.bias"], HEADS) for b in range(B)])
print("// SelfAttention(8, 2 heads, qkv_bias) on reference_input({2, 5, 8}):")
print("const std::vector<double> kSelfAttention =", fmt(sa) + ";")

# TransformerBlock without qkv bias (MONAI's default): x + attn(norm1(x)), then + mlp(norm2(.)).
blk = []
for b in range(B):
    h = x[b] + multi_head(layer_norm(x[b], p["norm1.weight"], p["norm1.bias"]), p["attn.qkv.weight"], None,
                          p["attn.out_proj.weight"], p["attn.out_proj.bias"], HEADS)
    m = linear(gelu(linear(layer_norm(h, p["norm2.weight"], p["norm2.bias"]), p["mlp.linear1.weight"],
                           p["mlp.linear1.bias"])), p["mlp.linear2.weight"], p["mlp.linear2.bias"])
    blk.append(h + m)
print("// TransformerBlock(8, mlp 12, 2 heads, no qkv bias) on reference_input({2, 5, 8}):")
print("const std::vector<double> kTransformerBlock =", fmt(np.stack(blk)) + ";")

# ---- Swin: relative position index, shifted-window mask, one shifted Swin block ------------------
WS = (2, 2, 2)
SHIFT = (1, 1, 1)


def relative_position_index(ws):
    pos = [(a, b, c) for a in range(ws[0]) for b in range(ws[1]) for c in range(ws[2])]
    n = len(pos)
    idx = np.zeros((n, n), dtype=np.int64)
    for i, (a1, b1, c1) in enumerate(pos):
        for j, (a2, b2, c2) in enumerate(pos):
            da, db, dc = a1 - a2 + ws[0] - 1, b1 - b2 + ws[1] - 1, c1 - c2 + ws[2] - 1
            idx[i, j] = (da * (2 * ws[1] - 1) + db) * (2 * ws[2] - 1) + dc
    return idx


def windows_of(dims, ws):
    """Window origins in (d, h, w) order and the token coordinates of each window."""
    out = []
    for d0 in range(0, dims[0], ws[0]):
        for h0 in range(0, dims[1], ws[1]):
            for w0 in range(0, dims[2], ws[2]):
                out.append([(d0 + a, h0 + b, w0 + c) for a in range(ws[0]) for b in range(ws[1])
                            for c in range(ws[2])])
    return out


def region(i, n, ws, s):
    """Which of the three bands of an axis of n (after a cyclic shift by s) position i is in:
    [0, n-ws), [n-ws, n-s), [n-s, n); with no shift the whole axis is one band."""
    if s == 0:
        return 0
    return 0 if i < n - ws else (1 if i < n - s else 2)


def shifted_mask(dims, ws, s):
    masks = []
    for win in windows_of(dims, ws):
        lab = [tuple(region(c[a], dims[a], ws[a], s[a]) for a in range(3)) for c in win]
        n = len(win)
        m = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                if lab[i] != lab[j]:
                    m[i, j] = -100.0
        masks.append(m)
    return np.stack(masks)


rpi = relative_position_index(WS)
print("// relative_position_index for a (2, 2, 2) window (8 x 8):")
print("const std::vector<int64_t> kRelativePositionIndex =", fmt(rpi, 8) + ";")

PAD_DIMS = (4, 4, 6)  # a (3, 4, 5) volume padded to whole (2, 2, 2) windows
mask = shifted_mask(PAD_DIMS, WS, SHIFT)
print("// shifted-window mask on (4, 4, 6), window 2, shift 1: -100 entries per window (of 64):")
print("const std::vector<int64_t> kMaskCounts =", fmt((mask != 0).sum(axis=(1, 2)), 12) + ";")

SC, SH, SMLP = 4, 2, 16
q = {name: param(name, shape) for name, shape in [
    ("norm1.weight", (SC,)), ("norm1.bias", (SC,)),
    ("attn.relative_position_bias_table", (27, SH)),
    ("attn.qkv.weight", (3 * SC, SC)), ("attn.qkv.bias", (3 * SC,)),
    ("attn.proj.weight", (SC, SC)), ("attn.proj.bias", (SC,)),
    ("norm2.weight", (SC,)), ("norm2.bias", (SC,)),
    ("mlp.linear1.weight", (SMLP, SC)), ("mlp.linear1.bias", (SMLP,)),
    ("mlp.linear2.weight", (SC, SMLP)), ("mlp.linear2.bias", (SC,))]}

D, H, W = 3, 4, 5
xs = reference_input((1, D, H, W, SC))[0]
# Attention branch: norm1, zero-pad at the far end to whole windows, cyclic shift by -1 on every
# axis, attention inside each window with the relative bias and the region mask, shift back, crop.
y = layer_norm(xs, q["norm1.weight"], q["norm1.bias"])
y = np.pad(y, ((0, PAD_DIMS[0] - D), (0, PAD_DIMS[1] - H), (0, PAD_DIMS[2] - W), (0, 0)))
y = np.roll(y, shift=(-1, -1, -1), axis=(0, 1, 2))
bias = q["attn.relative_position_bias_table"][rpi.reshape(-1)].reshape(8, 8, SH).transpose(2, 0, 1)
out = np.zeros_like(y)
for wi, win in enumerate(windows_of(PAD_DIMS, WS)):
    tokens = np.stack([y[c] for c in win])
    res = multi_head(tokens, q["attn.qkv.weight"], q["attn.qkv.bias"], q["attn.proj.weight"], q["attn.proj.bias"],
                     SH, bias=bias, mask=mask[wi])
    for t, c in enumerate(win):
        out[c] = res[t]
out = np.roll(out, shift=(1, 1, 1), axis=(0, 1, 2))[:D, :H, :W]
hs = xs + out
ms = linear(gelu(linear(layer_norm(hs, q["norm2.weight"], q["norm2.bias"]), q["mlp.linear1.weight"],
                        q["mlp.linear1.bias"])), q["mlp.linear2.weight"], q["mlp.linear2.bias"])
swin = hs + ms
print("// SwinBlock3d(4, 2 heads, window 2, shift 1) on reference_input({1, 3, 4, 5, 4}):")
print("const std::vector<double> kSwinBlock =", fmt(swin) + ";")
