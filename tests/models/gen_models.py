#!/usr/bin/env python3
"""Make the small ONNX models the C tests use (committed beside this file).
Run with Debian's python3 (python3-onnx):  /usr/bin/python3 tests/models/gen_models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name))


def shape_chain(batch):
    """x[batch,3,4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [12]))
    -> Relu: the Shape->Gather->Concat->Reshape chain exporters emit."""
    idx = numpy_helper.from_array(np.array(0, dtype=np.int64), "idx")
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")
    twelve = numpy_helper.from_array(np.array([12], dtype=np.int64), "twelve")
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "idx"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "twelve"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"], name="reshape"),
        helper.make_node("Relu", ["r"], ["y"], name="relu"),
    ]
    g = helper.make_graph(nodes, "shape_chain",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 12])],
                          [idx, axes, twelve])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def external_weights():
    """y = x * W with W = [1, 2, 3, 4] stored in the external file
    external_weights.bin (at offset 0, as onnx writes it)."""
    w = numpy_helper.from_array(np.array([1, 2, 3, 4], dtype=np.float32), "W")
    g = helper.make_graph([helper.make_node("Mul", ["x", "W"], ["y"], name="mul")], "external",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save_model(m, os.path.join(HERE, "external_weights.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="external_weights.bin",
                    size_threshold=0)


def main():
    save(shape_chain(2), "shape_chain_static.onnx")
    save(shape_chain("N"), "shape_chain_dynamic.onnx")
    external_weights()


if __name__ == "__main__":
    main()
