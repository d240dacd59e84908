#!/usr/bin/env python3
"""Golden values at the book's sizes (B150 T28 I28 H150: the multi-threaded GEMM path) from
PyTorch's nn.RNN / nn.LSTM / nn.GRU over pack_padded_sequence, one and two directions, with
gradients. crates/rnn-core/tests/torch_packed.rs runs rnn-core's dynamic_rnn and
bidirectional_dynamic_rnn with `sequence_length` on the same values and compares.

Run: pip install torch; python3 gen_packed.py > torch_packed.json   (the JSON is committed)

Every input is a formula both sides compute (`gen` below: sin of the index, in f64, cast to
f32), so only PyTorch's results are stored, and of each result tensor only every `stride`-th
value of its row-major flattening in rnn-core's layout (about 1000 values per tensor).
Lengths are `1 + (7919 b) mod 28` (uniform over 1..28; PyTorch packs no zero length).
The loss is `sum(outputs * R_out) + sum_k sum(final_state_k * R_k)`; gradients are those of
x, each initial state tensor and each parameter, mapped to rnn-core's layout (see
gen_golden.py's docstring): wx = weight_ih^T, wh = weight_hh^T, d bias = d bias_ih (the
summed bias b_ih + b_hh has the gradient of either), GRU: wh_gates / wh_candidate the row
blocks of weight_hh^T, d bias_hn = d bias_hh[2H:].
"""
import json
import math

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

B, T, I, H = 150, 28, 28, 150
SAMPLES = 1000


def gen(seed, shape, scale):
    n = math.prod(shape)
    v = [scale * math.sin(0.731 * k + 1.37 * seed) for k in range(n)]
    return torch.tensor(v, dtype=torch.float32).reshape(shape)


def sample(t):
    flat = t.detach().reshape(-1).double()
    stride = max(1, flat.numel() // SAMPLES)
    values = [float(f"{v:.8g}") for v in flat[::stride].tolist()]
    return {"shape": list(t.shape), "stride": stride, "values": values}


LENGTHS = [1 + (7919 * b) % T for b in range(B)]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def case(kind, bidirectional):
    g = GATES[kind]
    dirs = 2 if bidirectional else 1
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    m = cls(I, H, batch_first=True, bidirectional=bidirectional)
    seed = 10
    with torch.no_grad():
        for d in range(dirs):
            suffix = "_reverse" if d else ""
            for name, shape in [("weight_ih", (g * H, I)), ("weight_hh", (g * H, H)),
                                ("bias_ih", (g * H,)), ("bias_hh", (g * H,))]:
                getattr(m, f"{name}_l0{suffix}").copy_(gen(seed, shape, 0.1))
                seed += 1
    x = gen(1, (B, T, I), 1.0).requires_grad_()
    h0 = gen(2, (dirs, B, H), 0.5).requires_grad_()
    c0 = gen(3, (dirs, B, H), 0.5).requires_grad_()
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True,
                                  enforce_sorted=False)
    out, hn = m(packed, (h0, c0) if kind == "lstm" else h0)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    finals = list(hn) if kind == "lstm" else [hn]
    loss = (out * gen(4, out.shape, 1.0)).sum()
    for k, f in enumerate(finals):
        loss = loss + (f * gen(5 + k, f.shape, 1.0)).sum()
    loss.backward()
    result = {"kind": kind, "bidirectional": bidirectional, "loss": loss.item(),
              "outputs": sample(out), "h_n": sample(finals[0]), "dx": sample(x.grad),
              "dh0": sample(h0.grad)}
    if kind == "lstm":
        result["c_n"] = sample(finals[1])
        result["dc0"] = sample(c0.grad)
    for d in range(dirs):
        suffix = "_reverse" if d else ""
        p = lambda name: getattr(m, f"{name}_l0{suffix}")  # noqa: E731
        tag = "bw" if d else "fw"
        result[f"{tag}_dwx"] = sample(p("weight_ih").grad.T)
        whg = p("weight_hh").grad.T
        if kind == "gru":
            result[f"{tag}_dwh_gates"] = sample(whg[:, :2 * H])
            result[f"{tag}_dwh_candidate"] = sample(whg[:, 2 * H:])
            result[f"{tag}_dbias_hn"] = sample(p("bias_hh").grad[2 * H:])
        else:
            result[f"{tag}_dwh"] = sample(whg)
        result[f"{tag}_dbias"] = sample(p("bias_ih").grad)
    return result


golden = {
    "torch_version": torch.__version__,
    "shape": {"B": B, "T": T, "I": I, "H": H},
    "lengths": LENGTHS,
    "cases": [case(kind, bi) for kind in ("rnn", "lstm", "gru") for bi in (False, True)],
}
print(json.dumps(golden))
