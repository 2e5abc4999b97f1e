#!/usr/bin/python3
"""Time single-op models (ResNet-50 convolutions, BERT-base matrix
products) in Forward and in ONNX Runtime on this machine.

    /usr/bin/python3 bench/conv_layers.py [--build DIR] [--filter SUBSTR] [--iters N]

Builds bench/op_bench.c against DIR/lib/libfwd.a (default build-nn).
--relu appends a Relu to each convolution, so the builder makes it a
FusedConv (and may pick Winograd for 3x3 stride-1 ones). --winograd 0,2,4
times each case with the builder forced to direct / F(2x2) / F(4x4)
(FWD_WINOGRAD) where it applies, the runs interleaved, best of each."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, C, H(=W), M, k, stride, pad, group
CONVS = [
    ("r50_conv1_7x7s2", 3, 224, 64, 7, 2, 3, 1),
    ("r50_l1_1x1_64_64", 64, 56, 64, 1, 1, 0, 1),
    ("r50_l1_3x3_64", 64, 56, 64, 3, 1, 1, 1),
    ("r50_l1_1x1_64_256", 64, 56, 256, 1, 1, 0, 1),
    ("r50_l1_1x1_256_64", 256, 56, 64, 1, 1, 0, 1),
    ("r50_l2_3x3s2_128", 128, 56, 128, 3, 2, 1, 1),
    ("r50_l2_ds_1x1s2_256_512", 256, 56, 512, 1, 2, 0, 1),
    ("r50_l2_3x3_128", 128, 28, 128, 3, 1, 1, 1),
    ("r50_l2_1x1_512_128", 512, 28, 128, 1, 1, 0, 1),
    ("r50_l3_3x3s2_256", 256, 28, 256, 3, 2, 1, 1),
    ("r50_l3_ds_1x1s2_512_1024", 512, 28, 1024, 1, 2, 0, 1),
    ("r50_l3_3x3_256", 256, 14, 256, 3, 1, 1, 1),
    ("r50_l3_1x1_1024_256", 1024, 14, 256, 1, 1, 0, 1),
    ("r50_l4_3x3s2_512", 512, 14, 512, 3, 2, 1, 1),
    ("r50_l4_ds_1x1s2_1024_2048", 1024, 14, 2048, 1, 2, 0, 1),
    ("r50_l4_3x3_512", 512, 7, 512, 3, 1, 1, 1),
    ("r50_l4_1x1_512_2048", 512, 7, 2048, 1, 1, 0, 1),
    ("mbv2_dw3x3_144_56", 144, 56, 144, 3, 1, 1, 144),
    ("mbv2_dw3x3s2_144_56", 144, 56, 144, 3, 2, 1, 144),
    ("mbv2_dw3x3_960_7", 960, 7, 960, 3, 1, 1, 960),
]

# name, A shape, B shape
MATMULS = [
    ("bert_qkv_128x768x768", [1, 128, 768], [768, 768]),
    ("bert_ffn1_128x768x3072", [1, 128, 768], [768, 3072]),
    ("bert_ffn2_128x3072x768", [1, 128, 3072], [3072, 768]),
    ("bert_attn_qk_12x128x64x128", [1, 12, 128, 64], [1, 12, 64, 128]),
    ("bert_attn_v_12x128x128x64", [1, 12, 128, 128], [1, 12, 128, 64]),
]


RELU = False  # --relu: Conv + Relu, which the builder fuses into FusedConv


def conv_model(c, h, m, k, s, p, g):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((m, c // g, k, k)).astype(np.float32) * 0.1
    b = rng.standard_normal((m,)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["c" if RELU else "y"], kernel_shape=[k, k],
                            strides=[s, s], pads=[p, p, p, p], group=g)
    oh = (h + 2 * p - k) // s + 1
    nodes = [node] + ([helper.make_node("Relu", ["c"], ["y"])] if RELU else [])
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, h])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, m, oh, oh])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), {"x": (1, c, h, h)}


def matmul_model(ashape, bshape):
    rng = np.random.default_rng(0)
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, ashape)]
    inits = []
    feeds = {"a": tuple(ashape)}
    if len(bshape) == 2:  # a weight
        inits.append(numpy_helper.from_array(rng.standard_normal(bshape).astype(np.float32), "b"))
    else:
        inputs.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, bshape))
        feeds["b"] = tuple(bshape)
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    graph = helper.make_graph([node], "mm", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), feeds


def time_ort(path, feeds, iters, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    data = {k: rng.standard_normal(v).astype(np.float32) for k, v in feeds.items()}
    for _ in range(3):
        sess.run(None, data)
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, data)
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[0]


def compare_winograd(args, cases, exe, env, tmp):
    algos = args.winograd.split(",")
    print("%-30s" % "case (best of 3 x N)" + "".join("%10s" % ("wino=" + a) for a in algos))
    for name, (model, feeds) in cases:
        if args.filter not in name or not name.startswith("r50") or "3x3_" not in name:
            continue
        path = os.path.join(tmp, name + ".onnx")
        onnx.save(model, path)
        best = {a: float("inf") for a in algos}
        for _ in range(3):
            for a in algos:
                out = subprocess.run([exe, path, str(args.iters)], capture_output=True, text=True,
                                     env=dict(env, FWD_WINOGRAD=a))
                if out.returncode == 0:
                    best[a] = min(best[a], float(out.stdout.split()[3]))
        print("%-30s" % name + "".join("%10.3f" % best[a] for a in algos))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-nn"))
    ap.add_argument("--filter", default="")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--relu", action="store_true", help="follow each Conv by a Relu (fused: FusedConv)")
    ap.add_argument("--winograd", default="", help="comma-separated FWD_WINOGRAD values to compare (implies --relu)")
    args = ap.parse_args()
    global RELU
    RELU = args.relu or bool(args.winograd)
    env = dict(os.environ, FWD_NUM_THREADS=str(args.threads))
    tmp = tempfile.mkdtemp(prefix="fwd_bench_")
    exe = os.path.join(tmp, "op_bench")
    subprocess.check_call(["gcc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "op_bench.c"),
                           "-I", os.path.join(ROOT, "include"), os.path.join(args.build, "lib", "libfwd.a"),
                           "-lopenblas", "-lpthread", "-lm"])
    cases = [(n, conv_model(*cfg)) for n, *cfg in CONVS] + [(n, matmul_model(a, b)) for n, a, b in MATMULS]
    if args.winograd:
        return compare_winograd(args, cases, exe, env, tmp)
    print("%-30s %10s %10s %7s" % ("case (best of N)", "fwd_ms", "ort_ms", "ratio"))
    tf = to = 0.0
    for name, (model, feeds) in cases:
        if args.filter not in name:
            continue
        path = os.path.join(tmp, name + ".onnx")
        onnx.save(model, path)
        out = subprocess.run([exe, path, str(args.iters)], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print("%-30s failed: %s" % (name, out.stderr.strip()))
            continue
        f = float(out.stdout.split()[3])  # best run: robust on a shared machine
        o = time_ort(path, feeds, args.iters, args.threads)
        tf += f
        to += o
        print("%-30s %10.3f %10.3f %7.2f" % (name, f, o, o / f))
    print("%-30s %10.3f %10.3f %7.2f  (ratio = ort/fwd, > 1: we are faster)" % ("total", tf, to, to / tf if tf else 0))


if __name__ == "__main__":
    sys.exit(main())
