/* cli_version.c — `tav version`: version and build configuration. */
#include "cli.h"
#include "version.h"

#include <stdio.h>

int tav_cmd_version(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        printf("usage: tav version\n\nPrints the engine version, compiler and target.\n");
        return TAV_EXIT_OK;
    }
    if (argc > 1)
        return tav_cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("tav-edge %s\n", TAV_VERSION_STRING);
#if defined(__clang__)
    printf("compiler: clang %s\n", __clang_version__);
#elif defined(__GNUC__)
    printf("compiler: gcc %s\n", __VERSION__);
#endif
#if defined(__x86_64__)
    printf("target: x86-64\n");
#elif defined(__aarch64__)
    printf("target: aarch64\n");
#else
    printf("target: other\n");
#endif
    return TAV_EXIT_OK;
}
