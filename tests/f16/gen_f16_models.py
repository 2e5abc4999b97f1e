#!/usr/bin/python3
"""Small ONNX graphs for tests/test_float16.c (float16 build mode).

Run with /usr/bin/python3 (needs onnx and numpy); writes tests/f16/*.onnx.
Each graph exercises one part of the float16 pass: weights converted,
Casts at the engine's float32 inputs and outputs, ops kept in float32,
float32-only input slots, values read by subgraphs, intermediates that are
also graph outputs, large-negative mask constants.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)


def w(name, *shape, scale=0.3):
    return nh.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def i64(name, vals):
    return nh.from_array(np.array(vals, dtype=np.int64), name)


def f32(name, vals):
    return nh.from_array(np.array(vals, dtype=np.float32), name)


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def save(name, nodes, inputs, outputs, inits, opset=17):
    g = h.make_graph(nodes, name, inputs, outputs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="gen_f16_models")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))


def mlp():
    """MatMul/Add/Relu/Softmax: weights in float16, float32 in and out."""
    nodes = [
        h.make_node("MatMul", ["x", "W1"], ["h1"]),
        h.make_node("Add", ["h1", "b1"], ["h2"]),
        h.make_node("Relu", ["h2"], ["h3"]),
        h.make_node("MatMul", ["h3", "W2"], ["h4"]),
        h.make_node("Add", ["h4", "b2"], ["h5"]),
        h.make_node("Softmax", ["h5"], ["y"], axis=-1),
    ]
    save("mlp", nodes, [vi("x", TP.FLOAT, ["N", 16])], [vi("y", TP.FLOAT, ["N", 8])],
         [w("W1", 16, 32), w("b1", 32), w("W2", 32, 8), w("b2", 8)])


def convnet():
    """Conv/BN/Relu/pools/Gemm; an intermediate that is also an output."""
    nodes = [
        h.make_node("Conv", ["x", "Wc", "Bc"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["c1", "s", "bb", "mu", "var"], ["bn"]),
        h.make_node("Relu", ["bn"], ["feat"]),
        h.make_node("MaxPool", ["feat"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("GlobalAveragePool", ["p1"], ["gap"]),
        h.make_node("Flatten", ["gap"], ["fl"]),
        h.make_node("Gemm", ["fl", "Wg", "Bg"], ["y"], transB=1),
    ]
    var = np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5
    save("convnet", nodes, [vi("x", TP.FLOAT, [1, 3, 8, 8])],
         [vi("y", TP.FLOAT, [1, 5]), vi("feat", TP.FLOAT, [1, 4, 8, 8])],
         [w("Wc", 4, 3, 3, 3), w("Bc", 4), w("s", 4), w("bb", 4), w("mu", 4, scale=0.1),
          nh.from_array(var, "var"), w("Wg", 5, 4), w("Bg", 5)])


def encoder():
    """LayerNorm, self-attention with a -1e9 mask, erf Gelu, residuals."""
    S, D = 6, 8
    mask = np.zeros((1, S, S), np.float32)
    mask[:, :, S - 2:] = -1e9  # beyond the float16 range: must stay finite
    nodes = [
        h.make_node("LayerNormalization", ["x", "g", "be"], ["ln"], axis=-1, epsilon=1e-5),
        h.make_node("MatMul", ["ln", "Wq"], ["q"]),
        h.make_node("MatMul", ["ln", "Wk"], ["k"]),
        h.make_node("MatMul", ["ln", "Wv"], ["v"]),
        h.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        h.make_node("MatMul", ["q", "kt"], ["qk"]),
        h.make_node("Mul", ["qk", "scale"], ["qks"]),
        h.make_node("Add", ["qks", "mask"], ["qkm"]),
        h.make_node("Softmax", ["qkm"], ["att"], axis=-1),
        h.make_node("MatMul", ["att", "v"], ["ctx"]),
        h.make_node("Add", ["ctx", "x"], ["r1"]),
        h.make_node("Div", ["r1", "sqrt2"], ["gd"]),
        h.make_node("Erf", ["gd"], ["ge"]),
        h.make_node("Add", ["ge", "one"], ["g1"]),
        h.make_node("Mul", ["r1", "g1"], ["g2"]),
        h.make_node("Mul", ["g2", "half"], ["gel"]),
        h.make_node("ReduceMean", ["gel"], ["y"], axes=[-1], keepdims=1),
    ]
    save("encoder", nodes, [vi("x", TP.FLOAT, [2, S, D])], [vi("y", TP.FLOAT, [2, S, 1])],
         [w("g", D), w("be", D), w("Wq", D, D), w("Wk", D, D), w("Wv", D, D),
          f32("scale", 1.0 / np.sqrt(D)), nh.from_array(mask, "mask"), f32("sqrt2", np.sqrt(2.0)),
          f32("one", 1.0), f32("half", 0.5)])


def mixed():
    """Resize (float32 scales), shape math on int64, Cast, ArgMax, TopK,
    Equal/Where, Range (kept in float32)."""
    nodes = [
        h.make_node("Resize", ["x", "", "scales"], ["up"], mode="linear"),
        h.make_node("Shape", ["up"], ["shp"]),
        h.make_node("Gather", ["shp", "ax"], ["len"], axis=0),
        h.make_node("Cast", ["len"], ["lenf"], to=TP.FLOAT),
        h.make_node("Range", ["zero", "lenf", "onef"], ["pos"]),
        h.make_node("Mul", ["up", "pos"], ["upp"]),
        h.make_node("Sigmoid", ["upp"], ["sg"]),
        h.make_node("Greater", ["sg", "thr"], ["gt"]),
        h.make_node("Where", ["gt", "sg", "x0"], ["wh"]),
        h.make_node("ArgMax", ["wh"], ["am"], axis=-1, keepdims=0),
        h.make_node("TopK", ["wh", "k"], ["tv", "ti"], axis=-1),
        h.make_node("Cast", ["am"], ["amf"], to=TP.FLOAT),
        h.make_node("ReduceSum", ["tv", "axr"], ["ts"], keepdims=0),
        h.make_node("Add", ["ts", "amf"], ["y"]),
    ]
    # a symbolic width keeps the Shape/Range chain from being folded
    save("mixed", nodes, [vi("x", TP.FLOAT, [1, 2, 4, "W"])],
         [vi("y", TP.FLOAT, [1, 2, 8]), vi("ti", TP.INT64, [1, 2, 8, 3])],
         [f32("scales", [1, 1, 2, 2]), i64("ax", [3]), f32("zero", 0.0), f32("onef", 1.0),
          f32("thr", 0.55), f32("x0", 0.0), i64("k", [3]), i64("axr", [-1])])


def branch():
    """An If whose branches read a float16-computed main-graph value."""
    then_g = h.make_graph([h.make_node("Add", ["hid", "c1"], ["t_out"])], "then", [],
                          [vi("t_out", TP.FLOAT, [3, 4])], [f32("c1", 1.5)])
    else_g = h.make_graph([h.make_node("Mul", ["hid", "c2"], ["e_out"])], "else", [],
                          [vi("e_out", TP.FLOAT, [3, 4])], [f32("c2", -2.0)])
    nodes = [
        h.make_node("MatMul", ["x", "W"], ["mm"]),
        h.make_node("Tanh", ["mm"], ["hid"]),
        h.make_node("If", ["cond"], ["br"], then_branch=then_g, else_branch=else_g),
        h.make_node("Sigmoid", ["br"], ["y"]),
    ]
    save("branch", nodes, [vi("x", TP.FLOAT, [3, 5]), vi("cond", TP.BOOL, [])],
         [vi("y", TP.FLOAT, [3, 4])], [w("W", 5, 4)])


def rows():
    """float16 row kernels with rows of 37 (vector body and tail):
    Softmax, LogSoftmax and LayerNorm on the last axis, Softmax on axis 0."""
    nodes = [
        h.make_node("Mul", ["x", "three"], ["x3"]),
        h.make_node("Softmax", ["x3"], ["sm"], axis=-1),
        h.make_node("LogSoftmax", ["x3"], ["lsm"], axis=-1),
        h.make_node("Softmax", ["x3"], ["sm0"], axis=0),
        h.make_node("LayerNormalization", ["x3", "g"], ["ln"], axis=-1),
        h.make_node("Add", ["sm", "sm0"], ["a1"]),
        h.make_node("Add", ["a1", "ln"], ["y"]),
    ]
    save("rows", nodes, [vi("x", TP.FLOAT, [5, 37])],
         [vi("y", TP.FLOAT, [5, 37]), vi("lsm", TP.FLOAT, [5, 37])],
         [f32("three", 3.0), w("g", 37, scale=1.0)])


if __name__ == "__main__":
    mlp()
    convnet()
    encoder()
    mixed()
    branch()
    rows()
