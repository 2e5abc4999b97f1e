#!/usr/bin/python3
"""Small ONNX graphs for the LayerNormalization, Gelu, attention and
residual fusions and the Transpose/Reshape elimination pass
(tests/test_passes_nlp.c).

    /usr/bin/python3 tests/passes/pb/gen_pb_models.py   # writes tests/passes/pb/*.onnx
"""
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F = TensorProto.FLOAT


def const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def save(name, nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="gen_pb_models")
    model.ir_version = 7
    # outputs get their types and shapes from ONNX's shape inference
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for o in model.graph.output:
        if not o.type.tensor_type.HasField("shape") and o.name in known:
            o.CopyFrom(known[o.name])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name + ".onnx"))


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


rng = np.random.default_rng(7)


# ---------------- LayerNormalization ----------------

def layernorm(name, shape, axes, *, square="pow", divide="div", gamma=None, beta=None,
              swap=False, extra_outputs=(), eps=1e-5, shift=None):
    """The exporters' chain; gamma/beta are arrays or None; swap puts the
    constants first in the commutative ops; shift is added to the input
    first (rows with a mean far from 0)."""
    n = []
    inits = [const("eps", eps), const("two", 2.0)]
    x_in = "x"
    if shift is not None:
        inits.append(const("shift", shift))
        n.append(helper.make_node("Add", ["x_in", "shift"], ["x"]))
        x_in = "x_in"

    def binop(op, a, b, out):
        n.append(helper.make_node(op, [b, a] if swap and op in ("Add", "Mul") else [a, b], [out]))

    n.append(helper.make_node("ReduceMean", ["x"], ["mean"], axes=axes))
    n.append(helper.make_node("Sub", ["x", "mean"], ["d"]))
    if square == "pow":
        n.append(helper.make_node("Pow", ["d", "two"], ["sq"]))
    else:
        n.append(helper.make_node("Mul", ["d", "d"], ["sq"]))
    n.append(helper.make_node("ReduceMean", ["sq"], ["var"], axes=axes))
    binop("Add", "var", "eps", "ve")
    n.append(helper.make_node("Sqrt", ["ve"], ["sd"]))
    if divide == "div":
        n.append(helper.make_node("Div", ["d", "sd"], ["nrm"]))
    else:
        n.append(helper.make_node("Reciprocal", ["sd"], ["inv"]))
        binop("Mul", "d", "inv", "nrm")
    last = "nrm"
    if gamma is not None:
        inits.append(numpy_helper.from_array(gamma.astype(np.float32), "gamma"))
        binop("Mul", last, "gamma", "scaled")
        last = "scaled"
    if beta is not None:
        inits.append(numpy_helper.from_array(beta.astype(np.float32), "beta"))
        binop("Add", last, "beta", "shifted")
        last = "shifted"
    n.append(helper.make_node("Identity", [last], ["y"]))
    outs = [vi("y", None)] + [vi(o, None) for o in extra_outputs]
    save(name, n, [vi(x_in, shape)], outs, inits)


def gen_layernorm():
    d = 16
    g, b = rng.standard_normal(d), rng.standard_normal(d)
    layernorm("ln_pow_div", [2, 5, d], [-1], gamma=g, beta=b)
    layernorm("ln_mul_reciprocal_swapped", [3, d], [1], square="mul", divide="reciprocal",
              gamma=g, beta=b, swap=True, eps=1e-12)
    layernorm("ln_two_axes", [2, 4, 8], [-2, -1], gamma=rng.standard_normal((4, 8)),
              beta=rng.standard_normal((1, 8)))
    layernorm("ln_no_affine", [2, 3, d], [2])
    layernorm("ln_symbolic_batch", ["batch", 7, d], [-1], gamma=g, beta=b)
    # rows of several float blocks with a tail, far from zero mean
    # (its own generator, so the other models' constants stay as they were)
    r2 = np.random.default_rng(11)
    layernorm("ln_long_row_shifted", [3, 2085], [-1], gamma=r2.standard_normal(2085),
              beta=r2.standard_normal(2085), shift=20.0)
    # not fused: a middle axis, an intermediate read elsewhere
    layernorm("ln_middle_axis", [2, 5, d], [1], gamma=rng.standard_normal((5, 1)))
    layernorm("ln_sub_output", [2, 5, d], [-1], gamma=g, beta=b, extra_outputs=["d"])
    # gamma varying along a leading dim: the normalisation fuses, Mul and Add stay
    layernorm("ln_gamma_leading", [2, 5, d], [-1], gamma=rng.standard_normal((2, 1, d)), beta=b)


# ---------------- Gelu ----------------

def gelu_erf(name, *, scale="div", order="xb_half", div_by=math.sqrt(2.0), extra_outputs=()):
    n = []
    inits = [const("one", 1.0), const("half", 0.5)]
    if scale == "div":
        inits.append(const("c", div_by))
        n.append(helper.make_node("Div", ["x", "c"], ["a"]))
    else:
        inits.append(const("c", 1.0 / math.sqrt(2.0)))
        n.append(helper.make_node("Mul", ["c", "x"], ["a"]))
    n.append(helper.make_node("Erf", ["a"], ["e"]))
    n.append(helper.make_node("Add", ["one", "e"], ["b"]))
    if order == "xb_half":      # (x * b) * 0.5
        n += [helper.make_node("Mul", ["x", "b"], ["m"]), helper.make_node("Mul", ["m", "half"], ["y"])]
    elif order == "xhalf_b":    # (x * 0.5) * b
        n += [helper.make_node("Mul", ["half", "x"], ["h"]), helper.make_node("Mul", ["b", "h"], ["y"])]
    else:                       # (0.5 * b) * x
        n += [helper.make_node("Mul", ["half", "b"], ["h"]), helper.make_node("Mul", ["x", "h"], ["y"])]
    outs = [vi("y", None)] + [vi(o, None) for o in extra_outputs]
    save(name, n, [vi("x", [3, 40])], outs, inits)


def gelu_tanh(name, *, cube="pow", c3=0.044715):
    n = []
    inits = [const("one", 1.0), const("half", 0.5), const("three", 3.0), const("c3", c3),
             const("k", math.sqrt(2.0 / math.pi))]
    if cube == "pow":
        n.append(helper.make_node("Pow", ["x", "three"], ["x3"]))
    else:  # GPT-2's export
        n += [helper.make_node("Mul", ["x", "x"], ["x2"]), helper.make_node("Mul", ["x", "x2"], ["x3"])]
    n += [
        helper.make_node("Mul", ["c3", "x3"], ["t1"]),
        helper.make_node("Add", ["x", "t1"], ["t2"]),
        helper.make_node("Mul", ["k", "t2"], ["t3"]),
        helper.make_node("Tanh", ["t3"], ["t"]),
        helper.make_node("Add", ["one", "t"], ["b"]),
        helper.make_node("Mul", ["x", "b"], ["m"]),
        helper.make_node("Mul", ["half", "m"], ["y"]),
    ]
    save(name, n, [vi("x", [2, 3, 24])], [vi("y", None)], inits)


def gen_gelu():
    gelu_erf("gelu_erf_div")
    gelu_erf("gelu_erf_mul_xhalf_b", scale="mul", order="xhalf_b")
    gelu_erf("gelu_erf_halfb_x", order="halfb_x")
    gelu_tanh("gelu_tanh_pow")
    gelu_tanh("gelu_tanh_mul_chain", cube="mul")
    # not fused: a wrong constant, an intermediate read elsewhere
    gelu_erf("gelu_erf_wrong_const", div_by=2.0)
    gelu_erf("gelu_erf_shared", extra_outputs=["e"])
    gelu_tanh("gelu_tanh_wrong_const", c3=0.05)


# ---------------- attention ----------------

def attention(name, *, q_shape, k_shape, v_shape, k_transpose=True, scale=("div", math.sqrt(8.0)),
              mask=None, mask_kind="add", extra_outputs=(), inputs_extra=()):
    """q/k/v are graph inputs; K^T is Transpose(k) (last two dims swapped)
    unless k_transpose is False (k is then given transposed)."""
    n, inits = [], []
    kt = "k"
    if k_transpose:
        r = len(k_shape)
        perm = list(range(r - 2)) + [r - 1, r - 2]
        n.append(helper.make_node("Transpose", ["k"], ["kt"], perm=perm))
        kt = "kt"
    n.append(helper.make_node("MatMul", ["q", kt], ["qk"]))
    s = "qk"
    if scale is not None:
        op, c = scale
        inits.append(const("scale", c))
        n.append(helper.make_node("Div" if op == "div" else "Mul",
                                  ["qk", "scale"] if op == "div" else ["scale", "qk"], ["scaled"]))
        s = "scaled"
    ins = [vi("q", q_shape), vi("k", k_shape), vi("v", v_shape)]
    if mask is not None:
        if isinstance(mask, np.ndarray):
            inits.append(numpy_helper.from_array(mask.astype(np.float32), "mask"))
        else:
            ins.append(vi("mask", mask))
        if mask_kind == "add":
            n.append(helper.make_node("Add", ["mask", s], ["masked"]))
        else:
            inits.append(const("neg", -1e9))
            n.append(helper.make_node("Cast", ["mask"], ["mb"], to=TensorProto.BOOL))
            n.append(helper.make_node("Where", ["mb", s, "neg"], ["masked"]))
        s = "masked"
    n.append(helper.make_node("Softmax", [s], ["p"], axis=-1))
    n.append(helper.make_node("MatMul", ["p", "v"], ["y"]))
    outs = [vi("y", None)] + [vi(o, None) for o in extra_outputs]
    save(name, n, ins + list(inputs_extra), outs, inits)


def attention_block(name):
    """BERT/GPT-2 style: [B, S, H*D] projections reshaped into heads, K
    transposed with perm (0, 2, 3, 1), causal mask constant added."""
    B, S, H, D = 2, 6, 2, 8
    causal = np.triu(np.full((S, S), -1e4, np.float32), 1).reshape(1, 1, S, S)
    inits = [const("shape4", [0, 0, H, D], np.int64), const("shape3", [0, 0, H * D], np.int64),
             const("scale", math.sqrt(D)), numpy_helper.from_array(causal, "causal")]
    n = [
        helper.make_node("Reshape", ["q", "shape4"], ["q4"]),
        helper.make_node("Reshape", ["k", "shape4"], ["k4"]),
        helper.make_node("Reshape", ["v", "shape4"], ["v4"]),
        helper.make_node("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["k4"], ["kh"], perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["qh", "kh"], ["qk"]),
        helper.make_node("Div", ["qk", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "causal"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["p"], axis=3),
        helper.make_node("MatMul", ["p", "vh"], ["ctx"]),
        helper.make_node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ctx_t", "shape3"], ["y"]),
    ]
    ins = [vi(t, [B, S, H * D]) for t in ("q", "k", "v")]
    save(name, n, ins, [vi("y", None)], inits)


def attention_layout(name, *, B=2, S=6, H=2, D=8, Dv=None, packed=True, order=("q", "k", "v"),
                     k_form="perm", lead=(0, 0), out_shape=None, extra_outputs=(), mask=True,
                     symbolic=False):
    """Projection rows [B, S, H*D] split into heads (BERT/GPT-2 exports):
    packed: one input x [B, S, ...] split along the last axis into the
    parts named by order; else separate q, k, v inputs. k_form "perm":
    K through Transpose (0, 2, 3, 1); "swap": Transpose (0, 2, 1, 3) then
    one swapping the last two dims. lead: the first two dims of the head
    Reshapes' targets; out_shape replaces the output Reshape's."""
    Dv = Dv or D
    T = helper.make_node
    width = {"q": H * D, "k": H * D, "v": H * Dv}
    inits = [const("shape_qk", list(lead) + [H, D], np.int64), const("shape_v", list(lead) + [H, Dv], np.int64),
             const("shape3", out_shape or [0, 0, H * Dv], np.int64), const("scale", math.sqrt(D))]
    n = []
    b, s = ("b", "s") if symbolic else (B, S)
    if packed:
        inits.append(const("split", [width[t] for t in order], np.int64))
        n.append(T("Split", ["x", "split"], list(order), axis=-1))
        ins = [vi("x", [b, s, sum(width.values())])]
    else:
        ins = [vi(t, [b, s, width[t]]) for t in ("q", "k", "v")]
    n += [T("Reshape", ["q", "shape_qk"], ["q4"]), T("Reshape", ["k", "shape_qk"], ["k4"]),
          T("Reshape", ["v", "shape_v"], ["v4"]),
          T("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]), T("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3])]
    if k_form == "perm":
        n.append(T("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]))
    else:
        n += [T("Transpose", ["k4"], ["kh"], perm=[0, 2, 1, 3]), T("Transpose", ["kh"], ["kt"], perm=[0, 1, 3, 2])]
    n += [T("MatMul", ["qh", "kt"], ["qk"]), T("Div", ["qk", "scale"], ["scaled"])]
    sc = "scaled"
    if mask:
        ins.append(vi("mask", [b, 1, 1, s]))
        n.append(T("Add", ["scaled", "mask"], ["masked"]))
        sc = "masked"
    n += [T("Softmax", [sc], ["p"], axis=-1), T("MatMul", ["p", "vh"], ["ctx"]),
          T("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]), T("Reshape", ["ctx_t", "shape3"], ["y"])]
    save(name, n, ins, [vi("y", None)] + [vi(o, None) for o in extra_outputs], inits)


def attention_f64(name):
    """The pattern in float64 between Casts from and to float32."""
    B, H, S, D = 2, 2, 5, 8
    T = helper.make_node
    n = [T("Cast", [t], [t + "64"], to=TensorProto.DOUBLE) for t in ("q", "k", "v")]
    n += [
        T("Transpose", ["k64"], ["kt"], perm=[0, 1, 3, 2]),
        T("MatMul", ["q64", "kt"], ["qk"]),
        T("Mul", ["qk", "scale"], ["scaled"]),
        T("Softmax", ["scaled"], ["p"], axis=-1),
        T("MatMul", ["p", "v64"], ["y64"]),
        T("Cast", ["y64"], ["y"], to=TensorProto.FLOAT),
    ]
    ins = [vi(t, [B, H, S, D]) for t in ("q", "k", "v")]
    save(name, n, ins, [vi("y", None)], [const("scale", 0.3, np.float64)])


def gen_attention():
    B, H, S, D = 2, 2, 5, 8
    attention("attn_mask_input", q_shape=[B, H, S, D], k_shape=[B, H, S, D], v_shape=[B, H, S, D],
              mask=[B, 1, 1, S])
    attention("attn_kt_input_mul", q_shape=[B, H, S, D], k_shape=[B, H, D, 7], v_shape=[B, H, 7, 4],
              k_transpose=False, scale=("mul", 0.35))
    attention("attn_rank3_noscale", q_shape=[4, S, D], k_shape=[4, S, D], v_shape=[4, S, D], scale=None)
    attention("attn_const_mask", q_shape=[B, H, S, D], k_shape=[B, H, S, D], v_shape=[B, H, S, D],
              mask=np.triu(np.full((S, S), -1e4), 1).reshape(1, 1, S, S))
    attention("attn_symbolic", q_shape=["b", H, "s", D], k_shape=["b", H, "s", D], v_shape=["b", H, "s", D],
              mask=["b", 1, 1, "s"])
    attention_block("attn_block")
    # sequence-major rewrite: packed QKV split (any order), separate
    # projections, K through two transposes, a value head size of its own
    attention_layout("attn_packed")
    attention_layout("attn_packed_kqv_swap", order=("k", "q", "v"), k_form="swap")
    attention_layout("attn_packed_dv", Dv=4, mask=False)
    attention_layout("attn_separate", packed=False)
    attention_layout("attn_packed_symbolic", symbolic=True)
    # the Split stays (an output of it is a graph output); nothing is
    # rewritten when a head Transpose is read elsewhere, when the Reshape
    # mixes batch and sequence, or when the output is not [B, S, H*Dv]
    attention_layout("attn_split_output", extra_outputs=["k"])
    attention_layout("attn_head_read_twice", extra_outputs=["qh"])
    attention_layout("attn_reshape_mixes", B=2, S=6, lead=(6, 2), packed=False, mask=False)
    attention_layout("attn_out_flat", out_shape=[12, 16])
    # score rows tiled (300 x 300 scores), batch dims broadcast; float64 is
    # left alone (the kernel computes in float32)
    attention("attn_long", q_shape=[1, 2, 300, 16], k_shape=[1, 2, 300, 16], v_shape=[1, 2, 300, 16],
              mask=[1, 1, 300, 300])
    attention("attn_broadcast", q_shape=[B, H, S, D], k_shape=[1, H, S, D], v_shape=[B, 1, S, 3],
              mask=[1, H, S, 1])
    attention_f64("attn_float64")
    # not fused: a Where mask, scores read elsewhere, a mask that grows the scores
    attention("attn_where_mask", q_shape=[B, H, S, D], k_shape=[B, H, S, D], v_shape=[B, H, S, D],
              mask=[B, 1, 1, S], mask_kind="where")
    attention("attn_scores_output", q_shape=[B, H, S, D], k_shape=[B, H, S, D], v_shape=[B, H, S, D],
              extra_outputs=["scaled"])
    attention("attn_mask_grows", q_shape=[B, 1, S, D], k_shape=[B, 1, S, D], v_shape=[B, 3, S, D],
              mask=[B, 3, S, S])


# ---------------- residual Add into FusedMatMul ----------------

def matmul_residual(name, *, x_shape=(2, 5, 16), n_out=16, bias=True, act=None, act_first=False,
                    r_shape=None, b_input=None, extra_outputs=()):
    """y = [act](MatMul(x, W) [+ bias] + r) (or act before the residual
    when act_first); b_input: B as a graph input of that shape instead of
    a constant W."""
    T = helper.make_node
    k = x_shape[-1]
    inits = [numpy_helper.from_array(rng.standard_normal((n_out,)).astype(np.float32), "bias")]
    ins = [vi("x", list(x_shape))]
    if b_input:
        ins.append(vi("w", list(b_input)))
    else:
        inits.append(numpy_helper.from_array((rng.standard_normal((k, n_out)) / 4).astype(np.float32), "w"))
    out_shape = list(x_shape[:-1]) + [n_out]
    ins.append(vi("r", list(r_shape or out_shape)))
    n = [T("MatMul", ["x", "w"], ["mm"])]
    last = "mm"
    if bias:
        n.append(T("Add", [last, "bias"], ["biased"]))
        last = "biased"
    if act and act_first:
        n.append(T(act, [last], ["act"]))
        last = "act"
    n.append(T("Add", ["r", last], ["res"]))
    last = "res"
    if act and not act_first:
        n.append(T(act, [last], ["act"]))
        last = "act"
    n.append(T("Identity", [last], ["y"]))
    save(name, n, ins, [vi("y", None)] + [vi(o, None) for o in extra_outputs], inits)


def bert_layer(name, *, B=2, S=6, H=2, D=8, ffn=32):
    """One BERT encoder layer as exporters write it: packed QKV projection
    split into heads, attention with an additive mask, output projection
    plus residual, LayerNorm (ReduceMean chain), GELU (erf) FFN plus
    residual, LayerNorm."""
    T = helper.make_node
    E = H * D
    w = lambda nm, *shape: numpy_helper.from_array((rng.standard_normal(shape) / math.sqrt(shape[0])).astype(np.float32), nm)
    b = lambda nm, n: numpy_helper.from_array((rng.standard_normal((n,)) * 0.1).astype(np.float32), nm)
    inits = [w("w_qkv", E, 3 * E), b("b_qkv", 3 * E), w("w_o", E, E), b("b_o", E), w("w_1", E, ffn),
             b("b_1", ffn), w("w_2", ffn, E), b("b_2", E), const("split", [E, E, E], np.int64),
             const("shape4", [0, 0, H, D], np.int64), const("shape3", [0, 0, E], np.int64),
             const("scale", math.sqrt(D)), const("eps", 1e-12), const("two", 2.0), const("one", 1.0),
             const("half", 0.5), const("sqrt2", math.sqrt(2.0))]
    n = [T("MatMul", ["x", "w_qkv"], ["qkv_mm"]), T("Add", ["qkv_mm", "b_qkv"], ["qkv"]),
         T("Split", ["qkv", "split"], ["q", "k", "v"], axis=2)]
    for t in ("q", "k", "v"):
        n.append(T("Reshape", [t, "shape4"], [t + "4"]))
    n += [T("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]), T("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
          T("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3]), T("MatMul", ["qh", "kt"], ["qk"]),
          T("Div", ["qk", "scale"], ["scaled"]), T("Add", ["scaled", "mask"], ["masked"]),
          T("Softmax", ["masked"], ["p"], axis=-1), T("MatMul", ["p", "vh"], ["ctx"]),
          T("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]), T("Reshape", ["ctx_t", "shape3"], ["ctx3"]),
          T("MatMul", ["ctx3", "w_o"], ["o_mm"]), T("Add", ["o_mm", "b_o"], ["o"]), T("Add", ["o", "x"], ["r1"])]

    def ln(x, out):
        p = out + "_"
        return [T("ReduceMean", [x], [p + "mean"], axes=[-1]), T("Sub", [x, p + "mean"], [p + "d"]),
                T("Pow", [p + "d", "two"], [p + "sq"]), T("ReduceMean", [p + "sq"], [p + "var"], axes=[-1]),
                T("Add", [p + "var", "eps"], [p + "ve"]), T("Sqrt", [p + "ve"], [p + "sd"]),
                T("Div", [p + "d", p + "sd"], [out])]

    n += ln("r1", "h1")
    n += [T("MatMul", ["h1", "w_1"], ["f_mm"]), T("Add", ["f_mm", "b_1"], ["f"]),
          T("Div", ["f", "sqrt2"], ["f_s"]), T("Erf", ["f_s"], ["f_e"]), T("Add", ["f_e", "one"], ["f_a"]),
          T("Mul", ["f", "f_a"], ["f_m"]), T("Mul", ["f_m", "half"], ["g"]),
          T("MatMul", ["g", "w_2"], ["f2_mm"]), T("Add", ["f2_mm", "b_2"], ["f2"]), T("Add", ["h1", "f2"], ["r2"])]
    n += ln("r2", "y")
    save(name, n, [vi("x", [B, S, E]), vi("mask", [B, 1, 1, S])], [vi("y", None)], inits)


def gen_residual():
    matmul_residual("mm_residual")
    matmul_residual("mm_residual_nobias", bias=False)
    matmul_residual("mm_residual_relu", act="Relu")
    matmul_residual("mm_residual_few_rows", x_shape=(1, 2, 16), n_out=24)
    # B per batch (not a shared matrix): the kernel adds Z after the product
    matmul_residual("mm_residual_batched_tanh", bias=False, act="Tanh", b_input=(2, 16, 16))
    bert_layer("bert_layer")
    # not fused: the residual broadcasts, the sum before it is an output,
    # the activation comes before the residual
    matmul_residual("mm_residual_broadcast", r_shape=(5, 16))
    matmul_residual("mm_residual_mid_output", extra_outputs=["biased"])
    matmul_residual("mm_act_then_residual", act="Relu", act_first=True)


# ---------------- LayerNormalization into FusedMatMul ----------------

def matmul_layernorm(name, *, x_shape=(2, 5, 16), n_out=24, bias=True, residual=True, gemm=False, axis=-1,
                     ln_bias=True, extra_outputs=()):
    """y = LayerNormalization(MatMul(x, W) [+ bias] [+ r]) (ONNX's own op,
    opset 17); gemm: Gemm(x, W^T, transB=1) on a rank-2 x instead."""
    T = helper.make_node
    k = x_shape[-1]
    out_shape = list(x_shape[:-1]) + [n_out]
    w = (rng.standard_normal((k, n_out)) / math.sqrt(k)).astype(np.float32)
    inits = [numpy_helper.from_array(w.T.copy() if gemm else w, "w"),
             numpy_helper.from_array((rng.standard_normal((n_out,)) * 0.5).astype(np.float32), "bias"),
             numpy_helper.from_array((1 + rng.standard_normal(out_shape[axis:]) * 0.2).astype(np.float32), "gamma"),
             numpy_helper.from_array((rng.standard_normal(out_shape[axis:]) * 0.1).astype(np.float32), "beta")]
    ins = [vi("x", list(x_shape))]
    if gemm:
        n = [T("Gemm", ["x", "w", "bias"] if bias else ["x", "w"], ["mm"], transB=1)]
    else:
        n = [T("MatMul", ["x", "w"], ["mm"])]
        if bias:
            n.append(T("Add", ["mm", "bias"], ["biased"]))
    last = "biased" if bias and not gemm else "mm"
    if residual:
        ins.append(vi("r", out_shape))
        n.append(T("Add", [last, "r"], ["res"]))
        last = "res"
    n.append(T("LayerNormalization", [last, "gamma", "beta"] if ln_bias else [last, "gamma"], ["y"],
               axis=axis, epsilon=1e-3))
    save(name, n, ins, [vi("y", None)] + [vi(o, None) for o in extra_outputs], inits, opset=17)


def gen_matmul_layernorm():
    matmul_layernorm("mm_ln")
    # 37 rows, enough work for two threads: row tasks of whole 8-row
    # tiles, the last one partial, each normalising its own rows
    matmul_layernorm("mm_ln_rows", x_shape=(37, 96), n_out=320)
    matmul_layernorm("mm_ln_no_residual", x_shape=(3, 12, 32), n_out=48, residual=False, ln_bias=False)
    matmul_layernorm("mm_ln_few_rows", x_shape=(1, 2, 16))
    matmul_layernorm("mm_ln_gemm_trans", x_shape=(6, 20), n_out=12, gemm=True)
    # not fused: normalised over more than the last axis; the sum it
    # normalises is also an output
    matmul_layernorm("mm_ln_two_axes", axis=-2)
    matmul_layernorm("mm_ln_sum_output", extra_outputs=["res"])


# ---------------- Transpose / Reshape ----------------

def chain(name, nodes, x_shape, inits=(), outputs=("y",)):
    save(name, nodes, [vi("x", x_shape)], [vi(o, None) for o in outputs], inits)


def gen_transpose_reshape():
    T = helper.make_node
    i64 = lambda n, v: const(n, v, np.int64)
    chain("tt_identity", [T("Transpose", ["x"], ["a"], perm=[0, 2, 1, 3]),
                          T("Transpose", ["a"], ["b"], perm=[0, 2, 1, 3]),
                          T("Relu", ["b"], ["y"])], [2, 3, 4, 5])
    chain("tt_merge", [T("Transpose", ["x"], ["a"], perm=[0, 2, 1, 3]),
                       T("Transpose", ["a"], ["b"], perm=[0, 1, 3, 2]),
                       T("Relu", ["b"], ["y"])], [2, 3, 4, 5])
    chain("tt_default_perm", [T("Transpose", ["x"], ["a"]), T("Transpose", ["a"], ["b"]),
                              T("Relu", ["b"], ["y"])], [2, 3, 4])
    chain("tt_shared", [T("Transpose", ["x"], ["a"], perm=[1, 0, 2]),
                        T("Transpose", ["a"], ["b"], perm=[1, 0, 2]),
                        T("Relu", ["b"], ["y"]), T("Sigmoid", ["a"], ["z"])], [2, 3, 4], outputs=("y", "z"))
    chain("t_identity_output", [T("Relu", ["x"], ["a"]), T("Transpose", ["a"], ["y"], perm=[0, 1])], [3, 4])
    chain("rr_merge", [T("Reshape", ["x", "s1"], ["a"]), T("Reshape", ["a", "s2"], ["b"]),
                       T("Relu", ["b"], ["y"])], [2, 3, 4], [i64("s1", [2, 12]), i64("s2", [4, -1])])
    chain("rr_back_to_input", [T("Reshape", ["x", "s1"], ["a"]), T("Reshape", ["a", "s2"], ["b"]),
                               T("Relu", ["b"], ["y"])], [2, 3, 4], [i64("s1", [6, 4]), i64("s2", [2, 3, 4])])
    chain("rr_zero_kept", [T("Reshape", ["x", "s1"], ["a"]), T("Reshape", ["a", "s2"], ["b"]),
                           T("Relu", ["b"], ["y"])], [2, 3, 4], [i64("s1", [6, 4]), i64("s2", [0, 2, 2])])
    chain("rr_dynamic", [T("Reshape", ["x", "s1"], ["a"]), T("Reshape", ["a", "s2"], ["b"]),
                         T("Relu", ["b"], ["y"])], ["n", 6], [i64("s1", [-1, 3, 2]), i64("s2", [-1, 2])])
    chain("reshape_same", [T("Reshape", ["x", "s1"], ["a"]), T("Relu", ["a"], ["y"])], [2, 3, 4],
          [i64("s1", [2, 3, 4])])
    chain("unsqueeze_squeeze", [T("Unsqueeze", ["x", "ax"], ["a"]), T("Squeeze", ["a", "ax"], ["b"]),
                                T("Relu", ["b"], ["y"])], ["n", 4], [i64("ax", [-1])])
    chain("squeeze_unsqueeze", [T("Squeeze", ["x", "ax"], ["a"]), T("Unsqueeze", ["a", "ax"], ["b"]),
                                T("Relu", ["b"], ["y"])], ["n", 1, 4], [i64("ax", [1])])
    chain("unsqueeze_squeeze_other_axis", [T("Unsqueeze", ["x", "a1"], ["a"]), T("Squeeze", ["a", "a2"], ["b"]),
                                           T("Relu", ["b"], ["y"])], [1, 4], [i64("a1", [2]), i64("a2", [0])])
    chain("unsqueeze_squeeze_output", [T("Relu", ["x"], ["r"]), T("Unsqueeze", ["r", "ax"], ["a"]),
                                       T("Squeeze", ["a", "ax"], ["y"])], [3, 4], [i64("ax", [0])])


if __name__ == "__main__":
    gen_layernorm()
    gen_gelu()
    gen_attention()
    gen_residual()
    gen_transpose_reshape()
    gen_matmul_layernorm()
    print("wrote", len([f for f in os.listdir(HERE) if f.endswith(".onnx")]), "models to", HERE)
