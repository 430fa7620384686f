# tav-edge — one Makefile for the product, its tests and benchmarks.
#
#   make            the `tav` binary (optimised)
#   make test       installs missing packages, builds with ASan+UBSan, runs every test
#   make bench      kernel and generation benchmarks (ratios measured in one run)
#   make demo       the main job: a multi-scene video from the shipped model
#   make fuzz       libFuzzer runs of the parsers (slow; not part of `make test`)
#   make arm        `tav` cross-built for AArch64 (build/arm/tav; `make test` runs it under qemu)
#   make clean
#
# Sources are found by wildcard per module folder, so adding a .c file needs
# no edit here. ISA-specific kernels get their own flags (see "SIMD" below).

CC      ?= cc
WERROR  ?= $(if $(CI),-Werror,)
CSTD     = -std=c11 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR)
OPT     ?= -O2 -g
DEPFLAGS = -MMD -MP
INCLUDES = -I. $(shell pkg-config --cflags libavformat libavcodec libswscale libavutil 2>/dev/null)
CFLAGS_BASE = $(CSTD) $(WARN) $(INCLUDES) $(DEPFLAGS) -pthread
LIBS     = $(shell pkg-config --libs libavformat libavcodec libswscale libavutil 2>/dev/null) \
           -lsqlite3 -lpng -ljpeg -lopenblas -lmicrohttpd -lpthread -lm

SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
PY      ?= /usr/bin/python3

# ---------------------------------------------------------------- sources

MODULES   = core simd quant kiosk
MAIN_SRC  = core/cli.c
LIB_SRCS  = $(filter-out $(MAIN_SRC),$(wildcard $(addsuffix /*.c,$(MODULES))))

# SIMD: x86 kernels, one file per ISA, compiled with that ISA's flags only;
# the dispatcher picks one at run time from CPU features.
ARCH := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(ARCH)))
LIB_SRCS += $(wildcard simd/x86/*.c)
endif
ifneq (,$(findstring aarch64,$(ARCH)))
LIB_SRCS += $(wildcard simd/arm/*.c)
endif
ISA_FLAGS_avx2      = -mavx2 -mfma -mf16c
ISA_FLAGS_avx512    = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
ISA_FLAGS_neon      = -march=armv8-a
ISA_FLAGS_neondot   = -march=armv8.2-a+dotprod
isa_flags = $(strip $(if $(findstring _avx512,$1),$(ISA_FLAGS_avx512),\
                    $(if $(findstring _avx2,$1),$(ISA_FLAGS_avx2),\
                    $(if $(findstring _neondot,$1),$(ISA_FLAGS_neondot),\
                    $(if $(findstring _neon,$1),$(ISA_FLAGS_neon),)))))

TEST_SRCS = $(wildcard tests/test_*.c)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)

# ---------------------------------------------------------------- builds

REL  = build/rel
ASAN = build/asan

REL_OBJS  = $(patsubst %.c,$(REL)/%.o,$(LIB_SRCS))
ASAN_OBJS = $(patsubst %.c,$(ASAN)/%.o,$(LIB_SRCS))
TEST_BINS = $(patsubst tests/%.c,$(ASAN)/tests/%,$(TEST_SRCS))
FUZZ_REPLAY_BINS = $(patsubst tests/fuzz/fuzz_%.c,$(ASAN)/tests/fuzz_replay_%,$(FUZZ_SRCS))

.PHONY: all test bench demo fuzz clean deps test-deps model check-tools
all: tav

tav: $(REL)/libtav.a $(REL)/$(MAIN_SRC:.c=.o)
	$(CC) $(OPT) -pthread -o $@ $(REL)/$(MAIN_SRC:.c=.o) $(REL)/libtav.a $(LIBS)

$(REL)/libtav.a: $(REL_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(REL)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(OPT) $(call isa_flags,$<) -c $< -o $@

# The sanitizer build: every test links against this library.
$(ASAN)/libtav.a: $(ASAN_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(ASAN)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) $(call isa_flags,$<) -c $< -o $@

$(ASAN)/tests/%: tests/%.c $(ASAN)/libtav.a tests/check.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -o $@ $< $(ASAN)/libtav.a $(LIBS)

# Fuzz harnesses are replayed over their committed corpus in `make test`
# (tests/fuzz/replay.c supplies main); `make fuzz` runs real libFuzzer.
$(ASAN)/tests/fuzz_replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(ASAN)/libtav.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -o $@ $< tests/fuzz/replay.c $(ASAN)/libtav.a $(LIBS)

# kiosk/engine.c calls the engine only once core/pipeline.c exists; until
# then `tav kiosk` runs and fails jobs with "engine not built yet".
HAVE_ENGINE = $(if $(wildcard core/pipeline.c),1,0)
$(REL)/kiosk/engine.o $(ASAN)/kiosk/engine.o: CFLAGS_BASE += -DTAV_HAVE_ENGINE=$(HAVE_ENGINE)
$(REL)/kiosk/engine.o $(ASAN)/kiosk/engine.o: $(wildcard core/pipeline.c)

# ---------------------------------------------------------------- targets

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

# Everything `make test` runs; the runner prints "N passed, N failed".
test: test-deps
	$(MAKE) -j2 tav $(TEST_BINS) $(FUZZ_REPLAY_BINS)
	@tests/run.sh $(TEST_BINS) $(FUZZ_REPLAY_BINS)

bench: deps
	@$(MAKE) --no-print-directory tav
	./tav bench all

demo: deps
	@$(MAKE) --no-print-directory tav
	@scripts/demo.sh

FUZZ_SECONDS ?= 60
fuzz: test-deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# The trainer exports fp32 to assets/default.tavm; the int8 file is made from
# it by `tav quantize` (docs/quantization.md; per-layer report beside it).
# The packages first (`deps` is not a sibling prerequisite of `tav`, which `make -j`
# would build at the same time): on a fresh machine `tav` cannot be built before them.
model: deps
	@scripts/install-deps.sh train
	@$(MAKE) --no-print-directory tav
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) -m train.make_model
	./tav quantize assets/default.tavm assets/default-int8.tavm --report build/quant-report.csv

# The evaluation tables of docs/results.md (train/eval; EVAL_N prompts per scene
# count of tests/data/eval_prompts.jsonl, 50 = the full set; resumes in build/eval),
# then the same-station set (tests/data/eval_prompts_same.jsonl, 20 per count,
# N = 2..6) for the teachers and the student, then the scene counts on the
# procedure templates (seeds 1..10) of the rendered ground truth (the detector's
# ceiling) and of the shipped model (printed; docs/results.md quotes them).
EVAL_N ?= 50
EVAL_SAME_N ?= 20
.PHONY: eval
eval: tav
	$(PY) -m train.eval.all --per-count $(EVAL_N)
	$(PY) -m train.eval.all --per-count $(EVAL_SAME_N) --prompts tests/data/eval_prompts_same.jsonl \
	    --out build/eval_same --block eval-same-table --stages tav_p1 tav_cs distill distill-int8
	$(PY) -m train.eval.template_probe --model rendered --seeds 10
	$(PY) -m train.eval.template_probe --model assets/default-int8.tavm --seeds 10

# NEON kernels: the simd tests cross-compiled for AArch64 (static, no
# sanitizers) from simd/ and the few core files it needs; tests/suites/neon.sh
# runs them under qemu-aarch64 with and without dotprod in `make test`.
ARM_CC    ?= aarch64-linux-gnu-gcc
ARM_AR    ?= aarch64-linux-gnu-ar
ARM        = build/arm
ARM_CFLAGS = $(CSTD) $(WARN) -I. $(ARM_INCLUDES) $(DEPFLAGS) -pthread -O2 -g
ARM_OBJS   = $(patsubst %.c,$(ARM)/%.o,$(wildcard simd/*.c simd/arm/*.c) \
                 core/threadpool.c core/mem.c core/status.c core/log.c)
ARM_TESTS  = $(patsubst tests/%.c,$(ARM)/tests/%,$(wildcard tests/test_simd_*.c))
.PHONY: arm-tests
arm-tests: $(ARM_TESTS)
$(ARM)/%.o: %.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) $(call isa_flags,$<) -c $< -o $@
$(ARM)/tests/%: tests/%.c $(ARM_OBJS) tests/check.h
	@mkdir -p $(@D)
	$(ARM_CC) $(CSTD) $(WARN) -I. -pthread -O2 -static -o $@ $< $(ARM_OBJS) -lm
# `make arm`: the whole `tav` for AArch64 (build/arm/tav), linked against
# Debian's multiarch arm64 libraries (FFmpeg, libpng, libjpeg-turbo, OpenBLAS,
# SQLite, libmicrohttpd: scripts/install-deps.sh arm). The engine's tests
# (golden parity, end to end) link the same library; tests/suites/engine_arm.sh
# runs them and `build/arm/tav generate` under qemu-aarch64.
ARM_PKG      = PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
ARM_INCLUDES = $(shell $(ARM_PKG) --cflags libavformat libavcodec libswscale libavutil 2>/dev/null)
ARM_LIBS     = $(shell $(ARM_PKG) --libs libavformat libavcodec libswscale libavutil 2>/dev/null) \
               -lsqlite3 -lpng -ljpeg -lopenblas -lmicrohttpd -lpthread -lm
ARM_LIB_OBJS = $(patsubst %.c,$(ARM)/%.o,$(filter-out $(MAIN_SRC),\
                   $(wildcard $(addsuffix /*.c,$(MODULES)))) $(wildcard simd/arm/*.c))
ARM_ENGINE_TESTS = $(ARM)/tests/test_engine_parity $(ARM)/tests/test_engine_e2e
$(ARM)/kiosk/engine.o: ARM_CFLAGS += -DTAV_HAVE_ENGINE=$(HAVE_ENGINE)
$(ARM)/kiosk/engine.o: $(wildcard core/pipeline.c)
.PHONY: arm arm-engine-tests
arm: $(ARM)/tav
arm-engine-tests: $(ARM)/tav $(ARM_ENGINE_TESTS)
$(ARM)/libtav.a: $(ARM_LIB_OBJS)
	rm -f $@ && $(ARM_AR) rcs $@ $^
$(ARM)/tav: $(ARM)/$(MAIN_SRC:.c=.o) $(ARM)/libtav.a
	$(ARM_CC) -pthread -o $@ $^ $(ARM_LIBS)
$(ARM_ENGINE_TESTS): $(ARM)/tests/%: tests/%.c $(ARM)/libtav.a tests/check.h
	@mkdir -p $(@D)
	$(ARM_CC) $(CSTD) $(WARN) -I. -pthread -O2 -o $@ $< $(ARM)/libtav.a $(ARM_LIBS)

clean:
	rm -rf build tav

-include $(shell find build -name '*.d' 2>/dev/null)
