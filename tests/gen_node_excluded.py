#!/usr/bin/env python3
"""Write tests/node_excluded.txt: the ONNX node tests outside the scope of
the conformance target, one per line as `test_name group reason`.

Groups (from issue 2): training ops, sequence and optional types, string
ops and string tensors, random generators. A test belongs to a group when
its model uses one of the group's ops or types anywhere (subgraphs too).
Run with the Debian python3 that has the onnx package:
    /usr/bin/python3 tests/gen_node_excluded.py [NODE_DIR] > tests/node_excluded.txt
"""
import os
import sys

import onnx

TRAINING = {"Adagrad", "Adam", "Momentum", "Gradient"}
RANDOM = {"Bernoulli", "RandomNormal", "RandomNormalLike", "RandomUniform",
          "RandomUniformLike", "Multinomial"}
STRING_OPS = {"StringNormalizer", "TfIdfVectorizer", "RegexFullMatch",
              "StringConcat", "StringSplit"}
SEQUENCE_OPS = {"SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase",
                "SequenceInsert", "SequenceLength", "SequenceMap", "SplitToSequence",
                "ConcatFromSequence", "Optional", "OptionalGetElement",
                "OptionalHasElement"}


def type_group(tp):
    kind = tp.WhichOneof("value")
    if kind in ("sequence_type", "optional_type", "map_type"):
        return "sequence_optional"
    if kind == "tensor_type" and tp.tensor_type.elem_type == onnx.TensorProto.STRING:
        return "string"
    return None


def graph_groups(g, out):
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        grp = type_group(vi.type)
        if grp:
            out.add((grp, "type of " + vi.name))
    for init in g.initializer:
        if init.data_type == onnx.TensorProto.STRING:
            out.add(("string", "initializer " + init.name))
    for n in g.node:
        if n.op_type in TRAINING or n.domain == "ai.onnx.preview.training":
            out.add(("training", n.op_type))
        if n.op_type in RANDOM:
            out.add(("random", n.op_type))
        if n.op_type in STRING_OPS:
            out.add(("string", n.op_type))
        if n.op_type in SEQUENCE_OPS:
            out.add(("sequence_optional", n.op_type))
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == onnx.TensorProto.STRING:
                out.add(("string", n.op_type + " string constant"))
            if n.op_type in ("Cast", "CastLike") and a.name == "to" and a.i == onnx.TensorProto.STRING:
                out.add(("string", "Cast to string"))
            if a.type == onnx.AttributeProto.GRAPH:
                graph_groups(a.g, out)
            for sg in a.graphs:
                graph_groups(sg, out)


# Dropout in training mode with a non-zero ratio draws a random mask: the
# reference outputs come from numpy's generator, so these are random
# generators too. (The zero-ratio variants are deterministic and stay in.)
RANDOM_TESTS = {"test_training_dropout", "test_training_dropout_default",
                "test_training_dropout_default_mask", "test_training_dropout_mask"}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/libonnx-testdata/data/node"
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "model.onnx")
        if not os.path.exists(path):
            continue
        m = onnx.load(path, load_external_data=False)
        groups = set()
        graph_groups(m.graph, groups)
        if name in RANDOM_TESTS:
            groups.add(("random", "Dropout_training_mode_random_mask"))
        if groups:
            grp, why = sorted(groups)[0]
            print(f"{name} {grp} {why.replace(' ', '_')}")


if __name__ == "__main__":
    main()
