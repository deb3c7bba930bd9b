# gpt2rank — one library, one binary, one test runner.  Nothing but a C11
# compiler, libc and pthreads is needed; CUDA=1 adds the GPU path.
#
#   make            libgpt2rank.a and ./gpt2rank
#   make test       build and run every test (SAN=1: with ASan + UBSan)
#   make bench      benchmarks on a generated GPT-2-124M-shaped model
#   make run        generate from a 124M-shaped random model, with timing
#
# BUILD and BIN may be overridden so several builds can share one tree.

CC      ?= cc
BUILD   ?= build
BIN     ?= gpt2rank
LIB      = $(BUILD)/libgpt2rank.a
ARCH    := $(shell $(CC) -dumpmachine)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -Iinclude -I.
LDLIBS  += -lm -pthread

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# Per-file instruction-set flags: only files named for an ISA get them, and the
# dispatcher calls them only after cpuid says yes.
ifneq ($(findstring x86_64,$(ARCH)),)
AVX2_FLAGS   = -mavx2 -mfma -mf16c
AVX512_FLAGS = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mfma -mf16c
endif
isa_flags = $(if $(findstring avx512,$(notdir $<)),$(AVX512_FLAGS),$(if $(findstring avx2,$(notdir $<)),$(AVX2_FLAGS)))

LIB_DIRS  = common weights kernels tokenizer engine ranker
LIB_SRCS  = $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
CLI_SRCS  = $(wildcard cli/*.c)
TEST_SRCS = $(wildcard tests/*.c)

LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS  = $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_OBJS = $(TEST_SRCS:%.c=$(BUILD)/%.o)

# CUDA: kernels/cuda/*.cu, compiled for sm_90 and portable PTX; NVCC_EXTRA adds
# flags (bench/gpu_check.sh builds a -DTC_MIN_BLOCKS=1 variant with it).
NVCC       ?= nvcc
CUDA_SRCS   = $(wildcard kernels/cuda/*.cu)
CUDA_OBJS   = $(CUDA_SRCS:%.cu=$(BUILD)/%.o)
NVCC_FLAGS  = -O3 -std=c++17 -Iinclude -I. --compiler-options -Wall,-Wextra,-fPIC \
              -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 $(NVCC_EXTRA)
ifeq ($(CUDA),1)
CFLAGS    += -DG2R_CUDA=1
LIB_OBJS  += $(CUDA_OBJS)
CUDA_HOME ?= $(dir $(shell which $(NVCC)))..
LDLIBS    += -L$(CUDA_HOME)/lib64 -lcudart -lstdc++
endif

.PHONY: all test bench run demo clean cuda-check weights fuzz
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(isa_flags) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)
	@if [ "$(BUILD)" = build ] && [ "$(BIN)" = gpt2rank ]; then cp $(LIB) libgpt2rank.a; fi

$(BUILD)/g2r_tests: $(TEST_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJS) $(LIB) $(LDLIBS)

# Tests run from the repository root; CLI tests find the binary through G2R_BIN.
test: $(BUILD)/g2r_tests $(BIN)
	G2R_BIN=$(abspath $(BIN)) $(BUILD)/g2r_tests $(T)

# Compile every CUDA source without a GPU (CI does this whenever nvcc exists).
cuda-check: $(CUDA_OBJS)
	@echo "cuda-check: $(words $(CUDA_OBJS)) CUDA sources compiled"

clean:
	rm -rf $(BUILD) gpt2rank libgpt2rank.a

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- engine ---
# make run: a GPT-2-124M-shaped model of random weights (written once into
# models/), then greedy generation from it with timing.  make weights: the real
# GPT-2 124M weights from Hugging Face (needs internet; nothing else does).
RUN_MODEL   ?= models/gpt2-124M-random.safetensors
RUN_IDS     ?= 464,2068,7586,21831,18045,625,262,16931,3290
RUN_ARGS    ?= -n 32
WEIGHTS_URL ?= https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors

run: $(BIN)
	@mkdir -p $(dir $(RUN_MODEL))
	@test -f $(RUN_MODEL) || { echo "writing $(RUN_MODEL) (124M shape, random weights)"; \
		$(abspath $(BIN)) mkmodel -o $(RUN_MODEL); }
	$(abspath $(BIN)) cache $(RUN_MODEL)
	$(abspath $(BIN)) info -m $(RUN_MODEL)
	$(abspath $(BIN)) generate -m $(RUN_MODEL) --ids $(RUN_IDS) $(RUN_ARGS) --timing

weights:
	@mkdir -p models
	curl -L --fail --retry 3 -o models/gpt2.safetensors.part $(WEIGHTS_URL)
	mv models/gpt2.safetensors.part models/gpt2.safetensors
	@echo "models/gpt2.safetensors: try  ./gpt2rank generate -m models/gpt2.safetensors --ids $(RUN_IDS)"

# --- tokenizer ---
# Encode throughput beside tiktoken (needs node + npm tiktoken for the peer).
.PHONY: tokenizer-bench
$(BUILD)/bench/tokenizer_bench: $(BUILD)/bench/tokenizer_bench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tokenizer-bench: $(BUILD)/bench/tokenizer_bench
	BENCH=$(BUILD)/bench/tokenizer_bench sh bench/tokenizer_bench.sh

# --- page cache ---
# Decode from a model in 2 MB page-cache pages beside 4 KB-page copies
# (contiguous and scattered): sh bench/pagecache_ab.sh; PAGECACHE_ARGS="12" is the full run.
PAGECACHE_ARGS ?= 4
.PHONY: bench-pagecache
$(BUILD)/bench/scatter_copy: $(BUILD)/bench/scatter_copy.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-pagecache: $(BIN) $(BUILD)/bench/scatter_copy
	BIN=$(abspath $(BIN)) SCATTER=$(BUILD)/bench/scatter_copy sh bench/pagecache_ab.sh $(PAGECACHE_ARGS)

# --- ranker ---
# make demo: index ranker/demo/items.jsonl (2,075 Debian packages) and rank for
# each user in ranker/demo/users/, on models/gpt2.safetensors when `make weights`
# fetched it, else on a small generated random model (said loudly).
# make bench-topk: top-K scan speed; TOPK_ARGS="--n 100000,1000000 --faiss" is the full run.
TOPK_ARGS ?= --n 20000 --threads 1,2 --reps 20
.PHONY: bench-topk

demo: $(BIN)
	BIN=$(abspath $(BIN)) sh ranker/demo/demo.sh

$(BUILD)/bench/topk_bench: $(BUILD)/bench/topk_bench.o $(BUILD)/bench/ceilings.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-topk: $(BUILD)/bench/topk_bench
	$(BUILD)/bench/topk_bench $(TOPK_ARGS)

# --- bench ---
# make bench: a GPT-2-124M-shaped model of random weights (the same file as
# make run), converted once to f16, bf16 and q8, then `gpt2rank bench` on all
# four: throughput beside the machine's ceilings and PyTorch, and accuracy.
# BENCH_ARGS=--quick checks that everything works in about a minute.
BENCH_MODEL ?= models/gpt2-124M-random.safetensors
BENCH_ARGS  ?=
BENCH_OBJS   = $(BUILD)/bench/ceilings.o
CLI_OBJS    += $(BENCH_OBJS)
$(BIN): $(BENCH_OBJS)

# bench-models: the model, written once, and its f16, bf16 and q8 conversions
# (again when older than it), for bench and bench-q8-layout.  (A q8 file
# written before convert stored layer matrices transposed still loads, at
# its old speed: delete it to get the new layout.)
.PHONY: bench-models
bench-models: $(BIN)
	@mkdir -p $(dir $(BENCH_MODEL))
	@test -f $(BENCH_MODEL) || { echo "writing $(BENCH_MODEL) (124M shape, random weights)"; \
		$(abspath $(BIN)) mkmodel -o $(BENCH_MODEL); }
	@for d in f16 bf16 q8; do f=$(BENCH_MODEL:.safetensors=)-$$d.safetensors; \
		test $$f -nt $(BENCH_MODEL) || $(abspath $(BIN)) convert -m $(BENCH_MODEL) -o $$f --dtype $$d || exit 1; done

bench: bench-models
	@mkdir -p bench/out
	$(abspath $(BIN)) bench -m $(BENCH_MODEL) --f16 $(BENCH_MODEL:.safetensors=)-f16.safetensors \
		--bf16 $(BENCH_MODEL:.safetensors=)-bf16.safetensors --q8 $(BENCH_MODEL:.safetensors=)-q8.safetensors \
		--json bench/out/bench.json $(BENCH_ARGS)

# make bench-q8-layout: Q8's layer matmuls in its two int8 layouts on the same
# bytes (rows as a --q8-layout rows file stores them, cols as wte is), decode
# and prefill (bench/q8_layout.c).
Q8_LAYOUT_ARGS ?= --seconds 120
Q8_ROWS_MODEL   = $(BENCH_MODEL:.safetensors=)-q8rows.safetensors
.PHONY: bench-q8-layout
$(BUILD)/bench/q8_layout: $(BUILD)/bench/q8_layout.o $(BUILD)/bench/ceilings.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-q8-layout: bench-models $(BUILD)/bench/q8_layout
	@test $(Q8_ROWS_MODEL) -nt $(BENCH_MODEL) || \
		$(abspath $(BIN)) convert -m $(BENCH_MODEL) -o $(Q8_ROWS_MODEL) --dtype q8 --q8-layout rows
	$(BUILD)/bench/q8_layout $(Q8_ROWS_MODEL) $(Q8_LAYOUT_ARGS)

# --- serve ---
# make serve-bench: the serve latency table (bench/serve_bench.sh) on a small
# model; SERVE_BENCH_FULL=1 for the 124M-shaped model and 100,000 items.
.PHONY: serve-bench
$(BUILD)/bench/serve_load: $(BUILD)/bench/serve_load.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

serve-bench: $(BIN) $(BUILD)/bench/serve_load
	BIN=$(abspath $(BIN)) LOAD=$(BUILD)/bench/serve_load sh bench/serve_bench.sh

# make bench-all: every benchmark at full size, one after another (~27 min,
# 10 GB of memory for the 1M-vector top-K run).
.PHONY: bench-all
bench-all: bench
	$(MAKE) bench-topk TOPK_ARGS="--n 100000,1000000 --threads 1,2 --faiss"
	$(MAKE) serve-bench SERVE_BENCH_FULL=1
	$(MAKE) tokenizer-bench
	$(MAKE) bench-pagecache PAGECACHE_ARGS=12
	$(MAKE) bench-q8-layout

# --- cuda ---
# nvcc writes a .d beside each object, so header edits rebuild the .cu files.
NVCC_FLAGS += -MMD -MP
CUDA_BUILD ?= build-cuda

.PHONY: cuda cuda-test
# The GPU build lives in its own folder so it never mixes with CPU-only objects.
cuda:
	$(MAKE) CUDA=1 BUILD=$(CUDA_BUILD) BIN=$(CUDA_BUILD)/gpt2rank $(CUDA_BUILD)/gpt2rank $(CUDA_BUILD)/gpu_bench

# The CUDA tests (they skip, saying why, on a machine without a GPU).
cuda-test:
	$(MAKE) CUDA=1 BUILD=$(CUDA_BUILD) BIN=$(CUDA_BUILD)/gpt2rank test T=$(or $(T),cuda)

$(BUILD)/gpu_bench: $(BUILD)/bench/gpu_bench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# CPU emulation of the CUDA kernels (tests/cuda_emu): runs the CUDA tests on a
# machine without a GPU, slowly, to catch indexing, barrier and test bugs.
# Needs python3 and g++; never part of `make test` or CI.
ifeq ($(EMU),1)
CFLAGS   += -DG2R_CUDA=1
EMU_OBJS  = $(CUDA_SRCS:%.cu=$(BUILD)/emu/%.o) $(BUILD)/emu/cuda_emu.o
$(LIB): $(EMU_OBJS)
LDLIBS   += -lstdc++
endif
EMU_CXX   = $(CXX) -std=c++17 -O2 -g -w -fno-strict-aliasing -U_FORTIFY_SOURCE -I$(BUILD)/emu/src -I. -Iinclude $(NVCC_EXTRA) \
            $(if $(filter 1,$(SAN)),$(EMU_SAN))
EMU_SAN   = -fsanitize=address,undefined -fno-omit-frame-pointer

.PRECIOUS: $(BUILD)/emu/src/%
$(BUILD)/emu/src/%: % tests/cuda_emu/cu2cpp.py
	@mkdir -p $(dir $@)
	python3 tests/cuda_emu/cu2cpp.py $< $@

$(BUILD)/emu/%.o: $(BUILD)/emu/src/%.cu $(BUILD)/emu/src/kernels/cuda/cuda_common.cuh tests/cuda_emu/cuda_emu.h \
                  tests/cuda_emu/ptx_emu.h kernels/cuda/cuda_kernels.h
	@mkdir -p $(dir $@)
	$(EMU_CXX) -x c++ -c $< -o $@

$(BUILD)/emu/cuda_emu.o: tests/cuda_emu/cuda_emu.cpp tests/cuda_emu/cuda_emu.h
	@mkdir -p $(dir $@)
	$(EMU_CXX) -c $< -o $@

.PHONY: cuda-emu-test
cuda-emu-test:
	$(MAKE) EMU=1 BUILD=build-emu BIN=build-emu/gpt2rank test T=$(or $(T),cuda)

# --- fuzz ---
# make fuzz: each libFuzzer target in tests/fuzz/fuzz_<name>.c, built with clang
# and ASan + UBSan into build-fuzz/, runs FUZZ_SECONDS from its committed seeds
# (tests/fuzz/corpus/<name>/); inputs it finds go to build-fuzz/corpus/<name>/,
# crashes to build-fuzz/<name>-crash-*.  Copy a crash into
# tests/data/regress/<name>/ and `make test` replays it (tests/test_regress.c).
# FUZZ_TARGETS=json picks targets.  Not needed by make test.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR      = build-fuzz
FUZZ_CFLAGS   = -O1 -g -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -Iinclude -I. \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIB_OBJS = $(LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
.SECONDARY: $(FUZZ_LIB_OBJS)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(isa_flags) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP $< $(FUZZ_LIB_OBJS) -o $@ $(LDLIBS)

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$t; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		echo "== fuzz $$t: $(FUZZ_SECONDS) s"; \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/$$t- $$dict \
			$(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_DIR)/$$t.log 2>&1; rc=$$?; \
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)|DONE' $(FUZZ_DIR)/$$t.log; \
		[ $$rc -eq 0 ] || { tail -n 40 $(FUZZ_DIR)/$$t.log; exit 1; }; \
	done

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
