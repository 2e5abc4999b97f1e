# Forward: convenience targets over CMake.
#   make            build build/bin/fwd, build/lib/libfwd.so and libfwd.a
#   make deps       install what building and testing need (Debian 12)
#   make example    run the example digit classifier end to end
#   make tsan       the ThreadSanitizer build (build-tsan) for the thread test
#   make test       the whole CPU suite (release and sanitizer builds)
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS ?= $(shell nproc)
PY ?= /usr/bin/python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ORT_VERSION ?= 1.32.0

DEBIAN_PACKAGES = build-essential cmake pkg-config libopenblas-dev \
	python3 python3-pip python3-numpy python3-onnx libonnx-testdata \
	python3-torch python3-torchvision python3-sklearn

.PHONY: all deps example asan tsan test bench clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

deps:
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES)
	# ONNX Runtime is the reference the model zoo is compared with; its
	# Python deps are not needed for inference, and Debian's protobuf must
	# stay for the onnx package, hence --no-deps.
	$(SUDO) $(PY) -m pip install -q --break-system-packages --no-deps onnxruntime==$(ORT_VERSION)

example: all
	examples/digits/run.sh $(BUILD)/bin/fwd

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFWD_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)

tsan:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFWD_TSAN=ON >/dev/null
	cmake --build $(TSAN_BUILD) -j$(JOBS)

test: all asan tsan
	tests/run_all.sh $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

bench: all
	$(PY) bench/cpu/bench_cpu.py --fwd $(BUILD)/bin/fwd_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
