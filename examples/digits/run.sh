#!/bin/sh
# Show each sample digit and what Forward's `fwd run` sees in it.
# Usage: examples/digits/run.sh [path/to/fwd]
set -e
here=$(dirname "$0")
fwd=${1:-build/bin/fwd}
wrong=0
for f in "$here"/samples/digit_*.npy; do
    label=$(basename "$f" .npy | sed 's/digit_//')
    echo "---- $(basename "$f") (written as $label)"
    cat "${f%.npy}.txt"
    out=$("$fwd" run "$here/digits.onnx" --input "image=$f")
    seen=$(echo "$out" | sed -n 's/.*row 0: argmax \([0-9]*\).*/\1/p')
    echo "fwd sees: $seen"
    [ "$seen" = "$label" ] || wrong=$((wrong + 1))
done
echo "$wrong of 10 samples misread"
[ "$wrong" -eq 0 ]
