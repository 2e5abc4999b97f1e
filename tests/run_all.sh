#!/bin/sh
# Run every CPU test suite and close with one total line.
#   tests/run_all.sh BUILD_DIR ASAN_BUILD_DIR TSAN_BUILD_DIR
# Suites: ONNX node conformance, bad inputs, model zoo vs ONNX Runtime,
# the example, threads, and the sanitizer builds' node, bad-input and
# thread runs.
set -u
build=${1:-build}
asan=${2:-build-asan}
tsan=${3:-build-tsan}
py=${PY:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp -d)
total_p=0; total_f=0; total_s=0; broken=""

suite() { # name command...
    name=$1; shift
    echo "==== $name: $*"
    "$@" >"$log/$name.out" 2>&1
    rc=$?
    grep -v '^PASS ' "$log/$name.out" | tail -n 60
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/$name.out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: no result line (exit $rc)"
        total_f=$((total_f + 1)); broken="$broken $name"; return
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then total_f=$((total_f + 1)); broken="$broken $name"; fi
}

suite node "$build/bin/node_tests"
# the zoo first: later suites use the models it exports
suite zoo "$py" "$here/zoo/run_zoo.py" --fwd "$build/bin/fwd"
suite no_alloc "$build/bin/test_no_alloc"
suite kernels "$build/bin/node_tests" --data "$here/kernels" --excluded /dev/null
suite kernels_avx2 env FWD_NO_AVX512=1 "$build/bin/node_tests" --data "$here/kernels" --excluded /dev/null
suite bad_inputs "$build/bin/test_bad_inputs"
suite api "$build/bin/test_api"
suite passes_linear "$build/bin/test_passes_linear"
suite passes_nlp "$build/bin/test_passes_nlp"
suite fused_linear "$build/bin/test_fused_linear"
suite fused_linear_avx2 env FWD_NO_AVX512=1 "$build/bin/test_fused_linear"
suite activations "$build/bin/test_activations"
suite activations_avx2 env FWD_NO_AVX512=1 "$build/bin/test_activations"
suite winograd "$build/bin/test_winograd"
suite winograd_avx2 env FWD_NO_AVX512=1 "$build/bin/test_winograd"
suite conv_paths "$build/bin/test_conv_paths"
suite conv_paths_avx2 env FWD_NO_AVX512=1 "$build/bin/test_conv_paths"
suite profiles "$build/bin/test_profiles"
suite float16 "$build/bin/test_float16" "$here/.."
suite threads "$build/bin/test_threads"
suite engine_file "$build/bin/test_engine_file"
suite example sh -c "'$here/../examples/digits/run.sh' '$build/bin/fwd' && echo '1 passed, 0 failed' || echo '0 passed, 1 failed'"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
suite node_asan "$asan/bin/node_tests" --timeout 300
suite bad_inputs_asan "$asan/bin/test_bad_inputs"
suite api_asan "$asan/bin/test_api"
suite passes_linear_asan "$asan/bin/test_passes_linear"
suite passes_nlp_asan "$asan/bin/test_passes_nlp"
suite engine_file_asan "$asan/bin/test_engine_file"
suite no_alloc_asan "$asan/bin/test_no_alloc"
suite fused_linear_asan "$asan/bin/test_fused_linear"
suite activations_asan "$asan/bin/test_activations"
# bit flips in every node-test model; an allocation the flips made huge
# (over 1 GiB here) must fail with a status (allocator_may_return_null),
# not abort
suite fuzz_models_asan env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1:max_allocation_size_mb=1024 \
    "$asan/bin/test_fuzz_models"
suite winograd_asan "$asan/bin/test_winograd"
suite conv_paths_asan "$asan/bin/test_conv_paths"
suite kernels_asan "$asan/bin/node_tests" --data "$here/kernels" --excluded /dev/null
export TSAN_OPTIONS=halt_on_error=1
suite threads_tsan "$tsan/bin/test_threads" --quick
[ -n "$broken" ] && echo "suites that did not finish cleanly:$broken"
rm -rf "$log"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
