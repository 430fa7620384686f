/* dispatch.c — CPU feature detection and the choice of kernel path.
 *
 * x86-64: cpuid leaves 1 and 7 plus xgetbv (the OS must save YMM/ZMM state).
 * AArch64: getauxval(AT_HWCAP) (ASIMD, ASIMDDP). Done once; TAV_ISA forces
 * a path for tests and comparisons.
 */
#include "simd/kern.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

/* ---------------------------------------------------------------- features */

typedef struct cpu_features {
    int avx, avx2, fma, f16c, os_ymm;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avxvnni, os_zmm;
    int asimd, asimddp;
} cpu_features;

static cpu_features cpu;
static int cpu_detected;

#if defined(__x86_64__)
static unsigned long long read_xcr0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

static void detect_cpu(void)
{
    if (cpu_detected)
        return;
    memset(&cpu, 0, sizeof cpu);
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        cpu.fma = (c >> 12) & 1;
        cpu.avx = (c >> 28) & 1;
        cpu.f16c = (c >> 29) & 1;
        if ((c >> 27) & 1) { /* OSXSAVE: xgetbv is usable */
            unsigned long long xcr0 = read_xcr0();
            cpu.os_ymm = (xcr0 & 0x6) == 0x6;
            cpu.os_zmm = cpu.os_ymm && (xcr0 & 0xe0) == 0xe0;
        }
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        cpu.avx2 = (b >> 5) & 1;
        cpu.avx512f = (b >> 16) & 1;
        cpu.avx512dq = (b >> 17) & 1;
        cpu.avx512bw = (b >> 30) & 1;
        cpu.avx512vl = (b >> 31) & 1;
        cpu.avx512vnni = (c >> 11) & 1;
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d))
        cpu.avxvnni = (a >> 4) & 1;
#endif
#if defined(__aarch64__)
    unsigned long hw = getauxval(AT_HWCAP);
    cpu.asimd = (hw & HWCAP_ASIMD) != 0;
    cpu.asimddp = (hw & HWCAP_ASIMDDP) != 0;
#endif
    cpu_detected = 1;
}

/* Names the features `isa` needs that the CPU lacks ("" if none). */
static const char *missing_features(tav_isa isa)
{
    detect_cpu();
    switch (isa) {
    case TAV_ISA_SCALAR: return "";
    case TAV_ISA_AVX2:
        if (!(cpu.avx && cpu.os_ymm)) return "AVX (or OS support for YMM state)";
        if (!cpu.avx2) return "AVX2";
        if (!cpu.fma) return "FMA";
        if (!cpu.f16c) return "F16C";
        return "";
    case TAV_ISA_AVX512VNNI:
        if (missing_features(TAV_ISA_AVX2)[0]) return missing_features(TAV_ISA_AVX2);
        if (!cpu.os_zmm) return "OS support for ZMM state";
        if (!(cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512dq))
            return "AVX-512 F/BW/VL/DQ";
        if (!cpu.avx512vnni) return "AVX512_VNNI";
        return "";
    case TAV_ISA_NEON: return cpu.asimd ? "" : "ASIMD (NEON)";
    case TAV_ISA_NEONDOT:
        if (!cpu.asimd) return "ASIMD (NEON)";
        return cpu.asimddp ? "" : "ASIMDDP (dot product)";
    case TAV_ISA_COUNT: break;
    }
    return "a known path";
}

/* ---------------------------------------------------------------- names */

static const char *const isa_names[TAV_ISA_COUNT] = {"scalar", "avx2", "avx512vnni", "neon",
                                                     "neondot"};

const char *tav_simd_isa_name(tav_isa isa)
{
    return (unsigned)isa < TAV_ISA_COUNT ? isa_names[isa] : "?";
}

tav_status tav_simd_parse_isa(const char *name, tav_isa *out)
{
    for (int i = 0; i < TAV_ISA_COUNT; i++)
        if (name && strcmp(name, isa_names[i]) == 0) {
            *out = (tav_isa)i;
            return TAV_OK;
        }
    return tav_fail(TAV_ERR_INVALID_ARG,
                    "unknown kernel path '%s' (use scalar, avx2, avx512vnni, neon or neondot)",
                    name ? name : "(null)");
}

const tav_kern *tav_kern_get(tav_isa isa)
{
    switch (isa) {
    case TAV_ISA_SCALAR: return &tav_kern_scalar;
#if defined(__x86_64__)
    case TAV_ISA_AVX2: return &tav_kern_avx2;
    case TAV_ISA_AVX512VNNI: return &tav_kern_avx512vnni;
#endif
#if defined(__aarch64__)
    case TAV_ISA_NEON: return &tav_kern_neon;
    case TAV_ISA_NEONDOT: return &tav_kern_neondot;
#endif
    default: return NULL;
    }
}

int tav_simd_isa_built(tav_isa isa) { return tav_kern_get(isa) != NULL; }

int tav_simd_isa_supported(tav_isa isa)
{
    return tav_simd_isa_built(isa) && missing_features(isa)[0] == '\0';
}

/* ---------------------------------------------------------------- choice */

static const tav_kern *active;

static tav_isa best_isa(void)
{
    static const tav_isa order[] = {TAV_ISA_AVX512VNNI, TAV_ISA_AVX2, TAV_ISA_NEONDOT,
                                    TAV_ISA_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (tav_simd_isa_supported(order[i]))
            return order[i];
    return TAV_ISA_SCALAR;
}

static tav_status check_supported(tav_isa isa)
{
    if (!tav_simd_isa_built(isa))
        return tav_fail(TAV_ERR_UNSUPPORTED,
                        "kernel path '%s' is not built into this binary (it targets another "
                        "architecture)",
                        tav_simd_isa_name(isa));
    const char *miss = missing_features(isa);
    if (miss[0])
        return tav_fail(TAV_ERR_UNSUPPORTED, "this CPU cannot run kernel path '%s': it lacks %s",
                        tav_simd_isa_name(isa), miss);
    return TAV_OK;
}

tav_status tav_simd_init(void)
{
    static int done;
    static tav_status result;
    if (done)
        return result;
    done = 1;
    active = tav_kern_get(best_isa());
    result = TAV_OK;
    const char *env = getenv("TAV_ISA");
    if (env && *env) {
        tav_isa forced;
        result = tav_simd_parse_isa(env, &forced);
        if (result == TAV_OK)
            result = check_supported(forced);
        if (result == TAV_OK)
            active = tav_kern_get(forced);
        else {
            char why[256]; /* tav_fail writes the buffer tav_last_error reads */
            snprintf(why, sizeof why, "%s", tav_last_error());
            tav_fail(result, "TAV_ISA=%s: %s", env, why);
        }
    }
    return result;
}

const tav_kern *tav_kern_active(void)
{
    if (!active)
        tav_simd_init();
    return active;
}

tav_isa tav_simd_isa(void) { return tav_kern_active()->isa; }

tav_status tav_simd_set_isa(tav_isa isa)
{
    tav_simd_init();
    tav_status st = check_supported(isa);
    if (st == TAV_OK)
        active = tav_kern_get(isa);
    return st;
}

double tav_simd_peak_loop(tav_isa isa, int variant, long iters)
{
    if (!tav_simd_isa_supported(isa))
        return 0.0;
    const tav_kern *k = tav_kern_get(isa);
    return k->peak ? k->peak(variant, iters) : 0.0;
}

/* ---------------------------------------------------------------- report */

void tav_simd_print_cpu(FILE *f)
{
    detect_cpu();
    fprintf(f, "cpu features:");
#if defined(__x86_64__)
    const struct { const char *name; int on; } feats[] = {
        {"avx", cpu.avx && cpu.os_ymm}, {"avx2", cpu.avx2}, {"fma", cpu.fma}, {"f16c", cpu.f16c},
        {"avx512f", cpu.avx512f && cpu.os_zmm}, {"avx512bw", cpu.avx512bw},
        {"avx512vl", cpu.avx512vl}, {"avx512dq", cpu.avx512dq},
        {"avx512_vnni", cpu.avx512vnni}, {"avx_vnni", cpu.avxvnni},
    };
#elif defined(__aarch64__)
    const struct { const char *name; int on; } feats[] = {
        {"asimd", cpu.asimd}, {"asimddp", cpu.asimddp},
    };
#else
    const struct { const char *name; int on; } feats[] = {{"(no SIMD paths for this target)", 1}};
#endif
    for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
        if (feats[i].on)
            fprintf(f, " %s", feats[i].name);
    fprintf(f, "\nkernel paths:");
    for (int i = 0; i < TAV_ISA_COUNT; i++) {
        if (!tav_simd_isa_built((tav_isa)i))
            continue;
        const char *miss = missing_features((tav_isa)i);
        if (miss[0])
            fprintf(f, " %s (no: lacks %s)", isa_names[i], miss);
        else
            fprintf(f, " %s", isa_names[i]);
    }
    tav_status st = tav_simd_init();
    fprintf(f, "\nkernel path in use: %s%s\n", tav_simd_isa_name(tav_simd_isa()),
            getenv("TAV_ISA") && *getenv("TAV_ISA") && st == TAV_OK ? " (forced by TAV_ISA)" : "");
    if (st != TAV_OK)
        fprintf(f, "(TAV_ISA not honoured: %s)\n", tav_last_error());
}
