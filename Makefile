# Strata — `make run` opens the window (ARGS="tag song.flac" runs a command), `make test` runs every test.
# Both set up everything first: system packages, ONNX Runtime from PyPI, the build.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
ARGS ?=

.PHONY: run test setup onnxruntime onnxruntime-gpu bench screenshots package

setup:
	@scripts/setup-system.sh

onnxruntime: setup
	@scripts/fetch-onnxruntime.sh cpu

onnxruntime-gpu: setup
	@scripts/fetch-onnxruntime.sh gpu

run: onnxruntime
	$(CARGO) build --release --bin strata
	./target/release/strata $(ARGS)

# The house rules first (formatting, clippy with every warning an error), then every test.
test: onnxruntime
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --no-fail-fast

bench: onnxruntime
	$(CARGO) bench

# Installable packages with the model and ONNX Runtime inside: target/package/strata_<ver>_<arch>.deb
# and strata-<ver>-linux-<arch>.tar.gz (see packaging/build-packages.sh; --gpu for the CUDA build).
package: onnxruntime
	$(CARGO) build --release --bin strata
	packaging/build-packages.sh --binary target/release/strata --out target/package
