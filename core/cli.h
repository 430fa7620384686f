/* cli.h — the `tav` command's subcommands and the helpers they share.
 *
 * Each subcommand is `int tav_cmd_<name>(int argc, char **argv)` where
 * argv[0] is the subcommand's name; it returns the process exit status:
 * 0 success, 1 failure at run time, 2 bad usage (unknown flag, missing
 * argument). Every subcommand answers --help/-h with its usage on stdout.
 * Subcommands live beside the module they drive (core/cli_info.c,
 * simd/cli_bench.c, kiosk/cli_kiosk.c, ...); the table is in core/cli.c.
 */
#ifndef TAV_CLI_H
#define TAV_CLI_H

#define TAV_EXIT_OK 0
#define TAV_EXIT_FAIL 1
#define TAV_EXIT_USAGE 2

/* Prints "tav <cmd>: <message>\nTry 'tav <cmd> --help'." to stderr and
 * returns TAV_EXIT_USAGE. */
int tav_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True if argv[1..] contains -h or --help before any "--". */
int tav_cli_wants_help(int argc, char **argv);

/* Parses a decimal integer in [lo, hi]; returns 0 on success, -1 otherwise. */
int tav_cli_parse_long(const char *s, long lo, long hi, long *out);

int tav_cmd_version(int argc, char **argv);
int tav_cmd_info(int argc, char **argv);
int tav_cmd_generate(int argc, char **argv); /* core/cli_generate.c */
int tav_cmd_template(int argc, char **argv); /* kiosk/cli_template.c */
int tav_cmd_quantize(int argc, char **argv); /* quant/cli_quantize.c */
int tav_cmd_kiosk(int argc, char **argv);    /* kiosk/cli_kiosk.c */
int tav_cmd_bench(int argc, char **argv);    /* core/cli_bench.c */
int tav_cmd_scenes(int argc, char **argv);   /* core/cli_scenes.c */
int tav_cmd_eval(int argc, char **argv);     /* core/cli_eval.c: runs python3 -m train.eval.run */

#endif
