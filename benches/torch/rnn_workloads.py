#!/usr/bin/env python3
"""PyTorch CPU counterparts of rnn-bench's suite (crates/rnn-bench/src/suite.rs), row for row:
same names, shapes, losses and protocol, so `cargo xtask bench` can print torch/ours ratios.

Protocol per workload and setting: build, one warm-up step, one step to calibrate the iteration
count so one repeat lasts >= --min-repeat-s, then --repeats timed repeats; report the median ms
per step (min and max kept).

Settings (--threads, comma-separated): `default` is what a PyTorch user gets (torch's own thread
count, subnormals computed as they come); a number N is the tuned setting: set_num_threads(N)
and flush-to-zero (torch.set_flush_denormal(True)), PyTorch's fastest setting for long
sequences, whose gradients otherwise decay into slow subnormals. `default` runs first, before
any setting changes the process.

Waiting for the work: PyTorch's CPU operators run synchronously, so when `loss.backward()` and
`optimizer.step()` return, the gradients and the updated parameters are written; each timed
step has done all of its work when it returns (rnn-bench's steps read a parameter back for
the same guarantee on lazy backends).

Rows: `gru-train` and `gru-tf-train` both run nn.GRU (reset-after; PyTorch has no TF-form GRU);
`user-program` (the separate crate benches/user-program) runs the `mnist-train` model.

Usage: python3 rnn_workloads.py --workloads a,b [--threads default,1,2] [--repeats 3] [--json OUT]
Prints one JSON object per line: {"workload", "setting", "threads", "ms_per_step", "min_ms",
"max_ms", "iters_per_repeat", "torch"}.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn


class Classifier(nn.Module):
    """Recurrent layer -> last step's output -> Linear(H, 10)."""

    def __init__(self, rnn, hidden):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(hidden, 10)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


class Regressor(nn.Module):
    """Recurrent layer(s) -> Linear(H, 1) on every step (OutputProjectionWrapper)."""

    def __init__(self, rnn, hidden):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out)


def train_step(model, x, y, loss_fn, optimise):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8) if optimise else None

    def step():
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        else:
            model.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        if opt is not None:
            opt.step()
        return loss.item()

    return step


def classify(rnn, hidden, b, t, optimise):
    x = torch.randn(b, t, 28)
    y = torch.randint(0, 10, (b,))
    return train_step(Classifier(rnn, hidden), x, y, nn.CrossEntropyLoss(), optimise)


def regress(rnn, hidden, b, t, i, optimise):
    x = torch.randn(b, t, i)
    y = torch.randn(b, t, 1)
    return train_step(Regressor(rnn, hidden), x, y, nn.MSELoss(), optimise)


def bench_lengths(batch, steps):
    """The suite's lengths (crates/rnn-bench/src/suite.rs, bench_lengths): uniform 1..steps."""
    return torch.tensor([1 + (7919 * b) % steps for b in range(batch)])


class PackedClassifier(nn.Module):
    """Recurrent layer over packed sequences -> final h of each direction -> Linear(., 10)."""

    def __init__(self, rnn, features, lengths):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(features, 10)
        self.lengths = lengths

    def forward(self, x):
        packed = nn.utils.rnn.pack_padded_sequence(
            x, self.lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        if isinstance(h, tuple):
            h = h[0]
        return self.fc(torch.cat(list(h), dim=1))


def build(name):
    rnn = lambda i, h, **kw: nn.RNN(i, h, batch_first=True, **kw)  # noqa: E731
    if name in ("mnist-train", "user-program"):
        return classify(rnn(28, 150), 150, 150, 28, True)
    if name == "mnist-infer":
        model = Classifier(rnn(28, 150), 150).eval()
        x = torch.randn(10000, 28, 28)

        def infer():
            with torch.no_grad():
                return float(model(x).argmax(dim=1).sum())

        return infer
    if name == "forecast-train":
        return regress(rnn(1, 100, nonlinearity="relu"), 100, 50, 20, 1, True)
    if name in ("deep3-t5", "deep3-t20"):
        t, i = (5, 2) if name == "deep3-t5" else (20, 1)
        return regress(rnn(i, 100, num_layers=3), 100, 64, t, i, False)
    if name in ("mnist-len-all", "mnist-len-uniform", "lstm-len-all", "lstm-len-uniform",
                "bilstm-len-uniform"):
        lengths = torch.full((150,), 28) if name.endswith("all") else bench_lengths(150, 28)
        if name.startswith("mnist"):
            layer, features = rnn(28, 150), 150
        elif name.startswith("lstm"):
            layer, features = nn.LSTM(28, 150, batch_first=True), 150
        else:
            layer, features = nn.LSTM(28, 150, batch_first=True, bidirectional=True), 300
        x = torch.randn(150, 28, 28)
        y = torch.randint(0, 10, (150,))
        model = PackedClassifier(layer, features, lengths)
        return train_step(model, x, y, nn.CrossEntropyLoss(), True)
    if name == "lstm-train":
        return classify(nn.LSTM(28, 150, batch_first=True), 150, 150, 28, True)
    if name in ("gru-train", "gru-tf-train"):
        return classify(nn.GRU(28, 150, batch_first=True), 150, 150, 28, True)
    if name in ("infer-h512-t28", "infer-h512-t1024"):
        t = 28 if name.endswith("t28") else 1024
        layer = rnn(28, 512)
        x = torch.randn(64, t, 28)

        def unroll():
            with torch.no_grad():
                out, h = layer(x)
                return float(h.sum())

        return unroll
    if name.startswith("scale-h"):
        h, t = name[len("scale-h"):].split("-t")
        h, t = int(h), int(t)
        return classify(rnn(28, h), h, 64, t, False)
    return None  # burn-* baselines and unknown names have no torch counterpart


def measure(step, repeats, min_repeat_s):
    step()  # warm-up
    t0 = time.perf_counter()
    step()  # calibration
    warm = time.perf_counter() - t0
    iters = max(1, int(min_repeat_s / max(warm, 1e-6)))
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        per.append((time.perf_counter() - t0) / iters * 1e3)
    return statistics.median(per), min(per), max(per), iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", required=True)
    ap.add_argument("--threads", default="default,1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-repeat-s", type=float, default=0.5)
    ap.add_argument("--json")
    args = ap.parse_args()
    settings = args.threads.split(",")
    for s in settings:
        if s != "default" and not (s.isdigit() and int(s) >= 1):
            ap.error(f"--threads: expected `default` or a count >= 1, got `{s}`")
    # `default` first: the tuned settings change the process for good.
    settings.sort(key=lambda s: s != "default")
    rows = []
    for setting in settings:
        if setting != "default":
            torch.set_num_threads(int(setting))
            torch.set_flush_denormal(True)
        for name in args.workloads.split(","):
            torch.manual_seed(0)
            step = build(name)
            if step is None:
                continue
            med, lo, hi, iters = measure(step, args.repeats, args.min_repeat_s)
            row = {"workload": name,
                   "setting": "default" if setting == "default" else "tuned",
                   "threads": torch.get_num_threads(), "ms_per_step": med,
                   "min_ms": lo, "max_ms": hi, "iters_per_repeat": iters,
                   "torch": torch.__version__}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
