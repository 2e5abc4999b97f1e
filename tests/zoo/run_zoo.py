#!/usr/bin/python3
"""Model zoo test: run PyTorch-exported models in fwd, compare with ONNX Runtime.

    /usr/bin/python3 tests/zoo/run_zoo.py [--fwd build/bin/fwd] [--only NAME[,NAME]]
                                          [--cache tests/zoo/models] [--list]
                                          [--mode float32|float16]

For each model of models.zoo(): export it to ONNX (cached in CACHE/NAME/,
re-exported when missing or when models.py changed), make seeded inputs,
compute references with ONNX Runtime (CPU), then run
`fwd run model.onnx --inputs in --outputs out` and check every output:
max |fwd - ort| <= 1e-4 * max(1, max |ort|). The PyTorch output is checked
against ORT loosely, as a sanity check of the export. With --mode float16 the
engine is built in float16 mode (`fwd run --mode float16`, outputs written to
CACHE/NAME/out_float16) and the tolerance is 2e-2 * max(1, max |ort|).

Prints `PASS name (max diff ...)` or `FAIL name: reason` per model and
closes with `N passed, M failed`; exits 1 on any failure.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

REL_TOL = 1e-4        # fwd vs ORT, relative to max(1, max|reference|)
MODE_REL_TOL = {"float32": REL_TOL, "float16": 2e-2}
EXPORT_REL_TOL = 1e-3  # torch vs ORT, the export sanity check
FWD_TIMEOUT_S = 300


def safe_name(name):
    """File name fwd uses for a tensor name (mirrors tools/fwd.c)."""
    return "".join("_" if c in "/\\: " else c for c in name)


def spec_hash():
    """Changes whenever the model definitions or the tool versions change."""
    import onnx
    import onnxruntime
    import torch
    h = hashlib.sha256()
    for f in ("models.py", "run_zoo.py"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    h.update(f"{torch.__version__} {onnx.__version__} {onnxruntime.__version__}".encode())
    return h.hexdigest()[:16]


def ort_session(path, threads=0):
    import onnxruntime as ort
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def export(entry, mdir, stamp):
    """Export entry to mdir/model.onnx, with inputs and ORT references.

    Returns a note on the torch-vs-ORT sanity check ("" when fine)."""
    import torch
    import models

    if os.path.isdir(mdir):
        shutil.rmtree(mdir)
    os.makedirs(os.path.join(mdir, "in"))
    os.makedirs(os.path.join(mdir, "ref"))
    tmp = os.path.join(mdir, "model.onnx.tmp")

    model = entry.build()
    rng = np.random.default_rng(1234)
    arrays = entry.inputs(rng)
    tensors = tuple(torch.from_numpy(a) for a in arrays)
    trace = tuple(torch.from_numpy(a) for a in entry.inputs(np.random.default_rng(99), trace=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch_out = model(*tensors)
        # Exported with autograd on: in no_grad mode torch 1.13 routes
        # nn.MultiheadAttention to a fused op the exporter does not know.
        torch.onnx.export(model, trace, tmp, opset_version=models.OPSET,
                          input_names=entry.input_names, output_names=entry.output_names,
                          dynamic_axes=entry.dynamic_axes, do_constant_folding=True)
    if isinstance(torch_out, torch.Tensor):
        torch_out = (torch_out,)

    sess = ort_session(tmp)
    feeds = {n: a for n, a in zip(entry.input_names, arrays)}
    # Some inputs may be folded away by the exporter; feed only what is left.
    graph_inputs = [i.name for i in sess.get_inputs()]
    refs = sess.run(None, {n: feeds[n] for n in graph_inputs})
    out_names = [o.name for o in sess.get_outputs()]

    for n in graph_inputs:
        np.save(os.path.join(mdir, "in", safe_name(n) + ".npy"), feeds[n])
    for n, r in zip(out_names, refs):
        np.save(os.path.join(mdir, "ref", safe_name(n) + ".npy"), r)

    note = ""
    for n, r in zip(out_names, refs):
        # A constant output (e.g. a zero-initialised head) would test nothing.
        if r.size > 1 and float(np.ptp(r)) == 0.0:
            note = f"degenerate reference: output '{n}' is constant ({r.flat[0]})"
    for n, t, r in zip(out_names, torch_out, refs):
        t = t.detach().numpy()
        if t.shape != r.shape:
            note = f"export sanity: torch shape {t.shape} vs ORT {r.shape} for '{n}'"
            break
        diff = float(np.max(np.abs(t.astype(np.float64) - r))) if r.size else 0.0
        if diff > EXPORT_REL_TOL * max(1.0, float(np.max(np.abs(r))) if r.size else 0.0):
            note = f"export sanity: torch vs ORT max diff {diff:.3g} on '{n}'"
            break
    meta = {"stamp": stamp, "outputs": out_names, "inputs": graph_inputs, "export_note": note}
    with open(os.path.join(mdir, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    os.replace(tmp, os.path.join(mdir, "model.onnx"))
    return note


def load_meta(mdir, stamp):
    try:
        with open(os.path.join(mdir, "meta.json")) as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return None
    if meta.get("stamp") != stamp or not os.path.exists(os.path.join(mdir, "model.onnx")):
        return None
    return meta


def last_lines(text, n=6):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def run_fwd(fwd, mdir, meta, mode="float32"):
    """Run fwd on the cached model; returns (ok, message)."""
    out_dir = os.path.join(mdir, "out" if mode == "float32" else "out_" + mode)
    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = [fwd, "run", os.path.join(mdir, "model.onnx"), "--inputs", os.path.join(mdir, "in"),
           "--outputs", out_dir]
    if mode != "float32":
        cmd += ["--mode", mode]
    rel_tol = MODE_REL_TOL[mode]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=FWD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"fwd timed out after {FWD_TIMEOUT_S} s"
    elapsed = time.time() - t0
    if p.returncode < 0:
        return False, f"fwd killed by signal {-p.returncode}: {last_lines(p.stdout)}"
    if p.returncode != 0:
        return False, f"fwd exit {p.returncode}: {last_lines(p.stdout)}"

    worst = 0.0
    for n in meta["outputs"]:
        ref = np.load(os.path.join(mdir, "ref", safe_name(n) + ".npy"))
        path = os.path.join(out_dir, safe_name(n) + ".npy")
        if not os.path.exists(path):
            return False, f"fwd wrote no output '{n}'"
        got = np.load(path)
        if got.dtype != ref.dtype or got.shape != ref.shape:
            return False, (f"output '{n}': got {got.dtype}{list(got.shape)}, "
                           f"expected {ref.dtype}{list(ref.shape)}")
        if ref.size == 0:
            continue
        g, r = got.astype(np.float64), ref.astype(np.float64)
        if np.isnan(g).any() and not np.isnan(r).any():
            return False, f"output '{n}': NaN at flat index {int(np.argmax(np.isnan(g)))}"
        diff = np.abs(g - r)
        idx = int(np.argmax(diff))
        d = float(diff.flat[idx])
        tol = rel_tol * max(1.0, float(np.max(np.abs(r))))
        if not d <= tol:
            return False, (f"output '{n}': max diff {d:.3g} > tol {tol:.3g} at flat index {idx} "
                           f"(got {g.flat[idx]:.7g}, expected {r.flat[idx]:.7g})")
        worst = max(worst, d / max(1.0, float(np.max(np.abs(r)))))
    return True, f"max diff {worst:.2g} relative, {elapsed:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--fwd", default=os.path.join(ROOT, "build", "bin", "fwd"))
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--cache", default=os.path.join(HERE, "models"))
    ap.add_argument("--list", action="store_true", help="list the model names and exit")
    ap.add_argument("--mode", default="float32", choices=sorted(MODE_REL_TOL),
                    help="engine infer mode (float16: tolerance 2e-2)")
    args = ap.parse_args()

    import models
    entries = models.zoo()
    if args.list:
        print("\n".join(e.name for e in entries))
        return 0
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = sorted(set(wanted) - {e.name for e in entries})
        if unknown:
            print(f"unknown model(s): {', '.join(unknown)}; known: "
                  f"{', '.join(e.name for e in entries)}", file=sys.stderr)
            return 2
        entries = [e for e in entries if e.name in wanted]
    if not os.access(args.fwd, os.X_OK):
        print(f"fwd binary not found: {args.fwd} (build it or pass --fwd)", file=sys.stderr)
        return 2
    fwd = os.path.abspath(args.fwd)

    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    stamp = spec_hash()
    passed = failed = 0
    for e in entries:
        mdir = os.path.join(args.cache, e.name)
        try:
            meta = load_meta(mdir, stamp)
            if meta is None:
                export(e, mdir, stamp)
                meta = load_meta(mdir, stamp)
            ok, msg = run_fwd(fwd, mdir, meta, args.mode)
            if ok and meta.get("export_note"):
                ok, msg = False, meta["export_note"]
        except Exception as ex:  # a broken export is this model's failure, not the run's
            ok, msg = False, f"export/reference failed: {type(ex).__name__}: {ex}"
        if ok:
            passed += 1
            print(f"PASS {e.name} ({msg})", flush=True)
        else:
            failed += 1
            print(f"FAIL {e.name}: {msg}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
