#!/usr/bin/env python3
"""Golden values for rnn-core's LayerNormLstmCell at the book's sizes (B150 T28 I28 H150: the
multi-threaded GEMM path), with TF's sequence_length contract, one direction and two, with
gradients. crates/rnn-core/tests/torch_ln_lstm.rs runs dynamic_rnn and
bidirectional_dynamic_rnn (the fused path on flex, and the per-step path) on the same values
and compares.

Run: pip install torch; python3 gen_ln_lstm.py > torch_ln_lstm.json   (the JSON is committed)

The cell is TF 1.x's tf.contrib.rnn.LayerNormBasicLSTMCell (layer_norm=True, no dropout),
written here from its definition with PyTorch ops, independently of rnn-core:

    args = concat([x, h], 1); concat = args @ kernel          (kernel [I + H, 4H], no bias)
    i, j, f, o = split(concat, 4, axis=1)                      (TF's gate order)
    i, j, f, o = LN_input(i), LN_transform(j), LN_forget(f), LN_output(o)
    new_c = c * sigmoid(f + forget_bias) + sigmoid(i) * tanh(j)
    new_c = LN_state(new_c)
    new_h = tanh(new_c) * sigmoid(o)

with LN_s = torch.nn.functional.layer_norm over the H units, weight gamma_s, bias beta_s,
eps 1e-12 (tf.contrib.layers.layer_norm's variance_epsilon). The sequence loop applies TF's
sequence_length: for t >= len[b] the output is zero and the state is carried through; the
backward direction reads each example reversed within its length (TF's reverse_sequence) and
its outputs are reversed back.

Every input is a formula both sides compute (`gen` below: offset + scale * u, u in [-1, 1)
from an integer hash of (seed, k), exact in f64, cast to f32), so only PyTorch's results are
stored, and of each result tensor only every `stride`-th value of its row-major flattening in
rnn-core's layout (about 1000 values per tensor). The inputs are pseudo-random on purpose: a
smooth formula such as sin(a k + b) makes every matrix rank 2, a gate's pre-activations
nearly constant across units for some rows, and the layer norms' 1/std (and the gradients)
explode; with these inputs `python3 gen_ln_lstm.py --f64` (the same in float64) agrees with
the float32 run within 1e-6 of each tensor's largest value. Lengths are `(7919 b) mod 29`
(0..=28, a 0 and a 28 included). The loss is `sum(outputs * R_out) + sum(h_n * R_h) + sum(c_n * R_c)`.

Layout mapping to rnn-core (gate order i, f, g, o; TF's is i, j, f, o with j = g):
wx = kernel[:I] and wh = kernel[I:], each with its column blocks reordered (TF blocks 0, 2,
1, 3); gate_gain = concat(gamma_input, gamma_forget, gamma_transform, gamma_output),
gate_shift likewise with the betas; state_gain = gamma_state, state_shift = beta_state.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

B, T, I, H = 150, 28, 28, 150
SAMPLES = 1000
FORGET_BIAS = 1.0
KERNEL_SCALE = 0.3
EPS = 1e-12
SCOPES = ["input", "transform", "forget", "output", "state"]
DTYPE = torch.float64 if "--f64" in sys.argv else torch.float32


def uniform(seed, k):
    """A value in [-1, 1) from integer hashing of (seed, k): exact in any language."""
    m = 0xFFFFFFFF
    v = (k * 2654435761 + seed * 97531) & m
    v = ((v ^ (v >> 15)) * 2246822519) & m
    v ^= v >> 13
    return v / 2.0**32 * 2.0 - 1.0


def gen(seed, shape, scale, offset=0.0):
    n = math.prod(shape)
    v = [offset + scale * uniform(seed, k) for k in range(n)]
    return torch.tensor(v, dtype=DTYPE).reshape(shape)


def sample(t):
    flat = t.detach().reshape(-1).double()
    stride = max(1, flat.numel() // SAMPLES)
    values = [float(f"{v:.8g}") for v in flat[::stride].tolist()]
    return {"shape": list(t.shape), "stride": stride, "values": values}


LENGTHS = [(7919 * b) % (T + 1) for b in range(B)]


def params(seed):
    """One direction's TF variables: kernel, then gamma and beta per scope."""
    p = {"kernel": gen(seed, (I + H, 4 * H), KERNEL_SCALE).requires_grad_()}
    for k, scope in enumerate(SCOPES):
        p[f"gamma_{scope}"] = gen(seed + 1 + k, (H,), 0.2, 1.0).requires_grad_()
        p[f"beta_{scope}"] = gen(seed + 6 + k, (H,), 0.2).requires_grad_()
    return p


def cell(p, x, h, c):
    concat = torch.cat([x, h], 1) @ p["kernel"]
    i, j, f, o = torch.split(concat, H, dim=1)

    def ln(v, scope):
        return F.layer_norm(v, (H,), p[f"gamma_{scope}"], p[f"beta_{scope}"], eps=EPS)

    i, j, f, o = ln(i, "input"), ln(j, "transform"), ln(f, "forget"), ln(o, "output")
    new_c = c * torch.sigmoid(f + FORGET_BIAS) + torch.sigmoid(i) * torch.tanh(j)
    new_c = ln(new_c, "state")
    new_h = torch.tanh(new_c) * torch.sigmoid(o)
    return new_h, new_c


def reverse_within(x, lengths):
    """x [B, T, F] with the first lengths[b] steps of each example reversed."""
    idx = torch.tensor([[l - 1 - t if t < l else t for t in range(T)] for l in lengths])
    return x.gather(1, idx[:, :, None].expand_as(x))


def run(p, x, h, c, lengths):
    valid = torch.tensor(lengths)
    outs = []
    for t in range(T):
        nh, nc = cell(p, x[:, t], h, c)
        m = (t < valid).to(DTYPE)[:, None]
        outs.append(nh * m)
        h = m * nh + (1 - m) * h
        c = m * nc + (1 - m) * c
    return torch.stack(outs, 1), h, c


def reorder(t):
    """TF's column blocks i, j, f, o -> rnn-core's i, f, g(= j), o."""
    b = torch.split(t, H, dim=-1)
    return torch.cat([b[0], b[2], b[1], b[3]], -1)


def case(bidirectional):
    dirs = 2 if bidirectional else 1
    ps = [params(10), params(30)][:dirs]
    x = gen(1, (B, T, I), 1.0).requires_grad_()
    h0 = gen(2, (dirs, B, H), 0.5).requires_grad_()
    c0 = gen(3, (dirs, B, H), 0.5).requires_grad_()
    out, hn, cn = run(ps[0], x, h0[0], c0[0], LENGTHS)
    outs, hns, cns = [out], [hn], [cn]
    if bidirectional:
        rev, hb, cb = run(ps[1], reverse_within(x, LENGTHS), h0[1], c0[1], LENGTHS)
        outs.append(reverse_within(rev, LENGTHS))
        hns.append(hb)
        cns.append(cb)
    out = torch.cat(outs, 2)
    h_n, c_n = torch.stack(hns), torch.stack(cns)
    loss = (out * gen(4, out.shape, 1.0)).sum()
    loss = loss + (h_n * gen(5, h_n.shape, 1.0)).sum() + (c_n * gen(6, c_n.shape, 1.0)).sum()
    loss.backward()
    result = {"bidirectional": bidirectional, "loss": loss.item(), "outputs": sample(out),
              "h_n": sample(h_n), "c_n": sample(c_n), "dx": sample(x.grad),
              "dh0": sample(h0.grad), "dc0": sample(c0.grad)}
    for tag, p in zip(["fw", "bw"], ps):
        dk = p["kernel"].grad
        g = {s: p[f"gamma_{s}"].grad for s in SCOPES}
        b = {s: p[f"beta_{s}"].grad for s in SCOPES}
        gates = ["input", "forget", "transform", "output"]
        result[f"{tag}_dwx"] = sample(reorder(dk[:I]))
        result[f"{tag}_dwh"] = sample(reorder(dk[I:]))
        result[f"{tag}_dgate_gain"] = sample(torch.cat([g[s] for s in gates]))
        result[f"{tag}_dgate_shift"] = sample(torch.cat([b[s] for s in gates]))
        result[f"{tag}_dstate_gain"] = sample(g["state"])
        result[f"{tag}_dstate_shift"] = sample(b["state"])
    return result


torch.set_num_threads(2)
golden = {
    "torch_version": torch.__version__,
    "shape": {"B": B, "T": T, "I": I, "H": H},
    "forget_bias": FORGET_BIAS,
    "epsilon": EPS,
    "lengths": LENGTHS,
    "cases": [case(bi) for bi in (False, True)],
}
print(json.dumps(golden))
