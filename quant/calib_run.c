/* calib_run.c — runs calibration prompts through the fp32 engine for the quantiser.
 *
 * The engine (core/pipeline.h) calls a process-wide linear hook
 * (core/linear.h: tav_engine_set_linear_hook) on every fp32 linear and conv
 * call with the layer's input and its output before the activation; the hook
 * hands both to the calibrator (quant/calib.c), which recomputes the call in
 * int8 and accumulates the error. Whole generations are run, classifier-free
 * guidance included, so every layer sees the activations it sees in use.
 *
 * Prompts: the caller's, or the built-in captions below (written by the
 * training caption grammar, train/data/captions.py) that the model's
 * vocabulary covers, topped up to TAV_QUANT_CALIB_MIN_PROMPTS with prompts
 * made from the vocabulary's own words (so any model can be calibrated).
 */
#include "quant/quant_priv.h"

#include "core/linear.h"
#include "core/log.h"
#include "core/pipeline.h"

#include <stdio.h>
#include <string.h>

/* Fewest prompts a calibration runs; each is one generation. */
#define TAV_QUANT_CALIB_MIN_PROMPTS 3
#define CALIB_MAX_PROMPTS 64
#define CALIB_SEED 20261125u /* prompt i uses seed CALIB_SEED + i */

static const char *const builtin_prompts[] = {
    "the stamping press presses down on the black tube, wide shot",
    "close view: a purple drum sliding along at the loading bay | the red box gets checked at "
    "the inspection station in a wide view",
    "conveyor belt, wide view: the green rim moves along | wide view: the drill press drills a "
    "white can | the purple gear gets pressed flat at the stamping press in a close view",
    "a red gear moves along the conveyor | Close view: the press stamps a blue plate",
    "the black pipe is hoisted up at the conveyor belt in a wide shot | a black corner bracket "
    "is raised at the conveyor belt, close view",
};
#define N_BUILTIN (sizeof builtin_prompts / sizeof builtin_prompts[0])

int tav_quant_calib_available(void) { return 1; }

/* ---------------------------------------------------------------- the hook */

typedef struct hook_ctx {
    tav_quant_calib *c;
    tav_status st; /* first error, reported after the generation */
    char msg[256];
} hook_ctx;

static void on_linear(void *user, const char *name, const float *x, int m, int k, const float *y,
                      int n)
{
    hook_ctx *h = user;
    if (h->st)
        return;
    tav_status st = tav_quant_calib_observe(h->c, name, x, m, k, y, n);
    if (st) {
        h->st = st;
        snprintf(h->msg, sizeof h->msg, "%s", tav_last_error());
    }
}

/* ---------------------------------------------------------------- prompts */

const char *tav_quant_builtin_prompt(int i)
{
    return i >= 0 && (size_t)i < N_BUILTIN ? builtin_prompts[i] : NULL;
}

int tav_quant_split_scenes(const char *prompt, char *buf, size_t size, const char **scenes)
{
    snprintf(buf, size, "%s", prompt);
    int n = 0;
    for (char *s = buf; s && n < TAV_MAX_SCENES;) {
        char *bar = strchr(s, '|');
        if (bar)
            *bar = 0;
        while (*s == ' ')
            s++;
        size_t len = strlen(s);
        while (len && s[len - 1] == ' ')
            s[--len] = 0;
        if (len)
            scenes[n++] = s;
        s = bar ? bar + 1 : NULL;
    }
    return n;
}

/* Prompt i made of vocabulary words: two scenes of six words each. */
static void vocab_prompt(const tav_model *in, int i, char *out, size_t size)
{
    const char *const *v;
    size_t n = 0, used = 0;
    out[0] = 0;
    if (tav_model_meta_get_strs(in, "tokenizer.vocab", &v, &n) != TAV_OK)
        return;
    const char *words[CALIB_MAX_PROMPTS * 4];
    size_t nw = 0;
    for (size_t j = 0; j < n && nw < sizeof words / sizeof *words; j++)
        if (v[j][0] && v[j][0] != '<')
            words[nw++] = v[j];
    if (nw == 0)
        return;
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 6 && used < size; j++) {
            const char *w = words[((size_t)i * 7 + (size_t)s * 13 + (size_t)j * 3) % nw];
            used += (size_t)snprintf(out + used, size - used, "%s%s", j ? " " : s ? " | " : "", w);
        }
}

/* ---------------------------------------------------------------- run */

static tav_status run_one(tav_pipeline *pl, hook_ctx *h, const char *prompt, uint64_t seed)
{
    char buf[4096];
    const char *scenes[TAV_MAX_SCENES];
    int n = tav_quant_split_scenes(prompt, buf, sizeof buf, scenes);
    if (n == 0)
        return tav_fail(TAV_ERR_INVALID_ARG, "calibration prompt '%s' has no scene", prompt);
    TAV_LOG_INFO("calibration: %d scene%s, seed %llu: %s", n, n == 1 ? "" : "s",
                 (unsigned long long)seed, prompt);
    tav_gen_params gp = tav_gen_default_params();
    gp.scenes = scenes;
    gp.n_scenes = n;
    gp.seed = seed;
    gp.discard_frames = 1;
    /* One thread: the VAE's frame-parallel calls would otherwise reach the
     * hook in a varying order, and the double sums (so a threshold decision
     * right at the edge) could differ between runs. */
    gp.threads = 1;
    tav_video v;
    tav_engine_set_linear_hook(on_linear, h);
    tav_status st = tav_pipeline_generate(pl, &gp, &v);
    tav_engine_set_linear_hook(NULL, NULL);
    if (!st)
        tav_video_free(&v);
    if (!st && h->st)
        st = tav_fail(h->st, "%s", h->msg);
    return st;
}

tav_status tav_quant_calib_run(const tav_model *in, const char *path, const tav_quant_params *p,
                               tav_quant_calib *c, char *note, size_t note_size)
{
    if (!path) {
        snprintf(note, note_size, "not run: the model did not come from a file the engine can open");
        return tav_fail(TAV_ERR_UNSUPPORTED, "%s", note);
    }
    tav_pipeline *pl;
    tav_status st = tav_pipeline_open_flags(path, TAV_MODEL_NO_VERIFY, &pl);
    if (st) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", tav_last_error());
        return tav_fail(st, "calibration: the engine cannot open the model (--no-calib skips "
                           "calibration): %s", msg);
    }
    hook_ctx h = {.c = c};
    int n_run = 0, n_builtin = 0, n_vocab = 0;
    if (p->n_calib_prompts) { /* the caller's prompts: an unknown word is an error */
        for (size_t i = 0; !st && i < p->n_calib_prompts && i < CALIB_MAX_PROMPTS; i++) {
            st = run_one(pl, &h, p->calib_prompts[i], CALIB_SEED + (uint64_t)i);
            n_run += !st;
            if (st) {
                char msg[256];
                snprintf(msg, sizeof msg, "%s", tav_last_error());
                st = tav_fail(st, "calibration prompt %zu: %s", i + 1, msg);
            }
        }
    } else {
        for (size_t i = 0; !st && i < N_BUILTIN; i++) {
            char buf[4096];
            const char *scenes[TAV_MAX_SCENES];
            int n = tav_quant_split_scenes(builtin_prompts[i], buf, sizeof buf, scenes);
            if (tav_pipeline_check_prompts(pl, scenes, n) != TAV_OK) {
                tav_clear_error(); /* not this model's words: skip it */
                continue;
            }
            st = run_one(pl, &h, builtin_prompts[i], CALIB_SEED + (uint64_t)n_run);
            n_run += !st;
            n_builtin += !st;
        }
        for (int i = 0; !st && n_run < TAV_QUANT_CALIB_MIN_PROMPTS && i < CALIB_MAX_PROMPTS; i++) {
            char prompt[1024];
            vocab_prompt(in, i, prompt, sizeof prompt);
            st = run_one(pl, &h, prompt, CALIB_SEED + (uint64_t)n_run);
            n_run += !st;
            n_vocab += !st;
        }
    }
    tav_pipeline_close(pl);
    if (st)
        return st;
    if (p->n_calib_prompts)
        snprintf(note, note_size,
                 "%d prompts from the caller, seeds %u.., fp32 engine (1 thread), default steps and "
                 "guidance; %ld linear calls not measured",
                 n_run, CALIB_SEED, tav_quant_calib_unmatched(c));
    else
        snprintf(note, note_size,
                 "%d prompts (%d built-in captions, %d from vocabulary words), seeds %u.., "
                 "fp32 engine (1 thread), default steps and guidance; %ld linear calls not measured",
                 n_run, n_builtin, n_vocab, CALIB_SEED, tav_quant_calib_unmatched(c));
    return TAV_OK;
}
