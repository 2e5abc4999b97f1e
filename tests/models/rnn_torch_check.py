#!/usr/bin/python3
"""Recurrent models as PyTorch exports them, checked against PyTorch.

    /usr/bin/python3 tests/models/rnn_torch_check.py [--fwd build/bin/fwd] [--opset 14]
                                                     [--keep DIR]

Exports a few nn.LSTM / nn.GRU / nn.RNN configurations (multi-layer,
batch_first, bidirectional, given initial states, relu RNN) with
torch.onnx.export, runs each in `fwd run ... --compare` on seeded inputs
with PyTorch's outputs as the reference, and closes with
`N passed, M failed`; exits 1 on any failure.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
from torch import nn


class WithStates(nn.Module):
    """Runs an RNN module on (x, h0[, c0]) and returns all its outputs."""

    def __init__(self, rnn, lstm):
        super().__init__()
        self.rnn, self.lstm = rnn, lstm

    def forward(self, x, h0, c0=None):
        if self.lstm:
            y, (h, c) = self.rnn(x, (h0, c0))
            return y, h, c
        y, h = self.rnn(x, h0)
        return y, h


class OutputOnly(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def cases():
    """(name, module, example inputs, input names, output names)."""
    torch.manual_seed(0)
    batch, seq = 3, 11
    out = []
    lstm = nn.LSTM(32, 64, num_layers=2, batch_first=True).eval()
    out.append(("lstm_2layer_batch_first", OutputOnly(lstm),
                (torch.randn(batch, seq, 32),), ["x"], ["y"]))
    gru = nn.GRU(32, 48, num_layers=2, batch_first=True).eval()
    out.append(("gru_2layer_batch_first", OutputOnly(gru),
                (torch.randn(batch, seq, 32),), ["x"], ["y"]))
    bl = nn.LSTM(16, 24, bidirectional=True).eval()
    out.append(("lstm_bidirectional_states", WithStates(bl, True),
                (torch.randn(seq, batch, 16), torch.randn(2, batch, 24), torch.randn(2, batch, 24)),
                ["x", "h0", "c0"], ["y", "h", "c"]))
    bg = nn.GRU(16, 20, bidirectional=True, num_layers=2).eval()
    out.append(("gru_bidirectional_states", WithStates(bg, False),
                (torch.randn(seq, batch, 16), torch.randn(4, batch, 20)),
                ["x", "h0"], ["y", "h"]))
    rt = nn.RNN(10, 12, num_layers=2, batch_first=True).eval()
    out.append(("rnn_tanh", OutputOnly(rt), (torch.randn(batch, seq, 10),), ["x"], ["y"]))
    rr = nn.RNN(10, 12, nonlinearity="relu", bidirectional=True).eval()
    out.append(("rnn_relu_bidirectional", WithStates(rr, False),
                (torch.randn(seq, batch, 10), torch.randn(2, batch, 12)), ["x", "h0"], ["y", "h"]))
    return out


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--fwd", default=os.path.join(here, "..", "..", "build", "bin", "fwd"))
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--keep", help="directory to keep the exported models in")
    args = ap.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="fwd_rnn_")
    passed = failed = 0
    for name, module, inputs, in_names, out_names in cases():
        d = os.path.join(root, name)
        os.makedirs(os.path.join(d, "in"), exist_ok=True)
        os.makedirs(os.path.join(d, "ref"), exist_ok=True)
        path = os.path.join(d, "model.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, inputs, path, input_names=in_names,
                              output_names=out_names, opset_version=args.opset)
            with torch.no_grad():
                refs = module(*inputs)
        if isinstance(refs, torch.Tensor):
            refs = (refs,)
        for n, t in zip(in_names, inputs):
            np.save(os.path.join(d, "in", n + ".npy"), t.numpy())
        for n, t in zip(out_names, refs):
            np.save(os.path.join(d, "ref", n + ".npy"), t.numpy())
        cmd = [args.fwd, "run", path, "--inputs", os.path.join(d, "in"),
               "--compare", os.path.join(d, "ref"), "--rtol", "1e-4", "--atol", "1e-5"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            passed += 1
            print(f"PASS {name}")
        else:
            failed += 1
            tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
            print(f"FAIL {name}: " + " | ".join(tail))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
