#!/usr/bin/python3
"""CPU benchmark: fwd against ONNX Runtime on ResNet-50 and BERT-base.

    /usr/bin/python3 bench/cpu/bench_cpu.py [--fwd build/bin/fwd_bench] [--threads N]
        [--warmup W] [--iters N] [--repeats R] [--only resnet50,bert_base]
        [--cache DIR] [--record bench/RESULTS.md]

Exports the models once (cached, by default beside the build directory),
checks that fwd's outputs at optimization levels 0 and 1 match ONNX
Runtime's (when the fwd CLI sits beside fwd_bench), then times three
engines with the same thread count: ORT with intra_op_num_threads=N,
inter_op_num_threads=1, sequential execution and its default graph
optimisations; fwd_bench --opt-level 0 (the graph as imported, no memory
plan) and --opt-level 1 (passes and memory plan, the default), with
FWD_NUM_THREADS=N. Each round runs the three in turn (W warmup and N timed
runs each), so load changes on a shared machine hit all alike; a figure is
the median of the R per-round medians. For ResNet-50 the -O1 engine is also
saved to a file and loaded 20 times (median load time), and the planned
activation memory is compared with the unplanned sum. Prints a table (ORT
ms, -O0 ms, -O1 ms, -O1/-O0 speed-up, ORT/-O1 relative speed, memory,
load time) and whether issue 3's targets are met.

The hardware limit: each round also measures the FMA peak on the same N
threads (fwd_bench --fma-peak), and the model's matrix products (MatMul,
Gemm, Conv, counted as the direct algorithm computes them, from ONNX shape
inference) give the time they would take at that peak. A second table
holds that bound, how close -O1 comes to it, and -O0 over the bound: the
largest -O1/-O0 speed-up an -O1 running at the bound could show.
"""
import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "zoo"))

BERT_VOCAB = 30522
BERT_SEQ = 128
OPT_LEVELS = (0, 1)


class Bench:
    """One benchmark model: how to build it, its inputs, and fwd_bench flags."""

    def __init__(self, name, build, inputs, input_names, output_names, bench_args,
                 engine_file=False):
        self.name = name
        self.engine_file = engine_file  # save, time loads and report memory
        self.build = build
        self.inputs = inputs
        self.input_names = input_names
        self.output_names = output_names
        self.bench_args = bench_args


def _resnet50():
    import torch
    import torchvision.models as tvm
    import models
    torch.manual_seed(0)
    return models.randomize_norm_stats(tvm.resnet50(), 0).eval()


def _bert_base():
    import torch
    import models
    torch.manual_seed(0)
    return models.BertEncoder(vocab=BERT_VOCAB, hidden=768, layers=12, heads=12, ffn=3072).eval()


def _bert_inputs(rng):
    ids = rng.integers(0, BERT_VOCAB, size=(1, BERT_SEQ), dtype=np.int64)
    return ids, np.ones((1, BERT_SEQ), np.int64), np.zeros((1, BERT_SEQ), np.int64)


BENCHES = [
    Bench("resnet50", _resnet50,
          lambda rng: (rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32),),
          ["input"], ["logits"], ["--shape", "input:1x3x224x224"], engine_file=True),
    Bench("bert_base", _bert_base, _bert_inputs,
          ["input_ids", "attention_mask", "token_type_ids"],
          ["last_hidden_state", "pooler_output"],
          ["--shape", f"input_ids:1x{BERT_SEQ}", "--shape", f"attention_mask:1x{BERT_SEQ}",
           "--shape", f"token_type_ids:1x{BERT_SEQ}", "--fill", f"input_ids:0:{BERT_VOCAB - 1}",
           "--fill", "attention_mask:1:1", "--fill", "token_type_ids:0:1"]),
]


def export(b, path):
    import torch
    import models
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print(f"exporting {b.name} to {path} ...", file=sys.stderr, flush=True)
    model = b.build()
    tensors = tuple(torch.from_numpy(a) for a in b.inputs(np.random.default_rng(0)))
    dyn = {n: {0: "batch"} for n in b.input_names + b.output_names}
    tmp = path + ".tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tensors, tmp, opset_version=models.OPSET,
                          input_names=b.input_names, output_names=b.output_names,
                          dynamic_axes=dyn, do_constant_folding=True)
    os.replace(tmp, path)


def bench_shapes(b):
    """The input shapes the benchmark runs (its --shape arguments)."""
    shapes = {}
    for flag, arg in zip(b.bench_args, b.bench_args[1:]):
        if flag == "--shape":
            name, dims = arg.rsplit(":", 1)
            shapes[name] = [int(d) for d in dims.split("x")]
    return shapes


def product_flops(path, shapes):
    """FLOPs of one run's MatMul, Gemm and Conv nodes as the direct
    algorithm computes them (a multiply-add is two), from ONNX shape
    inference at the given input shapes; None if a shape stays unknown."""
    import onnx
    from onnx import shape_inference
    m = onnx.load(path)
    for i in m.graph.input:
        if i.name in shapes:
            dims = i.type.tensor_type.shape.dim
            for d, v in zip(dims, shapes[i.name]):
                d.ClearField("dim_param")
                d.dim_value = v
    m = shape_inference.infer_shapes(m, data_prop=True)
    known = {t.name: list(t.dims) for t in m.graph.initializer}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        known[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                          for d in vi.type.tensor_type.shape.dim]
    total = 0
    for n in m.graph.node:
        if n.op_type not in ("MatMul", "Gemm", "Conv"):
            continue
        a, w, y = (known.get(n.input[0]), known.get(n.input[1]), known.get(n.output[0]))
        if not a or not w or y is None or None in a + w + y:
            return None
        if n.op_type == "MatMul":
            depth = a[-1]
        elif n.op_type == "Gemm":
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            depth = a[0] if trans_a else a[1]
        else:  # Conv: W is [Cout, Cin / group, kernel...]
            depth = int(np.prod(w[1:]))
        total += 2 * int(np.prod(y)) * depth
    return total


def fma_peak(fwd_bench, threads):
    """The FMA peak (GFLOP/s) on threads threads, or None."""
    env = dict(os.environ, FWD_NUM_THREADS=str(threads))
    p = subprocess.run([fwd_bench, "--fma-peak"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=env)
    for line in p.stdout.splitlines():
        if p.returncode == 0 and line.startswith("fma peak:"):
            return float(line.split()[2])
    return None


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_ort(sess, feeds, warmup, iters):
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_fwd(fwd_bench, path, b, threads, warmup, iters, opt_level, save_engine=""):
    """One fwd_bench process: its median latency (ms) and its report lines
    (engine summary as a dict under "engine", engine load median ms under
    "load_ms" when save_engine is given)."""
    env = dict(os.environ, FWD_NUM_THREADS=str(threads))
    cmd = [fwd_bench, path, "--warmup", str(warmup), "--iters", str(iters),
           "--opt-level", str(opt_level)] + b.bench_args
    if save_engine:
        cmd += ["--save-engine", save_engine]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"fwd_bench -O{opt_level} failed (exit {p.returncode}): {p.stdout.strip()}")
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("median:"):
            out["median"] = float(line.split()[1])
        elif line.startswith("engine:"):
            out["engine"] = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        elif line.startswith("engine load:"):
            out["load_ms"] = float(line.split()[3])
    if "median" not in out:
        raise RuntimeError(f"no median in fwd_bench output: {p.stdout.strip()}")
    return out


def check_fwd(fwd_cli, path, b, sess, feeds, workdir):
    """Run the fwd CLI at optimization levels 0 and 1 and compare each with
    ORT; returns the problems found (empty: both match)."""
    refs = sess.run(None, feeds)
    in_dir, ref_dir = os.path.join(workdir, "in"), os.path.join(workdir, "ref")
    os.makedirs(in_dir, exist_ok=True)
    os.makedirs(ref_dir, exist_ok=True)
    for n, a in feeds.items():
        np.save(os.path.join(in_dir, n + ".npy"), a)
    atol = min(1e-4 * max(1.0, float(np.max(np.abs(r)))) for r in refs)
    for o, r in zip(sess.get_outputs(), refs):
        np.save(os.path.join(ref_dir, o.name + ".npy"), r)
    problems = []
    for level in OPT_LEVELS:
        p = subprocess.run([fwd_cli, "run", path, "--opt-level", str(level), "--inputs", in_dir,
                            "--compare", ref_dir, "--rtol", "0", "--atol", f"{atol:g}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
            problems.append(f"fwd -O{level} output check failed (exit {p.returncode}): "
                            + " | ".join(lines[-4:]))
    return problems


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average():
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


# Issue 3's targets, checked on every run.
TARGET_O1_OVER_O0 = 1.5    # fwd -O1 at least this much faster than -O0
TARGET_ORT_OVER_O1 = 1.0   # fwd -O1 at least as fast as ORT
TARGET_ACT_RATIO = 0.40    # ResNet-50 planned activations / unplanned sum
TARGET_LOAD_MS = 50.0      # ResNet-50 engine file load, median


def fmt(x, spec=".2f", none="-"):
    return none if x is None else format(x, spec)


def run_bench(b, args, fwd_bench, cache, problems):
    """Time ORT, fwd -O0 and fwd -O1 on one model in alternating rounds;
    returns the row of figures."""
    path = os.path.join(cache, b.name + ".onnx")
    export(b, path)
    sess = ort_session(path, args.threads)
    feeds = dict(zip(b.input_names, b.inputs(np.random.default_rng(1))))
    fwd_cli = os.path.join(os.path.dirname(fwd_bench), "fwd")
    if not args.no_check and os.access(fwd_cli, os.X_OK):
        problems += [f"{b.name}: {p}" for p in
                     check_fwd(fwd_cli, path, b, sess, feeds, os.path.join(cache, b.name + "_io"))]
    engine_file = os.path.join(cache, b.name + ".fwdengine") if b.engine_file else ""
    ort_t, fwd_t, loads, peaks = [], {lv: [] for lv in OPT_LEVELS}, [], []
    summary = {}
    failed = set()
    # one round = the FMA peak, ORT, then each fwd level, so load changes
    # hit all alike
    for _ in range(args.repeats):
        pk = fma_peak(fwd_bench, args.threads)
        if pk:
            peaks.append(pk)
        ort_t.append(time_ort(sess, feeds, args.warmup, args.iters))
        for lv in OPT_LEVELS:
            if lv in failed:
                continue
            try:
                r = time_fwd(fwd_bench, path, b, args.threads, args.warmup, args.iters, lv,
                             engine_file if lv == 1 else "")
            except RuntimeError as ex:
                failed.add(lv)
                problems.append(f"{b.name}: {ex}")
                continue
            fwd_t[lv].append(r["median"])
            summary[lv] = r.get("engine", {})
            if "load_ms" in r:
                loads.append(r["load_ms"])
    med = {lv: statistics.median(t) if t else None for lv, t in fwd_t.items()}
    flops = product_flops(path, bench_shapes(b))
    peak = statistics.median(peaks) if peaks else None
    o1 = summary.get(1, {})
    act, unpl = int(o1.get("activation_bytes", 0)), int(o1.get("unplanned_bytes", 0))
    row = {
        "name": b.name,
        "ort": statistics.median(ort_t),
        "o0": med[0],
        "o1": med[1],
        "layers0": summary.get(0, {}).get("layers"),
        "layers1": o1.get("layers"),
        "fused1": o1.get("fused"),
        "act_ratio": act / unpl if unpl else None,
        "act_mb": act / 2**20 if unpl else None,
        "unpl_mb": unpl / 2**20 if unpl else None,
        "load_ms": statistics.median(loads) if loads else None,
        "engine_file": b.engine_file,
        "gflop": flops * 1e-9 if flops else None,
        "peak": peak,
        "bound_ms": flops * 1e-6 / peak if flops and peak else None,
        "rounds": f"ORT {'/'.join(f'{t:.1f}' for t in ort_t)}; "
                  + "; ".join(f"-O{lv} {'/'.join(f'{t:.1f}' for t in fwd_t[lv])}" for lv in OPT_LEVELS)
                  + f"; FMA peak {'/'.join(f'{p:.0f}' for p in peaks)} GFLOP/s",
    }
    print(f"{b.name}: ORT {row['ort']:.2f} ms, fwd -O0 {fmt(row['o0'])} ms, "
          f"fwd -O1 {fmt(row['o1'])} ms", file=sys.stderr, flush=True)
    return row


def target_lines(rows):
    """One line per issue-3 target: the figure and whether it is met."""
    out = []

    def add(what, value, ok):
        out.append(f"- {what}: {value} -- {'met' if ok else 'NOT met'}")

    for r in rows:
        if r["o0"] and r["o1"]:
            s = r["o0"] / r["o1"]
            add(f"{r['name']} -O1 speed-up over -O0 >= {TARGET_O1_OVER_O0}", f"{s:.2f}x",
                s >= TARGET_O1_OVER_O0)
        if r["o1"]:
            s = r["ort"] / r["o1"]
            add(f"{r['name']} -O1 speed vs ORT >= {TARGET_ORT_OVER_O1}", f"{s:.2f}x",
                s >= TARGET_ORT_OVER_O1)
        if r["engine_file"]:
            if r["act_ratio"] is not None:
                add(f"{r['name']} activation memory / unplanned <= {TARGET_ACT_RATIO:.0%}",
                    f"{r['act_ratio']:.1%} ({r['act_mb']:.1f} of {r['unpl_mb']:.1f} MiB)",
                    r["act_ratio"] <= TARGET_ACT_RATIO)
            if r["load_ms"] is not None:
                add(f"{r['name']} engine file load (median) <= {TARGET_LOAD_MS:.0f} ms",
                    f"{r['load_ms']:.2f} ms", r["load_ms"] <= TARGET_LOAD_MS)
    return out


def main():
    ap = argparse.ArgumentParser(description="fwd (-O0 and -O1) vs ONNX Runtime on CPU")
    ap.add_argument("--fwd", default=os.path.join(ROOT, "build", "bin", "fwd_bench"),
                    help="the fwd_bench binary")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated: " +
                    ",".join(b.name for b in BENCHES))
    ap.add_argument("--cache", default="", help="where exported models and engine files go "
                    "(default: bench_models beside the fwd_bench's build directory)")
    ap.add_argument("--no-check", action="store_true", help="skip the output check")
    ap.add_argument("--record", default="", help="append the results to this markdown file")
    args = ap.parse_args()

    if not os.access(args.fwd, os.X_OK):
        print(f"fwd_bench not found: {args.fwd} (build it or pass --fwd)", file=sys.stderr)
        return 2
    fwd_bench = os.path.abspath(args.fwd)
    cache = args.cache or os.path.join(os.path.dirname(os.path.dirname(fwd_bench)), "bench_models")
    benches = BENCHES
    if args.only:
        wanted = set(args.only.split(","))
        benches = [b for b in BENCHES if b.name in wanted]
        if len(benches) != len(wanted):
            print(f"unknown benchmark in --only; known: {', '.join(b.name for b in BENCHES)}",
                  file=sys.stderr)
            return 2

    import onnxruntime
    command = "/usr/bin/python3 " + " ".join(shlex.quote(a) for a in sys.argv)
    load_before = load_average()
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    problems = []
    rows = [run_bench(b, args, fwd_bench, cache, problems) for b in benches]

    # Other processes skew timings; the load average says how busy it was.
    lines = [
        f"- date: {date}",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores visible; threads used: {args.threads}; "
        f"load average before: {load_before}, after: {load_average()}",
        f"- ONNX Runtime {onnxruntime.__version__} (CPUExecutionProvider, sequential, "
        f"inter_op 1, default graph optimisations); fwd with FWD_NUM_THREADS={args.threads}, "
        f"built at optimization level 0 (no passes, no memory plan) and 1 (default)",
        f"- {args.repeats} rounds of ORT, fwd -O0, fwd -O1 in turn, each ({args.warmup} warmup + "
        f"{args.iters} timed) runs; figure: median of the per-round median latencies",
        "- engine load: -O1 engine saved with `fwd_bench --save-engine`, median of 20 "
        "`fwd_engine_load` calls (warm file cache), median over the rounds; that round's -O1 "
        "runs use the loaded engine",
        f"- command: `{command}`",
        "",
        "| model | ORT (ms) | fwd -O0 (ms) | fwd -O1 (ms) | -O1 speed-up over -O0 | "
        "-O1 speed vs ORT | layers -O0 / -O1 (fused) | activations / unplanned | engine load (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        sp = r["o0"] / r["o1"] if r["o0"] and r["o1"] else None
        rel = r["ort"] / r["o1"] if r["o1"] else None
        layers = f"{r['layers0'] or '-'} / {r['layers1'] or '-'} ({r['fused1'] or '-'})"
        mem = (f"{r['act_ratio']:.1%} ({r['act_mb']:.1f} / {r['unpl_mb']:.1f} MiB)"
               if r["act_ratio"] is not None else "-")
        lines.append(f"| {r['name']} | {r['ort']:.2f} | {fmt(r['o0'], '.2f', 'failed')} | "
                     f"{fmt(r['o1'], '.2f', 'failed')} | {fmt(sp)} | {fmt(rel)} | {layers} | "
                     f"{mem} | {fmt(r['load_ms'])} |")
    lines += ["", "Against the hardware limit: the matrix products' FLOPs (MatMul, Gemm, Conv "
              "as the direct algorithm computes them; Winograd convolutions do fewer, so -O1 "
              "can beat the bound) at the FMA peak measured in each round (median); -O0 / bound "
              "is the largest -O1/-O0 speed-up an -O1 running at the bound could show:", "",
              "| model | products (GFLOP) | FMA peak (GFLOP/s) | bound (ms) | bound / -O1 | "
              "-O0 / bound |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = r["bound_ms"]
        lines.append(f"| {r['name']} | {fmt(r['gflop'])} | {fmt(r['peak'], '.1f')} | {fmt(b)} | "
                     f"{fmt(b / r['o1'] if b and r['o1'] else None, '.1%')} | "
                     f"{fmt(r['o0'] / b if b and r['o0'] else None)} |")
    lines += ["", "Per-round medians (ms):", ""] + [f"- {r['name']}: {r['rounds']}" for r in rows]
    lines += ["", "Issue-3 targets:", ""] + target_lines(rows)
    if problems:
        lines += [""] + [f"- problem: {p}" for p in problems]
    text = "\n".join(lines)
    print(text)
    if args.record:
        with open(args.record, "a") as fh:
            fh.write(f"\n## {date}\n\n{text}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
