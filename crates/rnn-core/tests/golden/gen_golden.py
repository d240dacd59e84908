#!/usr/bin/env python3
"""Golden values for rnn-core from an independent implementation: PyTorch's nn.RNN, nn.LSTM,
nn.GRU with pack_padded_sequence (TF's sequence_length contract: zero outputs past each
example's length, final state at its last valid step).

Run: pip install torch; python3 gen_golden.py > torch_golden.json
The JSON is committed; crates/rnn-core/tests/torch_reference.rs reads it.

Weight layout mapping (PyTorch -> rnn-core):
  PyTorch keeps weight_ih [G*H, I], weight_hh [G*H, H] and two biases b_ih, b_hh [G*H].
  rnn-core keeps wx [I, G*H] = weight_ih^T, wh [H, G*H] = weight_hh^T, one bias = b_ih + b_hh.
  Gate blocks: LSTM i, f, g, o (same order as PyTorch; TF's is i, j, f, o); rnn-core's LSTM is
  built with forget_bias = 0 to match PyTorch. GRU r, z, n: wh_gates = weight_hh[:2H]^T,
  wh_candidate = weight_hh[2H:]^T, bias = [b_ir + b_hr, b_iz + b_hz, b_in], bias_hn = b_hn
  (PyTorch's GRU is rnn-core's reset_after = true). For TF's GRU (reset before the matmul) the
  reference is written out below with plain torch ops, since PyTorch has no such module.
"""
import json

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.manual_seed(14)
B, T, I, H = 4, 6, 3, 5
LENGTHS = [6, 2, 5, 1]


def t2l(t):
    return t.detach().double().tolist()


def run_packed(module, x, lengths, h0):
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, hn = module(packed, h0)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, hn


def case_rnn(nonlinearity, num_layers=1):
    m = torch.nn.RNN(I, H, num_layers=num_layers, nonlinearity=nonlinearity, batch_first=True)
    x = torch.randn(B, T, I)
    h0 = torch.randn(num_layers, B, H) * 0.5
    out, hn = run_packed(m, x, LENGTHS, h0)
    layers = []
    for k in range(num_layers):
        layers.append({
            "wx": t2l(getattr(m, f"weight_ih_l{k}").T),
            "wh": t2l(getattr(m, f"weight_hh_l{k}").T),
            "bias": t2l(getattr(m, f"bias_ih_l{k}") + getattr(m, f"bias_hh_l{k}")),
        })
    return {"x": t2l(x), "lengths": LENGTHS, "h0": t2l(h0), "layers": layers,
            "outputs": t2l(out), "h_n": t2l(hn)}


def case_projection():
    """A relu RNN with a dense layer on every step's output (TF's OutputProjectionWrapper):
    outputs past the length are zero after the projection, as TF masks the wrapper's output."""
    c = case_rnn("relu")
    lin = torch.nn.Linear(H, 2)
    out = torch.tensor(c["outputs"], dtype=torch.float32)
    mask = torch.tensor([[1.0 if t < n else 0.0 for t in range(T)] for n in LENGTHS]).unsqueeze(-1)
    c["proj_w"] = t2l(lin.weight.T)
    c["proj_b"] = t2l(lin.bias)
    c["projected"] = t2l(lin(out) * mask)
    return c


def case_lstm():
    m = torch.nn.LSTM(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    h0 = torch.randn(1, B, H) * 0.5
    c0 = torch.randn(1, B, H) * 0.5
    out, (hn, cn) = run_packed(m, x, LENGTHS, (h0, c0))
    return {"x": t2l(x), "lengths": LENGTHS, "h0": t2l(h0[0]), "c0": t2l(c0[0]),
            "wx": t2l(m.weight_ih_l0.T), "wh": t2l(m.weight_hh_l0.T),
            "bias": t2l(m.bias_ih_l0 + m.bias_hh_l0),
            "outputs": t2l(out), "h_n": t2l(hn[0]), "c_n": t2l(cn[0])}


def case_gru():
    m = torch.nn.GRU(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    h0 = torch.randn(1, B, H) * 0.5
    out, hn = run_packed(m, x, LENGTHS, h0)
    b_ih, b_hh = m.bias_ih_l0, m.bias_hh_l0
    bias = torch.cat([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
    return {"x": t2l(x), "lengths": LENGTHS, "h0": t2l(h0[0]),
            "wx": t2l(m.weight_ih_l0.T), "wh_gates": t2l(m.weight_hh_l0[:2 * H].T),
            "wh_candidate": t2l(m.weight_hh_l0[2 * H:].T), "bias": t2l(bias),
            "bias_hn": t2l(b_hh[2 * H:]), "outputs": t2l(out), "h_n": t2l(hn[0])}


def case_gru_tf():
    """TF 1.x GRUCell (reset before the candidate matmul), written out step by step."""
    x = torch.randn(B, T, I)
    h = torch.randn(B, H) * 0.5
    h0 = h.clone()
    wx = torch.randn(I, 3 * H) * 0.4
    wh_gates = torch.randn(H, 2 * H) * 0.4
    wh_cand = torch.randn(H, H) * 0.4
    bias = torch.randn(3 * H) * 0.3
    outs = torch.zeros(B, T, H)
    for t in range(T):
        xw = x[:, t] @ wx + bias
        g = torch.sigmoid(xw[:, :2 * H] + h @ wh_gates)
        r, z = g[:, :H], g[:, H:]
        n = torch.tanh(xw[:, 2 * H:] + (r * h) @ wh_cand)
        new_h = z * h + (1 - z) * n
        valid = torch.tensor([t < n_ for n_ in LENGTHS]).unsqueeze(1)
        outs[:, t] = torch.where(valid, new_h, torch.zeros_like(new_h))
        h = torch.where(valid, new_h, h)
    return {"x": t2l(x), "lengths": LENGTHS, "h0": t2l(h0), "wx": t2l(wx),
            "wh_gates": t2l(wh_gates), "wh_candidate": t2l(wh_cand), "bias": t2l(bias),
            "outputs": t2l(outs), "h_n": t2l(h)}


golden = {
    "torch_version": torch.__version__,
    "shape": {"B": B, "T": T, "I": I, "H": H},
    "rnn_tanh": case_rnn("tanh"),
    "rnn_relu_projection": case_projection(),
    "rnn_tanh_3_layers": case_rnn("tanh", num_layers=3),
    "lstm": case_lstm(),
    "gru": case_gru(),
    "gru_tf": case_gru_tf(),
}
print(json.dumps(golden, indent=1))
