/* template.h — work-procedure templates: a hand-editable text file in, scene prompts out.
 *
 *   tav_template *t;
 *   if (tav_template_load("assets/templates/drill-bit-change.tmpl", &t) != TAV_OK)
 *       fprintf(stderr, "%s\n", tav_last_error());   // "FILE:LINE: problem"
 *   tav_template_kv vals[] = {{"press", "4"}, {"bit", "small"}};
 *   tav_template_filled f;
 *   if (tav_template_fill(t, vals, 2, &f) == TAV_OK)
 *       for (int i = 0; i < f.n_prompts; i++) puts(f.prompts[i]);
 *   else
 *       for (int i = 0; i < f.n_errors; i++) puts(f.errors[i].message);
 *   tav_template_filled_free(&f);
 *   tav_template_free(t);
 *
 * The format is specified in docs/templates.md: `key = value` lines, `#`
 * comments, a header (title, description), `[field NAME]` sections and
 * ordered `[step]` sections whose captions hold {field} placeholders.
 *
 * Contracts:
 *   - The parser never asserts on file contents: every problem is a
 *     TAV_ERR_FORMAT return whose message names the file, the line and the
 *     problem in plain words. Inputs are bounded (TAV_TEMPLATE_MAX_*).
 *   - A tav_template owns all its strings; it is immutable after parsing and
 *     may be shared between threads for filling.
 *   - tav_template_fill validates every value and reports one plain-words
 *     error per offending field (unknown key, missing required value, out of
 *     range, not one of the choices, too long, wrong form).
 */
#ifndef TAV_KIOSK_TEMPLATE_H
#define TAV_KIOSK_TEMPLATE_H

#include "core/status.h"

#include <stddef.h>

#define TAV_TEMPLATE_MAX_BYTES (64 * 1024) /* a template file, whole         */
#define TAV_TEMPLATE_MAX_LINE 1024         /* one line, bytes                 */
#define TAV_TEMPLATE_MAX_FIELDS 16
#define TAV_TEMPLATE_MAX_STEPS 6 /* = TAV_MAX_SCENES in core/pipeline.h      */
#define TAV_TEMPLATE_MAX_CHOICES 32
#define TAV_TEMPLATE_NAME_MAX 32        /* field names: [a-z0-9_], 1..32 chars */
#define TAV_TEMPLATE_TEXT_MAX 200       /* longest allowed text value, bytes  */
#define TAV_TEMPLATE_PROMPT_MAX 400     /* longest filled scene prompt, bytes */

typedef enum tav_field_type {
    TAV_FIELD_TEXT = 0,
    TAV_FIELD_NUMBER = 1,
    TAV_FIELD_CHOICE = 2,
} tav_field_type;

typedef struct tav_template_field {
    char *name;        /* [a-z0-9_]+, used as {name} in captions            */
    char *label;       /* what the operator sees; defaults to name          */
    char *help;        /* optional hint under the input, or NULL            */
    tav_field_type type;
    int required;      /* 1: an empty value is an error                     */
    int has_min, has_max;
    double min, max;   /* number: inclusive bounds when has_min / has_max   */
    int integer;       /* number: only whole numbers                        */
    int max_length;    /* text: bytes, 1..TAV_TEMPLATE_TEXT_MAX (default 40) */
    char *pattern;     /* text: optional POSIX extended regex, whole value  */
    char **choices;    /* choice: n_choices allowed values                  */
    int n_choices;
    char *default_value; /* optional, or NULL                               */
    char *example;     /* optional sample value (input hint, `tav template check`) */
} tav_template_field;

typedef struct tav_template_step {
    char *caption;   /* scene caption with {field} placeholders              */
    double seconds;  /* wanted scene length, 0 = the model's choice           */
} tav_template_step;

typedef struct tav_template {
    char *id;          /* file name without directory and ".tmpl"          */
    char *title;
    char *description; /* may be ""                                          */
    char *summary;     /* optional one-line label with placeholders, or NULL */
    tav_template_field fields[TAV_TEMPLATE_MAX_FIELDS];
    int n_fields;
    tav_template_step steps[TAV_TEMPLATE_MAX_STEPS];
    int n_steps;
} tav_template;

typedef struct tav_template_kv {
    const char *key;
    const char *value;
} tav_template_kv;

typedef struct tav_template_fill_error {
    char field[TAV_TEMPLATE_NAME_MAX + 1]; /* the field (or unknown key) named */
    char message[240];                     /* plain words for the operator     */
} tav_template_fill_error;

#define TAV_TEMPLATE_MAX_FILL_ERRORS (TAV_TEMPLATE_MAX_FIELDS + 8)

typedef struct tav_template_filled {
    char *prompts[TAV_TEMPLATE_MAX_STEPS]; /* owned; one scene per step      */
    double seconds[TAV_TEMPLATE_MAX_STEPS];
    int n_prompts;
    char *summary;     /* owned: the filled summary line (the title if none)  */
    tav_template_fill_error errors[TAV_TEMPLATE_MAX_FILL_ERRORS];
    int n_errors;
} tav_template_filled;

/* Parses template text. `name` is used in error messages and to derive the
 * id (directory and ".tmpl" stripped). On success *out owns everything;
 * free with tav_template_free. Errors: TAV_ERR_FORMAT ("NAME:LINE: ..."),
 * TAV_ERR_LIMIT (too large), TAV_ERR_NOMEM. */
tav_status tav_template_parse(const char *text, size_t len, const char *name,
                              tav_template **out);

/* Reads and parses a file. Adds TAV_ERR_IO to the errors above. */
tav_status tav_template_load(const char *path, tav_template **out);

void tav_template_free(tav_template *t);

/* Finds a field by name, or NULL. */
const tav_template_field *tav_template_find_field(const tav_template *t, const char *name);

/* Validates values and fills every step's caption. Always initialises *out
 * (free it with tav_template_filled_free, even on error). Returns TAV_OK with
 * n_prompts == t->n_steps, or TAV_ERR_INVALID_ARG with out->errors listing
 * every problem (tav_last_error() holds the first), or TAV_ERR_NOMEM. */
tav_status tav_template_fill(const tav_template *t, const tav_template_kv *values, int n_values,
                             tav_template_filled *out);

void tav_template_filled_free(tav_template_filled *f);

/* Loads every "*.tmpl" of dir, sorted by id. Files that fail to parse are
 * skipped with a warning logged (a supervisor's typo must not take the
 * kiosk down). *out is an array of *n templates; free with
 * tav_template_list_free. Errors: TAV_ERR_IO (dir unreadable), TAV_ERR_NOMEM. */
tav_status tav_template_load_dir(const char *dir, tav_template ***out, int *n);
void tav_template_list_free(tav_template **list, int n);

#endif
