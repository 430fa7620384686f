/* cli_template.c — `tav template list|show|fill`: procedure templates from the shell. */
#include "core/cli.h"
#include "kiosk/template.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tav template list DIR\n"
            "       tav template show FILE\n"
            "       tav template fill FILE [key=value ...]\n"
            "\n"
            "Procedure templates (format: docs/templates.md).\n"
            "  list  one line per template in DIR: id, number of steps, title\n"
            "  show  the template's title, fields with their rules, and steps\n"
            "  fill  validates the values and prints the scene prompts, one per line;\n"
            "        on invalid values prints one error per field on stderr, exit 1\n"
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

int tav_cmd_template(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        usage(stdout);
        return TAV_EXIT_OK;
    }
    if (argc < 2)
        return tav_cli_usage_error("template", "missing action (list, show or fill)");
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
    return tav_cli_usage_error("template", "unknown action '%s' (list, show or fill)", act);
}
