# nfsprov: the commands people and CI run. Every target installs missing Debian packages first.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
  CMAKE_FLAGS += -DNFSPROV_WERROR=ON
endif

.PHONY: all deps test-deps build test test-asan bench demo clean

all: build

deps:
	@bash hack/install-deps.sh

# The manifest checks' node, npm packages (npm ci) and kubectl: only the tests need them.
test-deps: deps
	@bash hack/manifests/install.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Unit and integration tests (each integration test starts its own nfs-ganesha on loopback).
test: build test-deps
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j2 --timeout 600

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: test-deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DNFSPROV_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_DIR) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/hack/lsan-suppressions.txt \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure -j2 --timeout 900

# Benchmarks: JSON lines, each comparison measured against its baseline in the same run.
bench: build
	$(BUILD_DIR)/bench/nfsprov_bench
	$(BUILD_DIR)/bench/nfsprov_controller_bench
	$(BUILD_DIR)/bench/nfsprov_fuse_bench
	$(BUILD_DIR)/bench/nfsprov_node_bench
	$(BUILD_DIR)/bench/nfsprov_quota_bench
	$(BUILD_DIR)/bench/nfsprov_lock_bench

# The controller end to end against an embedded nfs-ganesha, step by step (leaves nothing running).
demo: build
	$(BUILD_DIR)/e2e/nfsprov_demo

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
