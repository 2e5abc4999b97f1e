#!/usr/bin/python3
"""Small ONNX graphs for tests/test_passes_linear.c.

Run with /usr/bin/python3 (needs onnx and numpy); writes
tests/passes/pa/*.onnx. They exercise the passes eliminate_identity,
fold_conv_bn and fuse_bias_activation: graphs each pass must rewrite and
graphs it must leave alone (an intermediate read twice, a graph output
inside the pattern, a parameter that is not constant, a broadcast that
changes the shape).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(4321)
F = TP.FLOAT


def w(name, *shape, scale=0.3):
    return nh.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def f32(name, vals):
    return nh.from_array(np.array(vals, dtype=np.float32), name)


def vi(name, shape, elem=F):
    return h.make_tensor_value_info(name, elem, shape)


def save(name, nodes, inputs, outputs, inits):
    g = h.make_graph(nodes, name, inputs, outputs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="gen_pa_models")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))


def bn_params(prefix, c):
    """BatchNormalization scale, bias, mean, var (var positive)."""
    return [
        nh.from_array((1 + 0.2 * rng.standard_normal(c)).astype(np.float32), prefix + "_s"),
        w(prefix + "_b", c),
        w(prefix + "_m", c),
        nh.from_array((0.5 + rng.random(c)).astype(np.float32), prefix + "_v"),
    ]


def bn_node(inp, out, prefix, **kw):
    return h.make_node("BatchNormalization",
                       [inp, prefix + "_s", prefix + "_b", prefix + "_m", prefix + "_v"], [out], **kw)


X = [vi("x", [1, 3, 8, 8])]

# ---- eliminate_identity ----

save("id_chain", [
    h.make_node("Relu", ["x"], ["a"]),
    h.make_node("Identity", ["a"], ["b"]),
    h.make_node("Identity", ["b"], ["c"]),
    h.make_node("Sigmoid", ["c"], ["y"]),
], X, [vi("y", [1, 3, 8, 8])], [])

# the Identity's output is the graph output: Relu must write "y" directly
save("id_output", [
    h.make_node("Relu", ["x"], ["a"]),
    h.make_node("Identity", ["a"], ["y"]),
], X, [vi("y", [1, 3, 8, 8])], [])

# graph input straight to a graph output: the Identity stays
save("id_input_output", [
    h.make_node("Identity", ["x"], ["y"]),
    h.make_node("Relu", ["x"], ["z"]),
], X, [vi("y", [1, 3, 8, 8]), vi("z", [1, 3, 8, 8])], [])

# both ends are graph outputs: the Identity stays
save("id_both_outputs", [
    h.make_node("Relu", ["x"], ["a"]),
    h.make_node("Identity", ["a"], ["y"]),
], X, [vi("a", [1, 3, 8, 8]), vi("y", [1, 3, 8, 8])], [])

save("dropout", [
    h.make_node("Dropout", ["x", "ratio"], ["a"]),
    h.make_node("Relu", ["a"], ["b"]),
    h.make_node("Dropout", ["b"], ["y", ""]),
], X, [vi("y", [1, 3, 8, 8])], [f32("ratio", 0.5)])

# the mask is wanted: the Dropout stays
save("dropout_mask", [
    h.make_node("Dropout", ["x"], ["a", "mask"]),
    h.make_node("Relu", ["a"], ["y"]),
], X, [vi("y", [1, 3, 8, 8]), vi("mask", [1, 3, 8, 8], TP.BOOL)], [])

# training_mode given as constant false: removed
save("dropout_training_false", [
    h.make_node("Dropout", ["x", "ratio", "train"], ["a"]),
    h.make_node("Tanh", ["a"], ["y"]),
], X, [vi("y", [1, 3, 8, 8])],
    [f32("ratio", 0.3), nh.from_array(np.array(False), "train")])

# ---- fold_conv_bn ----

save("conv_bn", [
    h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
    bn_node("c", "y", "bn", epsilon=1e-3),
], X, [vi("y", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3), w("B", 4)] + bn_params("bn", 4))

# no conv bias, depthwise, strided
save("conv_bn_depthwise", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], group=3, strides=[2, 2]),
    bn_node("c", "y", "bn"),
], X, [vi("y", [1, 6, 4, 4])], [w("W", 6, 1, 3, 3)] + bn_params("bn", 6))

save("convtranspose_bn", [
    h.make_node("ConvTranspose", ["x", "W", "B"], ["c"], strides=[2, 2], group=1),
    bn_node("c", "y", "bn"),
], X, [vi("y", [1, 4, 17, 17])], [w("W", 3, 4, 3, 3), w("B", 4)] + bn_params("bn", 4))

save("convtranspose_bn_group", [
    h.make_node("Conv", ["x", "W0"], ["x4"]),
    h.make_node("ConvTranspose", ["x4", "W", "B"], ["c"], group=2, pads=[1, 1, 1, 1]),
    bn_node("c", "y", "bn"),
], X, [vi("y", [1, 6, 8, 8])], [w("W0", 4, 3, 1, 1), w("W", 4, 3, 3, 3), w("B", 6)] + bn_params("bn", 6))

# the conv output is also read by a Relu: no fold
save("conv_bn_shared", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    bn_node("c", "y", "bn"),
    h.make_node("Relu", ["c"], ["z"]),
], X, [vi("y", [1, 4, 8, 8]), vi("z", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3)] + bn_params("bn", 4))

# the conv output is a graph output: no fold
save("conv_bn_output", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    bn_node("c", "y", "bn"),
], X, [vi("c", [1, 4, 8, 8]), vi("y", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3)] + bn_params("bn", 4))

# the BN scale is a graph input: no fold
save("conv_bn_nonconst", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("BatchNormalization", ["c", "scale", "bn_b", "bn_m", "bn_v"], ["y"]),
], X + [vi("scale", [4])], [vi("y", [1, 4, 8, 8])],
    [w("W", 4, 3, 3, 3)] + bn_params("bn", 4)[1:])

# ---- fuse_bias_activation: Conv ----

save("conv_bias_relu", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Add", ["c", "bias"], ["a"]),
    h.make_node("Relu", ["a"], ["y"]),
], X, [vi("y", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3), w("bias", 4, 1, 1)])

# conv bias plus an Add of a [1, M, 1, 1] constant, no activation
save("conv_bias", [
    h.make_node("Conv", ["x", "W", "B"], ["c"]),
    h.make_node("Add", ["bias", "c"], ["y"]),
], X, [vi("y", [1, 4, 6, 6])], [w("W", 4, 3, 3, 3), w("B", 4), w("bias", 1, 4, 1, 1)])

# ResNet block tail: Conv -> BN -> Add(skip) -> Relu
save("conv_bn_residual_relu", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    bn_node("c", "b", "bn"),
    h.make_node("Add", ["x", "b"], ["a"]),
    h.make_node("Relu", ["a"], ["y"]),
], X, [vi("y", [1, 3, 8, 8])], [w("W", 3, 3, 3, 3)] + bn_params("bn", 3))

# residual with a symbolic batch dim
save("conv_residual_dynamic", [
    h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Add", ["c", "x"], ["y"]),
], [vi("x", ["N", 3, 8, 8])], [vi("y", ["N", 3, 8, 8])], [w("W", 3, 3, 3, 3), w("B", 3)])


def conv_act(name, act_nodes, inits=()):
    save(name, [h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1])] + act_nodes,
         X, [vi("y", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3, scale=1.0), w("B", 4)] + list(inits))


conv_act("conv_relu6", [h.make_node("Clip", ["c", "lo", "hi"], ["y"])], [f32("lo", 0), f32("hi", 6)])
conv_act("conv_clip_min", [h.make_node("Clip", ["c", "lo"], ["y"])], [f32("lo", -0.5)])
conv_act("conv_leakyrelu", [h.make_node("LeakyRelu", ["c"], ["y"], alpha=0.2)])
conv_act("conv_sigmoid", [h.make_node("Sigmoid", ["c"], ["y"])])
conv_act("conv_silu", [h.make_node("Sigmoid", ["c"], ["s"]), h.make_node("Mul", ["c", "s"], ["y"])])
conv_act("conv_hardswish", [h.make_node("HardSwish", ["c"], ["y"])])
conv_act("conv_tanh", [h.make_node("Tanh", ["c"], ["y"])])
conv_act("conv_gelu_erf", [
    h.make_node("Div", ["c", "sqrt2"], ["d"]),
    h.make_node("Erf", ["d"], ["e"]),
    h.make_node("Add", ["e", "one"], ["a"]),
    h.make_node("Mul", ["c", "a"], ["m"]),
    h.make_node("Mul", ["m", "half"], ["y"]),
], [f32("sqrt2", 1.4142135), f32("one", 1.0), f32("half", 0.5)])
# the other order: (x * 0.5) * (1 + erf(x * 0.7071))
conv_act("conv_gelu_erf2", [
    h.make_node("Mul", ["c", "half"], ["h"]),
    h.make_node("Mul", ["c", "rsqrt2"], ["d"]),
    h.make_node("Erf", ["d"], ["e"]),
    h.make_node("Add", ["one", "e"], ["a"]),
    h.make_node("Mul", ["h", "a"], ["y"]),
], [f32("rsqrt2", 0.70710678), f32("one", 1.0), f32("half", 0.5)])

# the Relu's input is also a graph output: only Conv+Add
save("conv_bias_output_relu", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Add", ["c", "bias"], ["a"]),
    h.make_node("Relu", ["a"], ["y"]),
], X, [vi("a", [1, 4, 8, 8]), vi("y", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3), w("bias", 4, 1, 1)])

# the biased value feeds two activations: only Conv+Add
save("conv_bias_two_readers", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Add", ["c", "bias"], ["a"]),
    h.make_node("Relu", ["a"], ["y"]),
    h.make_node("Sigmoid", ["a"], ["z"]),
], X, [vi("y", [1, 4, 8, 8]), vi("z", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3), w("bias", 4, 1, 1)])

# SiLU whose sigmoid is also a graph output: nothing fuses
save("conv_silu_sigmoid_output", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Sigmoid", ["c"], ["s"]),
    h.make_node("Mul", ["c", "s"], ["y"]),
], X, [vi("y", [1, 4, 8, 8]), vi("s", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3)])

# Add of a per-channel graph input: not a bias, not a residual of Y's shape
save("conv_add_broadcast_input", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Add", ["c", "z"], ["y"]),
], X + [vi("z", [1, 4, 1, 1])], [vi("y", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3)])

# ---- fuse_bias_activation: MatMul / Gemm ----

A3 = [vi("a", [2, 5, 8])]
save("matmul_bias", [
    h.make_node("MatMul", ["a", "Wm"], ["m"]),
    h.make_node("Add", ["m", "bias"], ["y"]),
], A3, [vi("y", [2, 5, 6])], [w("Wm", 8, 6), w("bias", 6)])

save("matmul_bias_relu", [
    h.make_node("MatMul", ["a", "Wm"], ["m"]),
    h.make_node("Add", ["bias", "m"], ["b"]),
    h.make_node("Relu", ["b"], ["y"]),
], A3, [vi("y", [2, 5, 6])], [w("Wm", 8, 6), w("bias", 6)])

save("matmul_bias_gelu_erf", [
    h.make_node("MatMul", ["a", "Wm"], ["m"]),
    h.make_node("Add", ["m", "bias"], ["b"]),
    h.make_node("Div", ["b", "sqrt2"], ["d"]),
    h.make_node("Erf", ["d"], ["e"]),
    h.make_node("Add", ["e", "one"], ["p"]),
    h.make_node("Mul", ["b", "p"], ["q"]),
    h.make_node("Mul", ["q", "half"], ["y"]),
], A3, [vi("y", [2, 5, 6])],
    [w("Wm", 8, 6), w("bias", 6), f32("sqrt2", 1.4142135), f32("one", 1.0), f32("half", 0.5)])

# two non-constant operands, activation only
save("matmul_tanh", [
    h.make_node("MatMul", ["a", "bm"], ["m"]),
    h.make_node("Tanh", ["m"], ["y"]),
], A3 + [vi("bm", [2, 8, 6])], [vi("y", [2, 5, 6])], [])

# the Add broadcasts Y to a bigger shape: no fusion
save("matmul_add_expands", [
    h.make_node("MatMul", ["a", "Wm"], ["m"]),
    h.make_node("Add", ["m", "bias"], ["y"]),
], A3, [vi("y", [2, 5, 6])], [w("Wm", 8, 1), w("bias", 6)])

# MatMul alone: no fusion
save("matmul_plain", [
    h.make_node("MatMul", ["a", "Wm"], ["y"]),
], A3, [vi("y", [2, 5, 6])], [w("Wm", 8, 6)])

A2 = [vi("a", [4, 8])]
save("gemm_relu", [
    h.make_node("Gemm", ["a", "Wg", "C"], ["g"], alpha=0.5, beta=2.0, transB=1),
    h.make_node("Relu", ["g"], ["y"]),
], A2, [vi("y", [4, 6])], [w("Wg", 6, 8), w("C", 6)])

save("gemm_sigmoid_input_c", [
    h.make_node("Gemm", ["a", "Wg", "c"], ["g"], transA=1),
    h.make_node("Sigmoid", ["g"], ["y"]),
], [vi("a", [8, 4]), vi("c", [4, 6])], [vi("y", [4, 6])], [w("Wg", 8, 6)])

# Gemm without an activation stays a Gemm
save("gemm_plain", [
    h.make_node("Gemm", ["a", "Wg", "C"], ["y"], transB=1),
], A2, [vi("y", [4, 6])], [w("Wg", 6, 8), w("C", 6)])

# tanh-form GELU (pass fuse_gelu makes it one Gelu op, approximate "tanh")
save("matmul_bias_gelu_tanh", [
    h.make_node("MatMul", ["a", "Wm"], ["m"]),
    h.make_node("Add", ["m", "bias"], ["b"]),
    h.make_node("Pow", ["b", "three"], ["p3"]),
    h.make_node("Mul", ["p3", "k"], ["kp"]),
    h.make_node("Add", ["b", "kp"], ["s"]),
    h.make_node("Mul", ["s", "c"], ["cs"]),
    h.make_node("Tanh", ["cs"], ["t"]),
    h.make_node("Add", ["t", "one"], ["t1"]),
    h.make_node("Mul", ["b", "half"], ["hb"]),
    h.make_node("Mul", ["hb", "t1"], ["y"]),
], A3, [vi("y", [2, 5, 6])],
    [w("Wm", 8, 6), w("bias", 6), f32("three", 3.0), f32("k", 0.044715),
     f32("c", 0.7978845608), f32("one", 1.0), f32("half", 0.5)])

# a ResNet basic block: Conv -> BN -> Relu -> Conv -> BN -> Add(x) -> Relu
save("resnet_block", [
    h.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1]),
    bn_node("c1", "b1", "bn1"),
    h.make_node("Relu", ["b1"], ["r1"]),
    h.make_node("Conv", ["r1", "W2"], ["c2"], pads=[1, 1, 1, 1]),
    bn_node("c2", "b2", "bn2"),
    h.make_node("Add", ["b2", "x"], ["a"]),
    h.make_node("Relu", ["a"], ["y"]),
], X, [vi("y", [1, 3, 8, 8])],
    [w("W1", 3, 3, 3, 3), w("W2", 3, 3, 3, 3)] + bn_params("bn1", 3) + bn_params("bn2", 3))


def branch(name, op, inp, out):
    return h.make_graph([h.make_node(op, [inp], [out])], name, [], [vi(out, [1, 4, 8, 8])])


# the conv output is read by an If's branches (by name): nothing fuses
save("conv_relu_read_by_subgraph", [
    h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Relu", ["c"], ["y"]),
    h.make_node("If", ["cond"], ["z"], then_branch=branch("then", "Identity", "c", "t"),
                else_branch=branch("else", "Sigmoid", "c", "e")),
], X + [vi("cond", [], TP.BOOL)], [vi("y", [1, 4, 8, 8]), vi("z", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3)])

# the Identity's output is read by an If's branches: the Relu writes it
save("id_read_by_subgraph", [
    h.make_node("Conv", ["x", "W"], ["a"], pads=[1, 1, 1, 1]),
    h.make_node("Identity", ["a"], ["b"]),
    h.make_node("Tanh", ["b"], ["y"]),
    h.make_node("If", ["cond"], ["z"], then_branch=branch("then", "Identity", "b", "t"),
                else_branch=branch("else", "Sigmoid", "b", "e")),
], X + [vi("cond", [], TP.BOOL)], [vi("y", [1, 4, 8, 8]), vi("z", [1, 4, 8, 8])], [w("W", 4, 3, 3, 3)])
