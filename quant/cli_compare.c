/* cli_compare.c — `tav quantize --compare REF.tavm TEST.tavm`: end-to-end frame
 * error of one model file against another (the statistics: quant/compare.c). */
#include "quant/quant_priv.h"

#include "core/cli.h"
#include "core/mem.h"
#include "core/pipeline.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- the command */

#define CMD "quantize --compare"
#define MAX_PROMPTS 256
#define DEFAULT_SEED 1
#define DEFAULT_SEEDS 3

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tav quantize --compare REF.tavm TEST.tavm [options]\n"
            "\n"
            "Generates the same prompts with the same seeds from both model files (e.g. the fp32\n"
            "export and its int8 copy) and prints, per prompt and overall, the frame NMSE (bytes\n"
            "mapped to [-1, 1]; sum (test-ref)^2 / sum ref^2), the PSNR and the mean and largest\n"
            "byte difference. The two files must agree in resolution, frames and sampler settings.\n"
            "\n"
            "Options:\n"
            "  -p, --prompt TEXT  a prompt, scenes separated by '|'; repeatable\n"
            "  --prompts FILE     prompts, one per line ('#' comments)\n"
            "                     (default: the built-in calibration captions both models know)\n"
            "  --seed S           first seed (default %d)\n"
            "  --seeds N          seeds per prompt: S, S+1, ... (default %d)\n"
            "  --threads N        engine threads (default 0 = all cores; frames are the same)\n"
            "  -h, --help         this text\n"
            "\n"
            "Exit status: 0 compared, 1 failed (a file, a prompt, mismatched models), 2 bad usage.\n",
            DEFAULT_SEED, DEFAULT_SEEDS);
}

static void print_row(const char *label, const tav_quant_cmp_stats *s)
{
    char psnr[32];
    double p = tav_quant_cmp_psnr(s);
    if (isinf(p))
        snprintf(psnr, sizeof psnr, "inf");
    else
        snprintf(psnr, sizeof psnr, "%.2f", p);
    printf("%-10s %6d  %10.3e  %8s  %8.3f  %4d\n", label, s->n_frames, tav_quant_cmp_nmse(s), psnr,
           s->n_values ? s->abs_sum / (double)s->n_values : 0.0, s->max_diff);
}

typedef struct cmp_args {
    const char *ref, *test, *prompts_file;
    const char *cli_prompts[MAX_PROMPTS];
    size_t n_cli;
    uint64_t seed;
    long seeds, threads;
} cmp_args;

static int parse_args(int argc, char **argv, cmp_args *a)
{
    a->seed = DEFAULT_SEED;
    a->seeds = DEFAULT_SEEDS;
    size_t n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has_val = i + 1 < argc;
        long v;
        if (!strcmp(o, "--compare"))
            continue;
        if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) {
            if (!has_val)
                return tav_cli_usage_error(CMD, "%s needs a prompt", o);
            if (a->n_cli == MAX_PROMPTS)
                return tav_cli_usage_error(CMD, "at most %d prompts", MAX_PROMPTS);
            a->cli_prompts[a->n_cli++] = argv[++i];
        } else if (!strcmp(o, "--prompts")) {
            if (!has_val)
                return tav_cli_usage_error(CMD, "--prompts needs a file name");
            a->prompts_file = argv[++i];
        } else if (!strcmp(o, "--seed")) {
            if (!has_val || tav_cli_parse_long(argv[++i], 0, 0x7fffffffL, &v))
                return tav_cli_usage_error(CMD, "--seed needs an integer 0..2147483647");
            a->seed = (uint64_t)v;
        } else if (!strcmp(o, "--seeds") || !strcmp(o, "--threads")) {
            int seeds = !strcmp(o, "--seeds");
            if (!has_val || tav_cli_parse_long(argv[++i], seeds, 64, &v))
                return tav_cli_usage_error(CMD, "%s needs an integer %d..64", o, seeds);
            *(seeds ? &a->seeds : &a->threads) = v;
        } else if (o[0] == '-' && o[1]) {
            return tav_cli_usage_error(CMD, "unknown option '%s'", o);
        } else {
            if (n_pos == 2)
                return tav_cli_usage_error(CMD, "unexpected argument '%s'", o);
            *(n_pos++ ? &a->test : &a->ref) = o;
        }
    }
    if (n_pos != 2)
        return tav_cli_usage_error(CMD, "needs two model files: REF.tavm TEST.tavm");
    if (a->prompts_file && a->n_cli)
        return tav_cli_usage_error(CMD, "give prompts with -p or --prompts, not both");
    return 0;
}

/* Scenes of prompt into buf; an error names a word either model lacks. */
static tav_status prompt_scenes(tav_pipeline *const pl[2], const char *const names[2],
                                const char *prompt, char *buf, size_t size, const char **scenes,
                                int *n)
{
    *n = tav_quant_split_scenes(prompt, buf, size, scenes);
    if (*n == 0)
        return tav_fail(TAV_ERR_INVALID_ARG, "prompt '%s' has no scene", prompt);
    for (int m = 0; m < 2; m++) {
        tav_status st = tav_pipeline_check_prompts(pl[m], scenes, *n);
        if (st) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", tav_last_error());
            return tav_fail(st, "%s: %s", names[m], msg);
        }
    }
    return TAV_OK;
}

/* Fills prompts with the caller's, or the built-in captions both models know. */
static tav_status pick_prompts(const cmp_args *a, tav_pipeline *const pl[2], char **owned,
                               size_t *n_owned, const char **prompts, size_t *n)
{
    *n = 0;
    if (a->prompts_file) {
        if (tav_quant_read_prompts(a->prompts_file, MAX_PROMPTS, owned, n_owned))
            return TAV_ERR_INVALID_ARG;
        for (size_t i = 0; i < *n_owned; i++)
            prompts[(*n)++] = owned[i];
        return TAV_OK;
    }
    for (size_t i = 0; i < a->n_cli; i++)
        prompts[(*n)++] = a->cli_prompts[i];
    if (*n)
        return TAV_OK;
    for (int i = 0; tav_quant_builtin_prompt(i); i++) {
        char buf[4096];
        const char *scenes[TAV_MAX_SCENES];
        int ns = tav_quant_split_scenes(tav_quant_builtin_prompt(i), buf, sizeof buf, scenes);
        if (tav_pipeline_check_prompts(pl[0], scenes, ns) == TAV_OK &&
            tav_pipeline_check_prompts(pl[1], scenes, ns) == TAV_OK)
            prompts[(*n)++] = tav_quant_builtin_prompt(i);
    }
    tav_clear_error();
    if (*n == 0)
        return tav_fail(TAV_ERR_UNKNOWN_WORD, "no built-in prompt fits these models' vocabulary; "
                        "give prompts with -p or --prompts");
    return TAV_OK;
}

static tav_status compare_all(const cmp_args *a, tav_pipeline *const pl[2], const char **prompts,
                              size_t n)
{
    const char *const names[2] = {a->ref, a->test};
    char buf[4096];
    const char *scenes[TAV_MAX_SCENES];
    int ns;
    for (size_t i = 0; i < n; i++) { /* every prompt checked before anything runs */
        tav_status st = prompt_scenes(pl, names, prompts[i], buf, sizeof buf, scenes, &ns);
        if (st) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s", tav_last_error());
            return tav_fail(st, "prompt %zu: %s", i + 1, msg);
        }
    }
    printf("reference %s\ntest      %s\n%zu prompts x %ld seeds (%" PRIu64 "..%" PRIu64
           "), default steps and guidance\n\n",
           a->ref, a->test, n, a->seeds, a->seed, a->seed + (uint64_t)a->seeds - 1);
    printf("%-10s %6s  %10s  %8s  %8s  %4s\n", "prompt", "frames", "frame NMSE", "PSNR dB",
           "mean|d|", "max");
    tav_quant_cmp_stats all = {0};
    for (size_t i = 0; i < n; i++) {
        char label[32];
        ns = tav_quant_split_scenes(prompts[i], buf, sizeof buf, scenes);
        tav_quant_cmp_stats s = {0};
        for (long k = 0; k < a->seeds; k++) {
            tav_status st = tav_quant_compare_run(pl[0], pl[1], scenes, ns,
                                                  a->seed + (uint64_t)k, (int)a->threads, &s);
            if (st)
                return st;
        }
        snprintf(label, sizeof label, "%zu", i + 1);
        print_row(label, &s);
        tav_quant_cmp_merge(&all, &s);
    }
    print_row("overall", &all);
    for (size_t i = 0; i < n; i++)
        printf("  prompt %zu: %s\n", i + 1, prompts[i]);
    return TAV_OK;
}

int tav_quant_cmd_compare(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        usage(stdout);
        return TAV_EXIT_OK;
    }
    cmp_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    tav_pipeline *pl[2] = {NULL, NULL};
    char *owned[MAX_PROMPTS];
    const char *prompts[MAX_PROMPTS];
    size_t n_owned = 0, n = 0;
    tav_status st = tav_pipeline_open(a.ref, &pl[0]);
    if (!st)
        st = tav_pipeline_open(a.test, &pl[1]);
    if (!st && (st = tav_quant_compare_check(pl[0], pl[1])) != TAV_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", tav_last_error());
        st = tav_fail(st, "%s and %s cannot be compared: %s", a.ref, a.test, msg);
    }
    if (!st)
        st = pick_prompts(&a, pl, owned, &n_owned, prompts, &n);
    if (!st)
        st = compare_all(&a, pl, prompts, n);
    if (st) {
        if (tav_last_error()[0]) /* read_prompts has printed its own message */
            fprintf(stderr, "tav %s: %s\n", CMD, tav_last_error());
        rc = TAV_EXIT_FAIL;
    }
    for (size_t i = 0; i < n_owned; i++)
        tav_free(owned[i]);
    tav_pipeline_close(pl[1]);
    tav_pipeline_close(pl[0]);
    return rc;
}
