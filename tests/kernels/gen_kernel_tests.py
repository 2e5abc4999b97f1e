#!/usr/bin/python3
"""Kernel tests in the ONNX node-test layout (model.onnx, test_data_set_0/
input_K.pb, output_K.pb), with references computed here in float64 numpy,
for kernel paths the ONNX node tests do not reach (shapes too small there).

    /usr/bin/python3 tests/kernels/gen_kernel_tests.py   # rewrites tests/kernels/test_*

Run with: build/bin/node_tests --data tests/kernels --excluded /dev/null
"""
import math
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17


def write(name, nodes, inputs, outputs, initializers=()):
    """inputs/outputs: lists of (name, array); the graph's I/O follow them."""
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))

    def vi(n, a):
        return helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))

    graph = helper.make_graph(nodes, name, [vi(n, a) for n, a in inputs], [vi(n, a) for n, a in outputs],
                              [numpy_helper.from_array(a.astype(np.float32), n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for k, (n, a) in enumerate(inputs):
        t = numpy_helper.from_array(a.astype(np.float32), n)
        open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb").write(t.SerializeToString())
    for k, (n, a) in enumerate(outputs):
        t = numpy_helper.from_array(a.astype(np.float32), n)
        open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb").write(t.SerializeToString())


def rnd(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def write_conv1x1_residual(rng, n, c, m, h, wd, wscale):
    """test_conv1x1_residual_c{c}: Relu(1x1 conv (c -> m channels) + bias +
    z), z = Sigmoid(z0) an intermediate that dies at the Add (a candidate
    for writing the output over it)."""
    x, z0 = rnd(rng, n, c, h, wd), rnd(rng, n, m, h, wd)
    w, bias = rnd(rng, m, c, 1, 1) * wscale, rnd(rng, m)
    z = 1.0 / (1.0 + np.exp(-z0.astype(np.float64)))
    conv = np.einsum("nchw,mc->nmhw", x.astype(np.float64), w[:, :, 0, 0].astype(np.float64))
    y = np.maximum(conv + bias[None, :, None, None] + z, 0)
    nodes = [helper.make_node("Sigmoid", ["z0"], ["z"]),
             helper.make_node("Conv", ["x", "w", "b"], ["t"], kernel_shape=[1, 1]),
             helper.make_node("Add", ["t", "z"], ["u"]), helper.make_node("Relu", ["u"], ["y"])]
    write(f"test_conv1x1_residual_c{c}", nodes, [("x", x), ("z0", z0)], [("y", y)], [("w", w), ("b", bias)])


def main():
    rng = np.random.default_rng(2026)
    # MatMul with 1-3 rows and B a graph input: the in-place GEMV path,
    # column counts with and without a partial 32/8-column block
    for rows in (1, 2, 3):
        for n in (16, 70):
            a, b = rnd(rng, rows, 37), rnd(rng, 37, n)
            y = a.astype(np.float64) @ b.astype(np.float64)
            write(f"test_gemv_matmul_r{rows}_n{n}", [helper.make_node("MatMul", ["a", "b"], ["y"])],
                  [("a", a), ("b", b)], [("y", y)])
    # batched: one row per matrix, B per batch
    a, b = rnd(rng, 2, 1, 45), rnd(rng, 2, 45, 33)
    write("test_gemv_matmul_batched", [helper.make_node("MatMul", ["a", "b"], ["y"])],
          [("a", a), ("b", b)], [("y", np.matmul(a.astype(np.float64), b.astype(np.float64)))])
    # Gemm (a FusedMatMul with transA / transB after the passes), C and
    # alpha in the epilogue, B a graph input
    for ta in (0, 1):
        for tb in (0, 1):
            rows, k, n = 2, 29, 40
            a = rnd(rng, k, rows) if ta else rnd(rng, rows, k)
            b = rnd(rng, n, k) if tb else rnd(rng, k, n)
            c = rnd(rng, n)
            opa = a.T if ta else a
            opb = b.T if tb else b
            y = 0.5 * (opa.astype(np.float64) @ opb.astype(np.float64)) + c
            node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.5, transA=ta, transB=tb)
            write(f"test_gemv_gemm_ta{ta}_tb{tb}", [node], [("a", a), ("b", b), ("c", c)], [("y", y)])
    # many rows, B transposed: B packed into panels by 8 x 8 transposes
    # (k not a multiple of 8, n not a multiple of 16)
    for rows, k, n in ((40, 37, 50), (9, 64, 32)):
        a, b = rnd(rng, rows, k), rnd(rng, n, k)
        y = a.astype(np.float64) @ b.astype(np.float64).T
        write(f"test_gemm_transb_{rows}x{k}x{n}", [helper.make_node("Gemm", ["a", "b"], ["y"], transB=1)],
              [("a", a), ("b", b)], [("y", y)])
    # 1x1 conv + bias + residual + Relu, the residual an intermediate that
    # dies there: planned in place (the output written over the residual)
    # when the depth fits one GEMM k slice (32 channels), copied when not
    # (300 channels)
    for c in (32, 300):
        write_conv1x1_residual(rng, 2, c, 40, 9, 11, 0.2)
    # 7x7 outputs: 49 = 32 + 16 + 1 columns, the last one through the
    # narrow-column kernel; 300 input channels sum over two k slices of
    # the AVX2 kernel (one of the AVX-512 kernel's deeper slices)
    x, z0 = rnd(rng, 1, 300, 7, 7), rnd(rng, 1, 40, 7, 7)
    w, bias = rnd(rng, 40, 300, 1, 1) * 0.1, rnd(rng, 40)
    conv = np.einsum("nchw,mc->nmhw", x.astype(np.float64), w[:, :, 0, 0].astype(np.float64))
    y = np.maximum(conv + bias[None, :, None, None] + z0, 0)
    write("test_conv1x1_7x7_c300", [helper.make_node("Conv", ["x", "w", "b"], ["t"], kernel_shape=[1, 1]),
                                    helper.make_node("Add", ["t", "z0"], ["u"]),
                                    helper.make_node("Relu", ["u"], ["y"])],
          [("x", x), ("z0", z0)], [("y", y)], [("w", w), ("b", bias)])
    # last column tiles read in place: 196 = 6 * 32 + 4 (narrow), 100 =
    # 3 * 32 + 4, 40 = 32 + 8, 144 = 4 * 32 + 16; odd k slices (257, or
    # 129 + 128 with AVX2; 33) for the narrow kernel's odd last step
    for h, wd, c in ((14, 14, 257), (10, 10, 33), (5, 8, 64), (12, 12, 300)):
        x, z0 = rnd(rng, 1, c, h, wd), rnd(rng, 1, 40, h, wd)
        w, bias = rnd(rng, 40, c, 1, 1) * 0.1, rnd(rng, 40)
        conv = np.einsum("nchw,mc->nmhw", x.astype(np.float64), w[:, :, 0, 0].astype(np.float64))
        y = np.maximum(conv + bias[None, :, None, None] + z0, 0)
        write(f"test_conv1x1_{h}x{wd}_c{c}", [helper.make_node("Conv", ["x", "w", "b"], ["t"], kernel_shape=[1, 1]),
                                              helper.make_node("Add", ["t", "z0"], ["u"]),
                                              helper.make_node("Relu", ["u"], ["y"])],
              [("x", x), ("z0", z0)], [("y", y)], [("w", w), ("b", bias)])
    x, w, bias = rnd(rng, 2, 24, 7, 7), rnd(rng, 20, 24, 3, 3) * 0.2, rnd(rng, 20)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((2, 20, 7, 7))
    for kh in range(3):
        for kw in range(3):
            y += np.einsum("nchw,mc->nmhw", xp[:, :, kh:kh + 7, kw:kw + 7], w[:, :, kh, kw].astype(np.float64))
    y = np.maximum(y + bias[None, :, None, None], 0)
    write("test_conv3x3_7x7", [helper.make_node("Conv", ["x", "w", "b"], ["t"], kernel_shape=[3, 3],
                                                pads=[1, 1, 1, 1]),
                               helper.make_node("Relu", ["t"], ["y"])],
          [("x", x)], [("y", y)], [("w", w), ("b", bias)])
    # three rows and a Relu after: the fused activation on the GEMV's block
    a, b = rnd(rng, 3, 64), rnd(rng, 64, 48)
    y = np.maximum(a.astype(np.float64) @ b.astype(np.float64), 0)
    write("test_gemv_matmul_relu", [helper.make_node("MatMul", ["a", "b"], ["t"]),
                                    helper.make_node("Relu", ["t"], ["y"])],
          [("a", a), ("b", b)], [("y", y)])
    # a weight product with A (43 rows) read in place (96 columns: too few
    # to pack it), a column bias and GELU (erf form) in the epilogue: five
    # full row tiles down each column in one call, then 3 rows
    a, w, bias = rnd(rng, 43, 70), rnd(rng, 70, 96) * 0.3, rnd(rng, 96)
    t = a.astype(np.float64) @ w.astype(np.float64) + bias
    y = 0.5 * t * (1.0 + np.vectorize(math.erf)(t / math.sqrt(2.0)))
    nodes = [helper.make_node("MatMul", ["a", "w"], ["t0"]), helper.make_node("Add", ["t0", "b"], ["t"]),
             helper.make_node("Div", ["t", "sq2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["t", "e1"], ["m"]),
             helper.make_node("Mul", ["m", "half"], ["y"])]
    write("test_matmul_gelu_43x70x96", nodes, [("a", a)], [("y", y)],
          [("w", w), ("b", bias), ("sq2", np.array(math.sqrt(2.0), dtype=np.float32)),
           ("one", np.array(1.0, dtype=np.float32)), ("half", np.array(0.5, dtype=np.float32))])
    # depths beyond one k slice of either kernel (AVX-512: 768; AVX2:
    # 256): 1700 = 768 + 466 + 466, the epilogue (column bias, a residual
    # input, Relu) after the last slice only; 16 rows (two full row
    # tiles), 40 = 32 + 8 columns
    a, w, bias, z = rnd(rng, 16, 1700), rnd(rng, 1700, 40) * 0.05, rnd(rng, 40), rnd(rng, 16, 40)
    y = np.maximum(a.astype(np.float64) @ w.astype(np.float64) + bias + z, 0)
    nodes = [helper.make_node("MatMul", ["a", "w"], ["t0"]), helper.make_node("Add", ["t0", "b"], ["t1"]),
             helper.make_node("Add", ["t1", "z"], ["t2"]), helper.make_node("Relu", ["t2"], ["y"])]
    write("test_matmul_res_relu_16x1700x40", nodes, [("a", a), ("z", z)], [("y", y)], [("w", w), ("b", bias)])
    # a pointwise conv with a residual that dies there, 800 input channels:
    # two k slices, so not planned in place (partial sums would land on
    # the residual before it is read)
    write_conv1x1_residual(rng, 1, 800, 24, 5, 5, 0.05)
    # constant weights wide enough that, on 2 threads, each thread's one
    # task packs all of A itself (280 columns each) instead of sharing
    # one packed copy; 12 rows (a full tile and a part), bias and Relu
    a, w, bias = rnd(rng, 12, 200), rnd(rng, 200, 560) * 0.02, rnd(rng, 560) * 0.1
    y = np.maximum(a.astype(np.float64) @ w.astype(np.float64) + bias, 0)
    nodes = [helper.make_node("MatMul", ["a", "w"], ["t0"]), helper.make_node("Add", ["t0", "b"], ["t1"]),
             helper.make_node("Relu", ["t1"], ["y"])]
    write("test_matmul_bias_relu_12x200x560", nodes, [("a", a)], [("y", y)], [("w", w), ("b", bias)])
    # sums over an empty axis (found by fuzzing: the reduction's
    # odometer divided by the axis' size 0): zeros
    x = np.zeros((3, 0), dtype=np.float32)
    write("test_einsum_sum_empty_axis", [helper.make_node("Einsum", ["x"], ["y"], equation="ij->i")],
          [("x", x)], [("y", np.zeros(3))])


if __name__ == "__main__":
    main()
