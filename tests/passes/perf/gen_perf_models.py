#!/usr/bin/python3
"""Small ONNX graphs for tests/test_fused_linear.c.

Run with /usr/bin/python3 (needs onnx, numpy and torch); writes
tests/passes/perf/NAME.onnx with its inputs NAME.in<i>.npy and the
reference output NAME.out0.npy (computed in float64 by torch/numpy).

The graphs are convolutions and matrix products followed by a bias, a
residual and an activation that the builder fuses into FusedConv /
FusedMatMul; their shapes reach every path of the GEMM behind them: column
tiles and the small-image path of Conv, 1x1 convolutions, groups,
depthwise, 1-D, several k slices (K > 256), row and column tails, batched
and broadcast products, transposes, products with few rows, float16.
"""
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as Fn
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2024)


def arr(*shape, scale=0.3, dtype=np.float32):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def vi(name, shape, elem=TP.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def save(name, nodes, inputs, inits, feeds, ref, out_elem=TP.FLOAT):
    """inputs: list of (name, array) graph inputs; inits: name -> array."""
    g = h.make_graph(nodes, name, [vi(n, list(a.shape), out_elem) for n, a in inputs],
                     [vi("y", list(ref.shape), out_elem)],
                     [nh.from_array(a, n) for n, a in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="gen_perf_models")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))
    for i, (n, a) in enumerate(inputs):
        np.save(os.path.join(HERE, "%s.in%d.npy" % (name, i)), a)
    np.save(os.path.join(HERE, name + ".out0.npy"), ref)


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


# activations: ONNX nodes from "t" to "y", and the reference in numpy
def act_nodes(kind):
    if kind == "None":
        return [h.make_node("Identity", ["t"], ["y"])], {}, lambda v: v
    if kind == "Relu":
        return [h.make_node("Relu", ["t"], ["y"])], {}, lambda v: np.maximum(v, 0)
    if kind == "Clip":
        return ([h.make_node("Clip", ["t", "lo", "hi"], ["y"])],
                {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}, lambda v: np.clip(v, 0, 6))
    if kind == "LeakyRelu":
        return [h.make_node("LeakyRelu", ["t"], ["y"], alpha=0.1)], {}, lambda v: np.where(v < 0, 0.1 * v, v)
    if kind == "Sigmoid":
        return [h.make_node("Sigmoid", ["t"], ["y"])], {}, lambda v: 1 / (1 + np.exp(-v))
    if kind == "SiLU":
        return ([h.make_node("Sigmoid", ["t"], ["s"]), h.make_node("Mul", ["t", "s"], ["y"])], {},
                lambda v: v / (1 + np.exp(-v)))
    if kind == "HardSwish":
        return [h.make_node("HardSwish", ["t"], ["y"])], {}, lambda v: v * np.clip(v / 6 + 0.5, 0, 1)
    if kind == "Tanh":
        return [h.make_node("Tanh", ["t"], ["y"])], {}, np.tanh
    if kind == "Gelu":
        import math
        return ([h.make_node("Div", ["t", "sqrt2"], ["d"]), h.make_node("Erf", ["d"], ["e"]),
                 h.make_node("Add", ["e", "one"], ["e1"]), h.make_node("Mul", ["t", "e1"], ["m"]),
                 h.make_node("Mul", ["m", "half"], ["y"])],
                {"sqrt2": np.array(math.sqrt(2), np.float32), "one": np.array(1, np.float32),
                 "half": np.array(0.5, np.float32)},
                lambda v: 0.5 * v * (1 + torch.erf(t64(v) / math.sqrt(2)).numpy()))
    if kind == "GeluTanh":
        return ([h.make_node("Pow", ["t", "three"], ["p3"]), h.make_node("Mul", ["p3", "gc"], ["pc"]),
                 h.make_node("Add", ["t", "pc"], ["inner"]), h.make_node("Mul", ["inner", "gk"], ["ik"]),
                 h.make_node("Tanh", ["ik"], ["th"]), h.make_node("Add", ["th", "one"], ["t1"]),
                 h.make_node("Mul", ["t", "t1"], ["m"]), h.make_node("Mul", ["m", "half"], ["y"])],
                {"three": np.array(3, np.float32), "gc": np.array(0.044715, np.float32),
                 "gk": np.array(np.sqrt(2 / np.pi), np.float32), "one": np.array(1, np.float32),
                 "half": np.array(0.5, np.float32)},
                lambda v: 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3))))
    raise ValueError(kind)


def conv_case(name, xshape, wshape, act, residual=False, bias=True, dtype=np.float32, **attrs):
    x = arr(*xshape, scale=1.0)
    w = arr(*wshape)
    b = arr(wshape[0])
    inits = {"w": w.astype(dtype)}
    conv_in = ["x", "w"]
    if bias:
        inits["b"] = b.astype(dtype)
        conv_in.append("b")
    nd = len(xshape) - 2
    conv = getattr(Fn, "conv%dd" % nd)
    ref = conv(t64(x.astype(dtype)), t64(w.astype(dtype)), t64(b.astype(dtype)) if bias else None,
               stride=attrs.get("strides", [1] * nd), padding=0,
               dilation=attrs.get("dilations", [1] * nd), groups=attrs.get("group", 1)).numpy()
    pads = attrs.get("pads")
    if pads:  # explicit (possibly asymmetric) pads: redo with padded input
        pad_width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)]
        xp = np.pad(x.astype(dtype).astype(np.float64), pad_width)
        ref = conv(t64(xp), t64(w.astype(dtype)), t64(b.astype(dtype)) if bias else None,
                   stride=attrs.get("strides", [1] * nd), dilation=attrs.get("dilations", [1] * nd),
                   groups=attrs.get("group", 1)).numpy()
    nodes = [h.make_node("Conv", conv_in, ["c"], **attrs)]
    inputs = [("x", x.astype(dtype))]
    last = "c"
    if residual:
        z = arr(*ref.shape, scale=1.0).astype(dtype)
        inputs.append(("z", z))
        nodes.append(h.make_node("Add", ["c", "z"], ["r"]))
        ref = ref + z.astype(np.float64)
        last = "r"
    an, ainits, f = act_nodes(act)
    nodes.append(h.make_node("Identity", [last], ["t"]))
    nodes += an
    inits.update({k: v.astype(dtype) for k, v in ainits.items()})
    elem = TP.FLOAT16 if dtype == np.float16 else TP.FLOAT
    save(name, nodes, inputs, inits, None, f(ref).astype(dtype), elem)


def matmul_case(name, ashape, bshape, cshape, act, b_input=False):
    a = arr(*ashape, scale=1.0)
    b = arr(*bshape)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    nodes = [h.make_node("MatMul", ["a", "b"], ["mm"])]
    inputs = [("a", a)]
    inits = {}
    if b_input:
        inputs.append(("b", b))
    else:
        inits["b"] = b
    last = "mm"
    if cshape is not None:
        c = arr(*cshape)
        inits["c"] = c
        nodes.append(h.make_node("Add", ["mm", "c"], ["s"]))
        ref = ref + c
        last = "s"
    an, ainits, f = act_nodes(act)
    nodes.append(h.make_node("Identity", [last], ["t"]))
    nodes += an
    inits.update(ainits)
    save(name, nodes, inputs, inits, None, f(ref).astype(np.float32))


def gemm_case(name, m, n, k, act, trans_a, trans_b, alpha, beta, cshape):
    a = arr(*((k, m) if trans_a else (m, k)), scale=1.0)
    b = arr(*((n, k) if trans_b else (k, n)))
    c = arr(*cshape)
    ref = alpha * ((a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)) + beta * c
    nodes = [h.make_node("Gemm", ["a", "b", "c"], ["g"], transA=trans_a, transB=trans_b, alpha=alpha, beta=beta)]
    an, ainits, f = act_nodes(act)
    nodes.append(h.make_node("Identity", ["g"], ["t"]))
    nodes += an
    inits = {"b": b, "c": c}
    inits.update(ainits)
    save(name, nodes, [("a", a)], inits, None, f(ref).astype(np.float32))


# Conv: column tiles (P = 400), bias + Relu
conv_case("conv3x3_relu", [1, 16, 20, 20], [24, 16, 3, 3], "Relu", pads=[1, 1, 1, 1])
# small image (P = 25): whole im2col packed once; K = 288 > 256; residual
conv_case("conv_small_residual_relu", [1, 32, 5, 5], [12, 32, 3, 3], "Relu", residual=True,
          pads=[1, 1, 1, 1])
# batch 2, 1x1 (the input is B as it is), Clip(0, 6)
conv_case("conv1x1_batch_clip", [2, 32, 9, 9], [20, 32, 1, 1], "Clip")
# groups, stride 2, asymmetric pads, SiLU, no bias
conv_case("conv_group_silu", [1, 16, 11, 11], [16, 4, 3, 3], "SiLU", bias=False, group=4,
          strides=[2, 2], pads=[1, 0, 0, 1])
# depthwise with a residual and HardSwish
conv_case("conv_depthwise_hardswish", [1, 8, 10, 10], [8, 1, 3, 3], "HardSwish", residual=True,
          group=8, pads=[1, 1, 1, 1])
# 1-D with dilation, LeakyRelu
conv_case("conv1d_leaky", [1, 6, 30], [10, 6, 5], "LeakyRelu", dilations=[2])
# 7x7 stride 2 (ResNet stem), Sigmoid
conv_case("conv7x7s2_sigmoid", [1, 3, 23, 23], [13, 3, 7, 7], "Sigmoid", strides=[2, 2],
          pads=[3, 3, 3, 3])
# Tanh on a row tail (M = 7) and a column tail
conv_case("conv_tails_tanh", [1, 5, 9, 7], [7, 5, 3, 3], "Tanh")
# float16 (computed through float32)
conv_case("conv_f16_relu", [1, 8, 6, 6], [10, 8, 3, 3], "Relu", dtype=np.float16, pads=[1, 1, 1, 1])
# output channels a multiple of 16: weights packed at build time
conv_case("conv_packed_residual_relu", [1, 24, 10, 10], [32, 24, 3, 3], "Relu", residual=True,
          pads=[1, 1, 1, 1])
conv_case("conv_packed_7x7s2_relu", [1, 3, 20, 20], [16, 3, 7, 7], "Relu", strides=[2, 2],
          pads=[3, 3, 3, 3])
# 3x3 stride 1 with enough tiles: Winograd F(2x2, 3x3); odd output sizes,
# asymmetric pads, rows of more than 16 tiles, a residual, Clip
conv_case("conv_winograd_odd_relu", [1, 16, 15, 13], [16, 16, 3, 3], "Relu", pads=[1, 0, 0, 1])
conv_case("conv_winograd_wide_residual_clip", [1, 8, 12, 36], [16, 8, 3, 3], "Clip", residual=True,
          pads=[1, 1, 1, 1])
# a plain Conv (not fused) is packed too
conv_case("conv_packed_1x1_plain", [1, 40, 6, 6], [16, 40, 1, 1], "None")

# MatMul: batch folded into rows, bias, Relu; tails (37 rows, 70 columns)
matmul_case("matmul_bias_relu", [2, 37, 50], [50, 70], [70], "Relu")
# both operands batched (B an input): no folding; a [3, 1, 19] addend
matmul_case("matmul_batched_tanh", [3, 20, 30], [3, 30, 19], [3, 1, 19], "Tanh", b_input=True)
# one row (OpenBLAS path), Sigmoid
matmul_case("matmul_row_sigmoid", [1, 64], [64, 200], [200], "Sigmoid")
# erf GELU after a bias (BERT's FFN), K = 300 > 256
matmul_case("matmul_gelu", [16, 300], [300, 40], [40], "Gelu")
# tanh GELU
matmul_case("matmul_gelu_tanh", [16, 64], [64, 48], [48], "GeluTanh")
# Gemm with both transposes, alpha, beta and a [M, 1] C
gemm_case("gemm_trans_relu", 21, 18, 33, "Relu", 1, 1, 0.5, 2.0, [21, 1])
# Gemm with a full C and LeakyRelu
gemm_case("gemm_fullc_leaky", 9, 40, 17, "LeakyRelu", 0, 1, 1.0, 1.0, [9, 40])
