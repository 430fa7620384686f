/* cli_template.c — `tav template list|show|fill`: procedure templates from the shell. */
#include "core/cli.h"
#include "core/pipeline.h"
#include "kiosk/engine.h"
#include "kiosk/template.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tav template list DIR\n"
            "       tav template show FILE\n"
            "       tav template fill FILE [key=value ...]\n"
            "       tav template check [--model MODEL] FILE|DIR ...\n"
            "\n"
            "Procedure templates (format: docs/templates.md).\n"
            "  list  one line per template in DIR: id, number of steps, title\n"
            "  show  the template's title, fields with their rules, and steps\n"
            "  fill  validates the values and prints the scene prompts, one per line;\n"
            "        on invalid values prints one error per field on stderr, exit 1\n"
            "  check fills each template with its sample values and every choice, and\n"
            "        checks every prompt against MODEL's vocabulary (default\n"
            "        the shipped model); exit 1 naming any problem\n"
            "\n"
            "Example:\n"
            "  tav template fill assets/templates/drill-bit-change.tmpl press=4 bit=small\n");
}

static const char *type_word(tav_field_type t)
{
    return t == TAV_FIELD_NUMBER ? "number" : t == TAV_FIELD_CHOICE ? "choice" : "text";
}

static int cmd_list(const char *dir)
{
    tav_template **list;
    int n;
    if (tav_template_load_dir(dir, &list, &n) != TAV_OK) {
        fprintf(stderr, "tav template: %s\n", tav_last_error());
        return TAV_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++)
        printf("%-28s %d steps  %s\n", list[i]->id, list[i]->n_steps, list[i]->title);
    tav_template_list_free(list, n);
    return TAV_EXIT_OK;
}

static int cmd_show(const char *path)
{
    tav_template *t;
    if (tav_template_load(path, &t) != TAV_OK) {
        fprintf(stderr, "tav template: %s\n", tav_last_error());
        return TAV_EXIT_FAIL;
    }
    printf("%s\n", t->title);
    if (t->description[0])
        printf("%s\n", t->description);
    printf("\nFields:\n");
    for (int i = 0; i < t->n_fields; i++) {
        const tav_template_field *f = &t->fields[i];
        printf("  %-14s %-6s %s%s", f->name, type_word(f->type), f->label,
               f->required ? " (required)" : "");
        if (f->has_min || f->has_max)
            printf(" [%s%g..%s%g]", f->has_min ? "" : "-", f->has_min ? f->min : 0.0,
                   f->has_max ? "" : "+", f->has_max ? f->max : 0.0);
        if (f->type == TAV_FIELD_TEXT)
            printf(" [at most %d characters]", f->max_length);
        if (f->n_choices) {
            printf(":");
            for (int c = 0; c < f->n_choices; c++)
                printf("%s %s", c ? "," : "", f->choices[c]);
        }
        if (f->default_value)
            printf(" (default %s)", f->default_value);
        printf("\n");
    }
    printf("\nSteps:\n");
    for (int i = 0; i < t->n_steps; i++) {
        printf("  %d. %s", i + 1, t->steps[i].caption);
        if (t->steps[i].seconds > 0)
            printf("  (%g s)", t->steps[i].seconds);
        printf("\n");
    }
    tav_template_free(t);
    return TAV_EXIT_OK;
}

static int cmd_fill(const char *path, int argc, char **argv)
{
    tav_template_kv kv[64];
    char keys[64][TAV_TEMPLATE_NAME_MAX + 8];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            return tav_cli_usage_error("template", "expected key=value, got '%s'", argv[i]);
        if (n == 64)
            return tav_cli_usage_error("template", "too many values (at most 64)");
        size_t kl = (size_t)(eq - argv[i]);
        if (kl >= sizeof keys[0])
            kl = sizeof keys[0] - 1;
        memcpy(keys[n], argv[i], kl);
        keys[n][kl] = '\0';
        kv[n].key = keys[n];
        kv[n].value = eq + 1;
        n++;
    }
    tav_template *t;
    if (tav_template_load(path, &t) != TAV_OK) {
        fprintf(stderr, "tav template: %s\n", tav_last_error());
        return TAV_EXIT_FAIL;
    }
    tav_template_filled f;
    tav_status st = tav_template_fill(t, kv, n, &f);
    if (st == TAV_OK) {
        for (int i = 0; i < f.n_prompts; i++)
            printf("%s\n", f.prompts[i]);
    } else if (f.n_errors) {
        for (int i = 0; i < f.n_errors; i++)
            fprintf(stderr, "tav template: %s: %s\n", f.errors[i].field, f.errors[i].message);
    } else {
        fprintf(stderr, "tav template: %s\n", tav_last_error());
    }
    tav_template_filled_free(&f);
    tav_template_free(t);
    return st == TAV_OK ? TAV_EXIT_OK : TAV_EXIT_FAIL;
}

/* ---------------------------------------------------------------- check */

/* A value the field accepts: default, example, first choice, or a bound. */
static const char *sample_value(const tav_template_field *f, char *buf, size_t cap)
{
    if (f->default_value)
        return f->default_value;
    if (f->example)
        return f->example;
    if (f->type == TAV_FIELD_CHOICE)
        return f->choices[0];
    if (f->type == TAV_FIELD_NUMBER) {
        snprintf(buf, cap, "%.10g", f->has_min ? f->min : f->has_max && f->max < 1 ? f->max : 1);
        return buf;
    }
    return "x";
}

/* Fills t with sample values, varying field `vary` through its choices (-1: none).
 * Returns the number of problems printed. */
static int check_variant(const tav_template *t, const char *path, int vary, int choice,
                         tav_kiosk_engine *eng, int *fill_failed)
{
    tav_template_kv kv[TAV_TEMPLATE_MAX_FIELDS];
    char bufs[TAV_TEMPLATE_MAX_FIELDS][32];
    for (int i = 0; i < t->n_fields; i++) {
        kv[i].key = t->fields[i].name;
        kv[i].value = i == vary ? t->fields[i].choices[choice]
                                : sample_value(&t->fields[i], bufs[i], sizeof bufs[i]);
    }
    tav_template_filled f;
    int problems = 0;
    if (tav_template_fill(t, kv, t->n_fields, &f) != TAV_OK) {
        for (int e = 0; e < f.n_errors; e++)
            fprintf(stderr, "%s: no usable sample value for '%s' (%s); add 'example = ...'\n",
                    path, f.errors[e].field, f.errors[e].message);
        tav_template_filled_free(&f);
        *fill_failed = 1;
        return f.n_errors ? f.n_errors : 1;
    }
    for (int s = 0; eng && s < f.n_prompts; s++) {
        tav_kiosk_job_params jp = tav_kiosk_job_default_params();
        jp.n_scenes = 1;
        snprintf(jp.scenes[0], sizeof jp.scenes[0], "%s", f.prompts[s]);
        if (tav_kiosk_engine_check_prompts(eng, &jp) != TAV_OK) {
            fprintf(stderr, "%s: step %d \"%s\": %s\n", path, s + 1, f.prompts[s], tav_last_error());
            problems++;
        }
    }
    tav_template_filled_free(&f);
    return problems;
}

static int check_file(const char *path, tav_kiosk_engine *eng, int *n_prompts)
{
    tav_template *t;
    if (tav_template_load(path, &t) != TAV_OK) {
        fprintf(stderr, "%s\n", tav_last_error());
        return 1;
    }
    int fill_failed = 0;
    int problems = check_variant(t, path, -1, 0, eng, &fill_failed);
    *n_prompts += t->n_steps;
    for (int i = 0; i < t->n_fields && !fill_failed; i++)
        for (int c = 0; t->fields[i].type == TAV_FIELD_CHOICE && c < t->fields[i].n_choices; c++) {
            problems += check_variant(t, path, i, c, eng, &fill_failed);
            *n_prompts += t->n_steps;
        }
    tav_template_free(t);
    return problems;
}

static int cmd_check(int argc, char **argv)
{
    const char *model = tav_pipeline_default_model();
    int first = 0, model_given = 0;
    if (argc >= 2 && !strcmp(argv[0], "--model")) {
        model = argv[1];
        model_given = 1;
        first = 2;
    }
    if (first >= argc)
        return tav_cli_usage_error("template", "check needs template files or folders");
    tav_kiosk_engine *eng = NULL;
    if (tav_kiosk_engine_open(model, &eng) != TAV_OK || !tav_kiosk_engine_available(eng)) {
        if (model_given) {
            fprintf(stderr, "tav template: cannot check words: %s\n", tav_kiosk_engine_status(eng));
            tav_kiosk_engine_close(eng);
            return TAV_EXIT_FAIL;
        }
        fprintf(stderr, "tav template: note: words not checked (%s)\n", tav_kiosk_engine_status(eng));
        tav_kiosk_engine_close(eng);
        eng = NULL;
    }
    int problems = 0, files = 0, prompts = 0;
    for (int a = first; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[a]);
            struct dirent *e;
            while (d && (e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".tmpl"))
                    continue;
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
                problems += check_file(p, eng, &prompts);
                files++;
            }
            if (d)
                closedir(d);
        } else {
            problems += check_file(argv[a], eng, &prompts);
            files++;
        }
    }
    printf("%d template(s), %d filled prompts%s: %d problem(s)\n", files, prompts,
           eng ? " checked against the model's words" : "", problems);
    tav_kiosk_engine_close(eng);
    return problems ? TAV_EXIT_FAIL : TAV_EXIT_OK;
}

int tav_cmd_template(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        usage(stdout);
        return TAV_EXIT_OK;
    }
    if (argc < 2)
        return tav_cli_usage_error("template", "missing action (list, show, fill or check)");
    const char *act = argv[1];
    if (!strcmp(act, "list")) {
        if (argc != 3)
            return tav_cli_usage_error("template", "list takes one folder");
        return cmd_list(argv[2]);
    }
    if (!strcmp(act, "show")) {
        if (argc != 3)
            return tav_cli_usage_error("template", "show takes one file");
        return cmd_show(argv[2]);
    }
    if (!strcmp(act, "fill")) {
        if (argc < 3)
            return tav_cli_usage_error("template", "fill needs a file");
        return cmd_fill(argv[2], argc - 3, argv + 3);
    }
    if (!strcmp(act, "check"))
        return cmd_check(argc - 2, argv + 2);
    return tav_cli_usage_error("template", "unknown action '%s' (list, show, fill or check)", act);
}
