#!/usr/bin/python3
"""CPU benchmark: fwd against ONNX Runtime on ResNet-50 and BERT-base.

    /usr/bin/python3 bench/cpu/bench_cpu.py [--fwd build/bin/fwd_bench] [--threads N]
        [--warmup W] [--iters N] [--repeats R] [--only resnet50,bert_base]
        [--cache DIR] [--record bench/RESULTS.md]

Exports the models once (cached, by default beside the build directory),
checks that fwd's outputs match ONNX Runtime's (when the fwd CLI sits beside
fwd_bench), then times both engines with the same thread count: ORT with
intra_op_num_threads=N, inter_op_num_threads=1, sequential execution and
its default graph optimisations; fwd_bench with FWD_NUM_THREADS=N. Each
engine runs W warmup and N timed runs, R times in alternation; the figure
is the median of the R per-round medians. Prints a table with the ratio
ORT time / fwd time (above 1: fwd is faster).
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


class Bench:
    """One benchmark model: how to build it, its inputs, and fwd_bench flags."""

    def __init__(self, name, build, inputs, input_names, output_names, bench_args):
        self.name = name
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
          ["input"], ["logits"], ["--shape", "input:1x3x224x224"]),
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


def time_fwd(fwd_bench, path, b, threads, warmup, iters):
    """The median latency (ms) of one fwd_bench process."""
    env = dict(os.environ, FWD_NUM_THREADS=str(threads))
    cmd = [fwd_bench, path, "--warmup", str(warmup), "--iters", str(iters)] + b.bench_args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"fwd_bench failed (exit {p.returncode}): {p.stdout.strip()}")
    for line in p.stdout.splitlines():
        if line.startswith("median:"):
            return float(line.split()[1])
    raise RuntimeError(f"no median in fwd_bench output: {p.stdout.strip()}")


def check_fwd(fwd_cli, path, b, sess, feeds, workdir):
    """Run the fwd CLI once and compare with ORT; returns a problem or ""."""
    refs = sess.run(None, feeds)
    in_dir, ref_dir = os.path.join(workdir, "in"), os.path.join(workdir, "ref")
    os.makedirs(in_dir, exist_ok=True)
    os.makedirs(ref_dir, exist_ok=True)
    for n, a in feeds.items():
        np.save(os.path.join(in_dir, n + ".npy"), a)
    atol = min(1e-4 * max(1.0, float(np.max(np.abs(r)))) for r in refs)
    for o, r in zip(sess.get_outputs(), refs):
        np.save(os.path.join(ref_dir, o.name + ".npy"), r)
    p = subprocess.run([fwd_cli, "run", path, "--inputs", in_dir, "--compare", ref_dir,
                        "--rtol", "0", "--atol", f"{atol:g}"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
        return f"fwd output check failed (exit {p.returncode}): " + " | ".join(lines[-4:])
    return ""


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


def main():
    ap = argparse.ArgumentParser(description="fwd vs ONNX Runtime on CPU")
    ap.add_argument("--fwd", default=os.path.join(ROOT, "build", "bin", "fwd_bench"),
                    help="the fwd_bench binary")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated: " +
                    ",".join(b.name for b in BENCHES))
    ap.add_argument("--cache", default="", help="where exported models go "
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
    rows, problems = [], []
    for b in benches:
        path = os.path.join(cache, b.name + ".onnx")
        export(b, path)
        sess = ort_session(path, args.threads)
        feeds = dict(zip(b.input_names, b.inputs(np.random.default_rng(1))))
        fwd_cli = os.path.join(os.path.dirname(fwd_bench), "fwd")
        note = ""
        if not args.no_check and os.access(fwd_cli, os.X_OK):
            note = check_fwd(fwd_cli, path, b, sess, feeds, os.path.join(cache, b.name + "_io"))
        ort_t, fwd_t = [], []
        fwd_err = ""
        for _ in range(args.repeats):
            ort_t.append(time_ort(sess, feeds, args.warmup, args.iters))
            if not fwd_err:
                try:
                    fwd_t.append(time_fwd(fwd_bench, path, b, args.threads, args.warmup,
                                          args.iters))
                except RuntimeError as ex:
                    fwd_err = str(ex)
        ort_med = statistics.median(ort_t)
        fwd_med = statistics.median(fwd_t) if fwd_t else None
        rows.append((b.name, ort_med, fwd_med))
        if fwd_err:
            problems.append(f"{b.name}: {fwd_err}")
        if note:
            problems.append(f"{b.name}: {note}")
        print(f"{b.name}: ORT {ort_med:.2f} ms, fwd "
              f"{'%.2f ms' % fwd_med if fwd_med else 'failed'}", file=sys.stderr, flush=True)

    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    # Other processes skew timings; the load average says how busy it was.
    lines = [
        f"- date: {date}",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores visible; threads used: {args.threads}; "
        f"load average after the run: {load_average()}",
        f"- ONNX Runtime {onnxruntime.__version__} (CPUExecutionProvider, sequential, "
        f"inter_op 1, default graph optimisations); fwd with FWD_NUM_THREADS={args.threads}",
        f"- {args.repeats} x ({args.warmup} warmup + {args.iters} timed) runs per engine, "
        f"median of the per-round median latencies",
        f"- command: `{command}`",
        "",
        "| model | ORT median (ms) | fwd median (ms) | ORT / fwd |",
        "|---|---:|---:|---:|",
    ]
    for name, o, f in rows:
        fs = f"{f:.2f}" if f else "failed"
        ratio = f"{o / f:.2f}" if f else "-"
        lines.append(f"| {name} | {o:.2f} | {fs} | {ratio} |")
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
