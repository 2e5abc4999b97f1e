#!/usr/bin/python3
"""Crashers written out as plain models (the other files here are the
flipped copies test_fuzz_models found): constant shape values that
overflowed int64 arithmetic in shape inference or kernels, a rank-0
GatherND index, RoiAlign boxes of NaN and infinities, attributes near
2^62 (LRN's size, LSTM's hidden_size, Conv's group: found in fuzzed
engine files); each
must now fail to build with a message, or run.

    /usr/bin/python3 tests/fuzz_crashers/make_crashers.py   # rewrites them
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
BIG = np.iinfo(np.int64).max


def save(name, nodes, inputs, outputs, consts):
    """consts: (name, values) as int64, or (name, array) as it is."""
    g = helper.make_graph(nodes, name, inputs, outputs,
                          [numpy_helper.from_array(v if isinstance(v, np.ndarray) else np.array(v, dtype=np.int64), n)
                           for n, v in consts])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, os.path.join(HERE, name + ".onnx"))


def f(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


# Reshape to [2^63 - 1, 8, -1]: the product of the given dims overflowed
save("reshape_int64_max_dim", [helper.make_node("Reshape", ["x", "s"], ["y"])],
     [f("x", [2, 3, 4])], [f("y", None)], [("s", [BIG, 8, -1])])
# Split sizes [2^63 - 1, 5]: their sum overflowed
save("split_int64_max_size", [helper.make_node("Split", ["x", "s"], ["y0", "y1"])],
     [f("x", [6])], [f("y0", None), f("y1", None)], [("s", [BIG, 5])])
# Slice steps of 2^63 - 1 and -2^63: the length's rounding overflowed
save("slice_int64_extreme_steps",
     [helper.make_node("Slice", ["x", "b0", "e0", "a", "p0"], ["y0"]),
      helper.make_node("Slice", ["x", "b1", "e1", "a", "p1"], ["y1"])],
     [f("x", [10])], [f("y0", None), f("y1", None)],
     [("b0", [0]), ("e0", [BIG]), ("a", [0]), ("p0", [BIG]),
      ("b1", [BIG]), ("e1", [-BIG - 1]), ("p1", [-BIG - 1])])
# MaxUnpool to an output_shape with 2^63 - 1: the plane size overflowed
save("maxunpool_int64_max_output_shape", [helper.make_node("MaxUnpool", ["x", "i", "s"], ["y"],
                                                           kernel_shape=[2, 2], strides=[2, 2])],
     [f("x", [1, 1, 2, 2]), helper.make_tensor_value_info("i", TensorProto.INT64, [1, 1, 2, 2])],
     [f("y", None)], [("s", [1, 1, BIG, 4])])
# GatherND with rank-0 indices: inference read the dims before index 0
save("gathernd_rank0_indices", [helper.make_node("GatherND", ["x", "i"], ["y"])],
     [f("x", [2, 2])], [f("y", None)], [("i", 0)])
# Slice of a 2-D tensor with step 2^63 - 1 on axis 0: the kernel's
# element stride (50 * step) overflowed though only one row is taken
save("slice_int64_max_step_2d", [helper.make_node("Slice", ["x", "b", "e", "a", "p"], ["y"])],
     [f("x", [3, 50])], [f("y", None)], [("b", [0]), ("e", [BIG]), ("a", [0]), ("p", [BIG])])
# RoiAlign boxes of NaN and infinities: float-to-int conversions of NaN
save("roialign_nan_inf_rois", [helper.make_node("RoiAlign", ["x", "r", "i"], ["y"], output_height=2,
                                                output_width=2)],
     [f("x", [1, 1, 4, 4])], [f("y", None)],
     [("r", np.array([[np.nan, 0, np.inf, 1e30], [-np.inf, np.nan, 2, 2]], dtype=np.float32)), ("i", [0, 0])])
# LRN with size 2^60: its work estimate (size * 512) overflowed
save("lrn_size_2p60", [helper.make_node("LRN", ["x"], ["y"], size=1 << 60)],
     [f("x", [1, 3, 2, 2])], [f("y", None)], [])
# LSTM with hidden_size 2^61: 4 gates * hidden_size overflowed in inference
save("lstm_hidden_size_2p61", [helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=1 << 61)],
     [f("x", [2, 1, 3]), f("w", [1, 8, 3]), f("r", [1, 8, 2])], [f("y", None)], [])
# Conv with group 2^62: weight channels * group overflowed in inference
save("conv_group_2p62", [helper.make_node("Conv", ["x", "w"], ["y"], group=1 << 62)],
     [f("x", [1, 4, 3, 3]), f("w", [4, 4, 1, 1])], [f("y", None)], [])
