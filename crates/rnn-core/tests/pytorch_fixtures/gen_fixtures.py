#!/usr/bin/env python3
"""Fixtures for rnn-core's PyTorch weights in and out (crates/rnn-core/tests/pytorch_io.rs).

Import: each fixture is one file that `torch.save` (`.pt`) or `safetensors.torch.save_file`
(`.safetensors`) wrote: a module's `state_dict()` as PyTorch keeps it, plus the reference run
under `io.` keys (the loader ignores keys outside the prefix it is given):
  io.x [B, T, I]                 the inputs (batch_first)
  io.h0 [L*D, B, H], io.c0       the initial states PyTorch was given
  io.output [B, T, D*H]          PyTorch's outputs
  io.h_n [L*D, B, H], io.c_n     PyTorch's final states (layer-major, direction minor)
  io.y [B, T, O]                 with a Linear head: the head on every step's output
  io.output0 (io.y0 with a head) the outputs from zero initial states (for from_pytorch)
The Rust test imports each file and reproduces io.output, io.h_n, io.c_n and io.y to 1e-5.

Export: `--check-export` runs the Rust test that writes rnn-core models as safetensors
state_dicts (`cargo test -p rnn-core --features pytorch --test pytorch_io
export_files_for_pytorch`) into a temporary directory, loads each one into the PyTorch module
its metadata names with `load_state_dict(safetensors.torch.load_file(path))`, runs it on
rnn-core's inputs and compares with rnn-core's outputs (`NAME.io.safetensors`).

Run from the repository root (needs `pip install torch safetensors`):
  python3 crates/rnn-core/tests/pytorch_fixtures/gen_fixtures.py            # rewrites the fixtures
  python3 crates/rnn-core/tests/pytorch_fixtures/gen_fixtures.py --check-export
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

HERE = Path(__file__).resolve().parent
B, T, I, H = 2, 5, 3, 4


class WithHead(nn.Module):
    """A recurrent layer under `rnn_name` and a Linear head under `head_name`, both at the top
    level of the state_dict (`rnn.weight_ih_l0`, `fc.weight`, ...)."""

    def __init__(self, rnn, rnn_name, head, head_name):
        super().__init__()
        self.rnn_name, self.head_name = rnn_name, head_name
        setattr(self, rnn_name, rnn)
        setattr(self, head_name, head)

    def forward(self, x, state):
        out, state = getattr(self, self.rnn_name)(x, state)
        return out, state, getattr(self, self.head_name)(out)


def rnn_module(kind, num_layers, bidirectional, bias=True, nonlinearity="tanh", input_size=I):
    kw = dict(input_size=input_size, hidden_size=H, num_layers=num_layers, bias=bias,
              batch_first=True, bidirectional=bidirectional)
    if kind == "rnn":
        return nn.RNN(nonlinearity=nonlinearity, **kw)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[kind](**kw)


def fixture(name, kind, num_layers=1, bidirectional=False, bias=True, nonlinearity="tanh",
            head=None, seed=0, legacy=False):
    """Writes NAME beside this script (format from the extension). `head`: (rnn_name, head_name, O)."""
    torch.manual_seed(seed)
    rnn = rnn_module(kind, num_layers, bidirectional, bias, nonlinearity)
    dirs = 2 if bidirectional else 1
    x = torch.randn(B, T, I)
    h0 = torch.randn(num_layers * dirs, B, H) * 0.5
    c0 = torch.randn(num_layers * dirs, B, H) * 0.5
    state = (h0, c0) if kind == "lstm" else h0
    io = {"io.x": x, "io.h0": h0}
    if kind == "lstm":
        io["io.c0"] = c0
    with torch.no_grad():
        if head is None:
            module = rnn
            out, state_n = rnn(x, state)
        else:
            rnn_name, head_name, n_out = head
            module = WithHead(rnn, rnn_name, nn.Linear(dirs * H, n_out), head_name)
            out, state_n, y = module(x, state)
            io["io.y"] = y
        # The same module from zero initial states (`from_pytorch --expect`'s reference).
        zero = module(x, None)
        io["io.output0" if head is None else "io.y0"] = zero[0] if head is None else zero[2]
    io["io.output"] = out
    if kind == "lstm":
        io["io.h_n"], io["io.c_n"] = state_n
    else:
        io["io.h_n"] = state_n
    tensors = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    tensors.update({k: v.detach().clone().contiguous() for k, v in io.items()})
    write(name, tensors, legacy)


def write(name, tensors, legacy=False):
    path = HERE / name
    if name.endswith(".safetensors"):
        save_file(tensors, str(path))
    else:
        # legacy: the pickle stream of PyTorch < 1.6 instead of the zip archive.
        torch.save(tensors, str(path), _use_new_zipfile_serialization=not legacy)
    print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}: "
          f"{path.stat().st_size} bytes, {len(tensors)} tensors")


def generate():
    fixture("rnn_tanh_l1.pt", "rnn", seed=1)
    fixture("rnn_relu_l2.safetensors", "rnn", num_layers=2, nonlinearity="relu", seed=2)
    fixture("rnn_tanh_nobias_l2_bidir.pt", "rnn", num_layers=2, bidirectional=True, bias=False,
            seed=3)
    fixture("lstm_l1.safetensors", "lstm", seed=4)
    fixture("lstm_l2_bidir.pt", "lstm", num_layers=2, bidirectional=True, seed=5)
    fixture("gru_l1.pt", "gru", seed=6)
    fixture("gru_l1_legacy.pt", "gru", seed=11, legacy=True)
    fixture("gru_l2_bidir.safetensors", "gru", num_layers=2, bidirectional=True, seed=7)
    fixture("lstm_l2_head.pt", "lstm", num_layers=2, head=("rnn", "fc", 2), seed=8)
    fixture("gru_bidir_head.safetensors", "gru", bidirectional=True,
            head=("encoder", "head", 3), seed=9)
    # An option rnn-core refuses: an LSTM with projections (weight_hr_l0).
    torch.manual_seed(10)
    proj = nn.LSTM(I, H, proj_size=2, batch_first=True)
    write("lstm_proj_size.pt", {k: v.detach().clone() for k, v in proj.state_dict().items()})


def check_export():
    """Loads every state_dict the Rust export test writes into PyTorch and compares outputs."""
    root = HERE.parents[3]
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, RNN_RS_EXPORT_DIR=out)
        cmd = ["cargo", "test", "-q", "-p", "rnn-core", "--features", "pytorch", "--test",
               "pytorch_io", "export_files_for_pytorch"]
        subprocess.run(cmd, cwd=root, env=env, check=True)
        paths = sorted(p for p in Path(out).glob("*.safetensors")
                       if not p.name.endswith(".io.safetensors"))
        if not paths:
            sys.exit(f"the Rust test wrote nothing into {out}")
        worst = 0.0
        for path in paths:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata()
            kind = meta["rnn_rs.module"].lower()
            rnn = rnn_module(kind, int(meta["rnn_rs.num_layers"]),
                             meta["rnn_rs.bidirectional"] == "true",
                             nonlinearity=meta.get("rnn_rs.nonlinearity", "tanh"),
                             input_size=int(meta["rnn_rs.input_size"]))
            rnn_name = meta["rnn_rs.prefix"].rstrip(".")
            head_name = meta.get("rnn_rs.head", "").rstrip(".")
            if head_name:
                dirs = 2 if meta["rnn_rs.bidirectional"] == "true" else 1
                head = nn.Linear(dirs * int(meta["rnn_rs.hidden_size"]),
                                 int(meta["rnn_rs.head_out"]))
                module = WithHead(rnn, rnn_name, head, head_name)
            else:
                assert not rnn_name, "a prefix without a head needs a parent module"
                module = rnn
            # The promise of the README: PyTorch's own loader, strict, on the exported file.
            module.load_state_dict(load_file(str(path)))
            io = load_file(str(path).replace(".safetensors", ".io.safetensors"))
            with torch.no_grad():
                if head_name:
                    out, state, y = module(io["io.x"], None)
                else:
                    out, state = module(io["io.x"], None)
                    y = None
            h_n, c_n = state if kind == "lstm" else (state, None)
            pairs = [("output", out, io["io.output"]), ("h_n", h_n, io["io.h_n"])]
            if c_n is not None:
                pairs.append(("c_n", c_n, io["io.c_n"]))
            if y is not None:
                pairs.append(("y", y, io["io.y"]))
            diffs = {n: (a - b).abs().max().item() for n, a, b in pairs}
            worst = max(worst, *diffs.values())
            print(f"{path.name}: {type(rnn).__name__}, max |PyTorch - rnn-core| "
                  + ", ".join(f"{n} {d:.2e}" for n, d in diffs.items()))
        if worst > 1e-5:
            sys.exit(f"FAILED: PyTorch differs from rnn-core by {worst:.2e} > 1e-5")
        print(f"ok: {len(paths)} exported files load into PyTorch and agree to {worst:.2e}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-export", action="store_true",
                        help="check rnn-core's exported files in PyTorch instead of generating")
    args = parser.parse_args()
    check_export() if args.check_export else generate()
