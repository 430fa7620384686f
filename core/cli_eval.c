/* cli_eval.c — `tav eval`: the evaluation of docs/results.md (scene-count accuracy, per-scene
 * adherence, quality). The work is in the Python toolchain (train/eval/run.py: it drives this
 * binary's `generate` and `scenes` per prompt and judges the frames with a small CNN), so this
 * command only runs `python3 -m train.eval.run ARGS...` from the source tree the binary sits in
 * (PYTHONPATH = that directory; $TAV_PYTHON overrides the interpreter). A product install without
 * train/ says so and exits 1. */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PYTHON "/usr/bin/python3"

/* The directory holding this executable, from /proc/self/exe. */
static int exe_dir(char *out, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len <= 0)
        return -1;
    out[len] = 0;
    char *slash = strrchr(out, '/');
    if (!slash)
        return -1;
    *slash = 0;
    return 0;
}

int tav_cmd_eval(int argc, char **argv)
{
    char root[PATH_MAX], script[PATH_MAX + 32];
    struct stat st;
    if (exe_dir(root, sizeof root) != 0) {
        fprintf(stderr, "tav eval: cannot find the directory of the tav binary\n");
        return TAV_EXIT_FAIL;
    }
    snprintf(script, sizeof script, "%s/train/eval/run.py", root);
    if (stat(script, &st) != 0) {
        if (tav_cli_wants_help(argc, argv)) {
            printf("usage: tav eval [--model M.tavm] --prompts P.jsonl --out DIR [options]\n"
                   "Runs python3 -m train.eval.run from the source tree (not found beside %s).\n",
                   root);
            return TAV_EXIT_OK;
        }
        fprintf(stderr, "tav eval: needs the source tree's train/eval/ beside the binary (%s not "
                        "found); run `python3 -m train.eval.run` from a checkout\n", script);
        return TAV_EXIT_FAIL;
    }
    const char *py = getenv("TAV_PYTHON");
    if (!py || !*py)
        py = DEFAULT_PYTHON;
    if (setenv("PYTHONPATH", root, 1) != 0 || setenv("TAV_EVAL_PROG", "tav eval", 1) != 0)
        return TAV_EXIT_FAIL;
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args)
        return TAV_EXIT_FAIL;
    args[0] = (char *)py;
    args[1] = "-m";
    args[2] = "train.eval.run";
    for (int i = 1; i < argc; i++)
        args[2 + i] = argv[i];
    fflush(stdout);
    execv(py, args);
    fprintf(stderr, "tav eval: cannot run %s (set TAV_PYTHON to a python3 with torch)\n", py);
    free(args);
    return TAV_EXIT_FAIL;
}
