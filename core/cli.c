/* cli.c — `tav`: global flags, the subcommand table, and dispatch. */
#include "cli.h"
#include "log.h"
#include "version.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- table */

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv); /* NULL: planned, not built yet */
    const char *summary;
} subcommand;

static const subcommand commands[] = {
    {"version", tav_cmd_version, "print the version and build configuration"},
    {"info", tav_cmd_info, "show a model file's metadata and tensor table"},
    {"generate", tav_cmd_generate, "make a video from scene prompts"},
    {"quantize", tav_cmd_quantize, "turn an fp32 model file into an int8 one"},
    {"bench", tav_cmd_bench, "measure kernels and generation speed"},
    {"scenes", tav_cmd_scenes, "detect scene cuts in a video"},
    {"template", tav_cmd_template, "fill a procedure template into scene prompts"},
    {"kiosk", tav_cmd_kiosk, "serve the operator web page"},
    {"eval", tav_cmd_eval, "measure scene-count accuracy and adherence (train/eval)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: tav [-q|-v] <command> [options]\n"
            "\n"
            "tav-edge %s: offline text-to-video for work procedures.\n"
            "\n"
            "Commands:\n",
            TAV_VERSION_STRING);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s%s\n", commands[i].name, commands[i].summary,
                commands[i].run ? "" : " (not built yet)");
    fprintf(f,
            "\n"
            "Global options:\n"
            "  -q, --quiet    print errors only\n"
            "  -v, --verbose  print debug messages\n"
            "  -h, --help     this text; 'tav <command> --help' for a command\n");
}

/* ---------------------------------------------------------------- helpers */

int tav_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "tav %s: %s\nTry 'tav %s --help'.\n", cmd, msg, cmd);
    else
        fprintf(stderr, "tav: %s\nTry 'tav --help'.\n", msg);
    return TAV_EXIT_USAGE;
}

int tav_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

int tav_cli_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
            tav_log_set_level(TAV_LOG_QUIET);
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            tav_log_set_level(TAV_LOG_DEBUG);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(stdout);
            return TAV_EXIT_OK;
        } else if (!strcmp(a, "--version"))
            return tav_cmd_version(1, (char *[]){"version", NULL});
        else
            return tav_cli_usage_error(NULL, "unknown option '%s'", a);
    }
    if (i == argc) {
        print_usage(stderr);
        return TAV_EXIT_USAGE;
    }
    const char *name = argv[i];
    for (size_t c = 0; c < N_COMMANDS; c++) {
        if (strcmp(commands[c].name, name) != 0)
            continue;
        if (!commands[c].run) {
            fprintf(stderr, "tav: '%s' is planned but not built in this version (%s).\n", name,
                    TAV_VERSION_STRING);
            return TAV_EXIT_FAIL;
        }
        return commands[c].run(argc - i, argv + i);
    }
    return tav_cli_usage_error(NULL, "unknown command '%s'", name);
}
