/* bench_generate.h — `tav bench generate`: one generation timed stage by stage
 * against the PyTorch reference (core/bench_generate.c).
 *
 *   int rc = tav_bench_generate_run(NULL, 1, 0);   // default model, JSON, full timing
 *
 * Measures, in one run on the same machine: time per stage (text, denoise per
 * step, decode, MP4 encode), the real-time factor (video seconds per wall
 * second, encode included), the peak RSS of the generation (it runs in a
 * forked child, so earlier benchmarks in the same process do not count), and
 * torch_ratio = PyTorch reference seconds / engine seconds for the same model
 * file, prompts, seed and steps (train/bench_reference.py via /usr/bin/python3,
 * or $PY; text + denoise + decode on both sides). PyTorch runs with 1 thread
 * and with the engine's thread count (OMP/OpenBLAS/MKL pools set to match) and
 * the faster of the two is the reference (torch_threads says which).
 * model NULL: the shipped assets/default-int8.tavm, else assets/default.tavm,
 * else tests/data/tiny.tavm (the output says which). An int8 model is compared
 * with PyTorch running its dequantised weights. Returns a process exit status.
 */
#ifndef TAV_BENCH_GENERATE_H
#define TAV_BENCH_GENERATE_H

int tav_bench_generate_run(const char *model, int json, int quick);

#endif
