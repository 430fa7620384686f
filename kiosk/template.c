/* template.c — the procedure template parser and filler (format: docs/templates.md). */
#include "kiosk/template.h"

#include "core/log.h"
#include "core/mem.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- small helpers */

static char *dup_range(const char *s, size_t n)
{
    char *d = tav_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *dup_str(const char *s) { return dup_range(s, strlen(s)); }

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > TAV_TEMPLATE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

/* True if s (n bytes) holds no control characters and no NUL. */
static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* A finite decimal number filling the whole string. */
static int parse_number(const char *v, double *out)
{
    if (!*v)
        return -1;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !isfinite(d))
        return -1;
    /* strtod accepts hex floats, "inf" and "nan": a supervisor means decimals. */
    for (const char *p = v; *p; p++)
        if (!(isdigit((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+' || *p == 'e' ||
              *p == 'E'))
            return -1;
    *out = d;
    return 0;
}

/* ---------------------------------------------------------------- free */

static void field_free(tav_template_field *f)
{
    tav_free(f->name);
    tav_free(f->label);
    tav_free(f->help);
    tav_free(f->pattern);
    tav_free(f->default_value);
    tav_free(f->example);
    for (int i = 0; i < f->n_choices; i++)
        tav_free(f->choices[i]);
    tav_free(f->choices);
}

void tav_template_free(tav_template *t)
{
    if (!t)
        return;
    tav_free(t->id);
    tav_free(t->title);
    tav_free(t->description);
    tav_free(t->summary);
    for (int i = 0; i < t->n_fields; i++)
        field_free(&t->fields[i]);
    for (int i = 0; i < t->n_steps; i++)
        tav_free(t->steps[i].caption);
    tav_free(t);
}

const tav_template_field *tav_template_find_field(const tav_template *t, const char *name)
{
    for (int i = 0; i < t->n_fields; i++)
        if (!strcmp(t->fields[i].name, name))
            return &t->fields[i];
    return NULL;
}

/* ---------------------------------------------------------------- parser */

typedef enum { SEC_HEADER, SEC_FIELD, SEC_STEP } section_kind;

typedef struct parser {
    const char *name; /* for messages */
    int line;
    tav_template *t;
    section_kind sec;
    int sec_line;     /* where the current section began */
    unsigned seen;    /* bit set of keys already given in this section */
    int type_given;
} parser;

#define PFAIL(p, ...) perr((p), __VA_ARGS__)

__attribute__((format(printf, 2, 3))) static tav_status perr(parser *p, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tav_fail(TAV_ERR_FORMAT, "%s:%d: %s", p->name, p->line, msg);
}

/* Keys of each section, indexed for the duplicate check (`seen` bits). */
static const char *const header_keys[] = {"title", "description", "summary", NULL};
static const char *const field_keys[] = {"label", "type",    "required", "min",     "max",
                                         "integer", "max_length", "pattern", "choices", "default",
                                         "help",  "example", NULL};
static const char *const step_keys[] = {"caption", "seconds", NULL};

static int key_index(const char *const *keys, const char *k)
{
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], k))
            return i;
    return -1;
}

static tav_status set_str(parser *p, char **dst, const char *v)
{
    char *d = dup_str(v);
    if (!d)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", p->name);
    tav_free(*dst);
    *dst = d;
    return TAV_OK;
}

static tav_status parse_choices(parser *p, tav_template_field *f, const char *v)
{
    char **list = tav_calloc(TAV_TEMPLATE_MAX_CHOICES, sizeof *list);
    if (!list)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", p->name);
    int n = 0;
    tav_status st = TAV_OK;
    const char *s = v;
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        while (s < e && isspace((unsigned char)*s))
            s++;
        const char *ee = e;
        while (ee > s && isspace((unsigned char)ee[-1]))
            ee--;
        if (ee == s) {
            st = PFAIL(p, "an empty choice in the list (two commas, or a comma at the end)");
            break;
        }
        if (n == TAV_TEMPLATE_MAX_CHOICES) {
            st = PFAIL(p, "more than %d choices", TAV_TEMPLATE_MAX_CHOICES);
            break;
        }
        if ((size_t)(ee - s) > TAV_TEMPLATE_TEXT_MAX) {
            st = PFAIL(p, "a choice longer than %d characters", TAV_TEMPLATE_TEXT_MAX);
            break;
        }
        if (memchr(s, '{', (size_t)(ee - s)) || memchr(s, '}', (size_t)(ee - s))) {
            st = PFAIL(p, "a choice may not contain '{' or '}'");
            break;
        }
        for (int i = 0; i < n; i++)
            if (strlen(list[i]) == (size_t)(ee - s) && !strncasecmp(list[i], s, (size_t)(ee - s))) {
                st = PFAIL(p, "the choice '%s' is listed twice", list[i]);
                goto done;
            }
        list[n] = dup_range(s, (size_t)(ee - s));
        if (!list[n]) {
            st = tav_fail(TAV_ERR_NOMEM, "%s: out of memory", p->name);
            break;
        }
        n++;
        if (!comma)
            break;
        s = comma + 1;
    }
done:
    if (st != TAV_OK) {
        for (int i = 0; i < n; i++)
            tav_free(list[i]);
        tav_free(list);
        return st;
    }
    for (int i = 0; i < f->n_choices; i++)
        tav_free(f->choices[i]);
    tav_free(f->choices);
    f->choices = list;
    f->n_choices = n;
    return TAV_OK;
}

static tav_status field_key(parser *p, tav_template_field *f, int k, const char *v)
{
    double d;
    switch (k) {
    case 0: return set_str(p, &f->label, v);
    case 1:
        if (!strcmp(v, "text"))
            f->type = TAV_FIELD_TEXT;
        else if (!strcmp(v, "number"))
            f->type = TAV_FIELD_NUMBER;
        else if (!strcmp(v, "choice"))
            f->type = TAV_FIELD_CHOICE;
        else
            return PFAIL(p, "type must be text, number or choice, not '%s'", v);
        p->type_given = 1;
        return TAV_OK;
    case 2:
        if (parse_bool(v, &f->required))
            return PFAIL(p, "required must be yes or no, not '%s'", v);
        return TAV_OK;
    case 3:
    case 4:
        if (parse_number(v, &d))
            return PFAIL(p, "%s must be a number, not '%s'", k == 3 ? "min" : "max", v);
        if (k == 3) {
            f->min = d;
            f->has_min = 1;
        } else {
            f->max = d;
            f->has_max = 1;
        }
        return TAV_OK;
    case 5:
        if (parse_bool(v, &f->integer))
            return PFAIL(p, "integer must be yes or no, not '%s'", v);
        return TAV_OK;
    case 6:
        if (parse_number(v, &d) || d != floor(d) || d < 1 || d > TAV_TEMPLATE_TEXT_MAX)
            return PFAIL(p, "max_length must be a whole number from 1 to %d, not '%s'",
                         TAV_TEMPLATE_TEXT_MAX, v);
        f->max_length = (int)d;
        return TAV_OK;
    case 7: {
        regex_t re;
        int rc = regcomp(&re, v, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[120];
            regerror(rc, &re, why, sizeof why);
            return PFAIL(p, "pattern is not a valid regular expression: %s", why);
        }
        regfree(&re);
        return set_str(p, &f->pattern, v);
    }
    case 8: return parse_choices(p, f, v);
    case 9: return set_str(p, &f->default_value, v);
    case 10: return set_str(p, &f->help, v);
    case 11: return set_str(p, &f->example, v);
    }
    return tav_fail(TAV_ERR_INTERNAL, "%s:%d: unhandled key", p->name, p->line);
}

static tav_status step_key(parser *p, tav_template_step *s, int k, const char *v)
{
    if (k == 0) {
        if (strlen(v) > TAV_TEMPLATE_PROMPT_MAX)
            return PFAIL(p, "caption is longer than %d characters", TAV_TEMPLATE_PROMPT_MAX);
        return set_str(p, &s->caption, v);
    }
    double d;
    if (parse_number(v, &d) || d < 0.5 || d > 10)
        return PFAIL(p, "seconds must be a number from 0.5 to 10, not '%s'", v);
    s->seconds = d;
    return TAV_OK;
}

/* Checks the section that just ended (or the header at end of file). */
static tav_status close_section(parser *p)
{
    tav_template *t = p->t;
    int line = p->line;
    p->line = p->sec_line;
    tav_status st = TAV_OK;
    if (p->sec == SEC_FIELD) {
        tav_template_field *f = &t->fields[t->n_fields - 1];
        if (!p->type_given)
            st = PFAIL(p, "field '%s' has no type (text, number or choice)", f->name);
        else if (f->type == TAV_FIELD_CHOICE && f->n_choices == 0)
            st = PFAIL(p, "choice field '%s' has no choices", f->name);
        else if (f->type != TAV_FIELD_CHOICE && f->n_choices)
            st = PFAIL(p, "field '%s' lists choices but is not of type choice", f->name);
        else if (f->type != TAV_FIELD_NUMBER && (f->has_min || f->has_max || f->integer))
            st = PFAIL(p, "min, max and integer apply to number fields only ('%s')", f->name);
        else if (f->type != TAV_FIELD_TEXT && f->pattern)
            st = PFAIL(p, "pattern applies to text fields only ('%s')", f->name);
        else if (f->has_min && f->has_max && f->min > f->max)
            st = PFAIL(p, "field '%s' has min greater than max", f->name);
        else if (!f->label && !(f->label = dup_str(f->name)))
            st = tav_fail(TAV_ERR_NOMEM, "%s: out of memory", p->name);
        if (st == TAV_OK && f->max_length == 0)
            f->max_length = 40;
    } else if (p->sec == SEC_STEP) {
        if (!t->steps[t->n_steps - 1].caption)
            st = PFAIL(p, "step %d has no caption", t->n_steps);
    }
    p->line = line;
    return st;
}

static tav_status open_section(parser *p, const char *s, size_t n)
{
    tav_status st = close_section(p);
    if (st != TAV_OK)
        return st;
    tav_template *t = p->t;
    p->seen = 0;
    p->type_given = 0;
    p->sec_line = p->line;
    if (n == 4 && !memcmp(s, "step", 4)) {
        if (t->n_steps == TAV_TEMPLATE_MAX_STEPS)
            return PFAIL(p, "more than %d steps (the model makes at most %d scenes)",
                         TAV_TEMPLATE_MAX_STEPS, TAV_TEMPLATE_MAX_STEPS);
        memset(&t->steps[t->n_steps++], 0, sizeof t->steps[0]);
        p->sec = SEC_STEP;
        return TAV_OK;
    }
    if (n > 6 && !memcmp(s, "field", 5) && isspace((unsigned char)s[5])) {
        const char *nm = s + 6;
        while (nm < s + n && isspace((unsigned char)*nm))
            nm++;
        size_t nn = (size_t)(s + n - nm);
        if (!valid_name(nm, nn))
            return PFAIL(p, "a field name must be 1 to %d of a-z, 0-9 and _ (got '%.*s')",
                         TAV_TEMPLATE_NAME_MAX, (int)(nn > 40 ? 40 : nn), nm);
        for (int i = 0; i < t->n_fields; i++)
            if (strlen(t->fields[i].name) == nn && !memcmp(t->fields[i].name, nm, nn))
                return PFAIL(p, "field '%.*s' is defined twice", (int)nn, nm);
        if (t->n_fields == TAV_TEMPLATE_MAX_FIELDS)
            return PFAIL(p, "more than %d fields", TAV_TEMPLATE_MAX_FIELDS);
        tav_template_field *f = &t->fields[t->n_fields++];
        memset(f, 0, sizeof *f);
        if (!(f->name = dup_range(nm, nn)))
            return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", p->name);
        p->sec = SEC_FIELD;
        return TAV_OK;
    }
    return PFAIL(p, "unknown section [%.*s] (expected [field NAME] or [step])",
                 (int)(n > 40 ? 40 : n), s);
}

static tav_status parse_line(parser *p, char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) /* tabs line things up in an editor: spaces */
        if (s[i] == '\t')
            s[i] = ' ';
    /* trim */
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    s[n] = '\0';
    if (n == 0 || s[0] == '#' || s[0] == ';')
        return TAV_OK;
    if (!printable(s, n))
        return PFAIL(p, "the line holds a control character (is this a text file?)");
    if (s[0] == '[') {
        if (s[n - 1] != ']')
            return PFAIL(p, "a section line must end with ']'");
        char *in = s + 1;
        size_t m = n - 2;
        while (m && isspace((unsigned char)*in))
            in++, m--;
        while (m && isspace((unsigned char)in[m - 1]))
            m--;
        return open_section(p, in, m);
    }
    char *eq = strchr(s, '=');
    if (!eq)
        return PFAIL(p, "expected 'key = value', a [section] or a # comment");
    char *k = s, *ke = eq;
    while (ke > k && isspace((unsigned char)ke[-1]))
        ke--;
    *ke = '\0';
    char *v = eq + 1;
    while (*v && isspace((unsigned char)*v))
        v++;
    if (!*k)
        return PFAIL(p, "a line starts with '=' (the key is missing)");

    const char *const *keys = p->sec == SEC_HEADER ? header_keys
                              : p->sec == SEC_FIELD ? field_keys
                                                    : step_keys;
    int ki = key_index(keys, k);
    if (ki < 0) {
        const char *where = p->sec == SEC_HEADER ? "at the top" : p->sec == SEC_FIELD ? "in a [field]" : "in a [step]";
        return PFAIL(p, "unknown key '%.40s' %s", k, where);
    }
    if (p->seen & (1u << ki))
        return PFAIL(p, "'%s' is given twice in this section", k);
    p->seen |= 1u << ki;
    if (!*v && !(p->sec == SEC_HEADER && ki == 1) && !(p->sec == SEC_FIELD && ki == 10))
        return PFAIL(p, "'%s' has no value", k);

    tav_template *t = p->t;
    if (p->sec == SEC_HEADER)
        return set_str(p, ki == 0 ? &t->title : ki == 1 ? &t->description : &t->summary, v);
    if (p->sec == SEC_FIELD)
        return field_key(p, &t->fields[t->n_fields - 1], ki, v);
    return step_key(p, &t->steps[t->n_steps - 1], ki, v);
}

/* Every {name} in text must name a field; braces must pair. */
static tav_status check_placeholders(parser *p, const char *text, const char *what)
{
    const tav_template *t = p->t;
    for (const char *q = text; *q; q++) {
        if (*q == '}')
            return tav_fail(TAV_ERR_FORMAT, "%s: %s: '}' without a matching '{'", p->name, what);
        if (*q != '{')
            continue;
        const char *e = strchr(q, '}');
        if (!e)
            return tav_fail(TAV_ERR_FORMAT, "%s: %s: '{' without a closing '}'", p->name, what);
        size_t nn = (size_t)(e - q - 1);
        int found = 0;
        for (int f = 0; f < t->n_fields; f++)
            if (strlen(t->fields[f].name) == nn && !memcmp(t->fields[f].name, q + 1, nn))
                found = 1;
        if (!found)
            return tav_fail(TAV_ERR_FORMAT, "%s: %s: placeholder {%.*s} names no field",
                            p->name, what, (int)(nn > 40 ? 40 : nn), q + 1);
        q = e;
    }
    return TAV_OK;
}

/* After parsing: required keys present, placeholders name fields. */
static tav_status check_template(parser *p)
{
    tav_template *t = p->t;
    p->line = 0;
    if (!t->title)
        return tav_fail(TAV_ERR_FORMAT, "%s: no 'title = ...' line at the top", p->name);
    if (t->n_steps == 0)
        return tav_fail(TAV_ERR_FORMAT, "%s: no [step] sections (at least one is needed)",
                        p->name);
    tav_status st;
    for (int i = 0; i < t->n_steps; i++) {
        char what[32];
        snprintf(what, sizeof what, "step %d", i + 1);
        if ((st = check_placeholders(p, t->steps[i].caption, what)) != TAV_OK)
            return st;
    }
    if (t->summary && (st = check_placeholders(p, t->summary, "summary")) != TAV_OK)
        return st;
    if (!t->description && !(t->description = dup_str("")))
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", p->name);
    return TAV_OK;
}

static char *id_from_name(const char *name)
{
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".tmpl"))
        n -= 5;
    return dup_range(b, n);
}

tav_status tav_template_parse(const char *text, size_t len, const char *name, tav_template **out)
{
    *out = NULL;
    if (!name)
        name = "(template)";
    if (len > TAV_TEMPLATE_MAX_BYTES)
        return tav_fail(TAV_ERR_LIMIT, "%s: larger than %d bytes", name, TAV_TEMPLATE_MAX_BYTES);
    tav_template *t = tav_calloc(1, sizeof *t);
    if (!t)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", name);
    parser p = {.name = name, .t = t, .sec = SEC_HEADER};
    tav_status st = TAV_OK;
    if (!(t->id = id_from_name(name)))
        st = tav_fail(TAV_ERR_NOMEM, "%s: out of memory", name);

    size_t pos = 0;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) /* UTF-8 byte-order mark */
        pos = 3;
    char line[TAV_TEMPLATE_MAX_LINE + 1];
    while (st == TAV_OK && pos < len) {
        p.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (n > TAV_TEMPLATE_MAX_LINE) {
            st = PFAIL(&p, "line longer than %d bytes", TAV_TEMPLATE_MAX_LINE);
            break;
        }
        if (memchr(text + pos, '\0', n)) {
            st = PFAIL(&p, "the line holds a NUL byte (is this a text file?)");
            break;
        }
        memcpy(line, text + pos, n);
        if (n && line[n - 1] == '\r')
            n--;
        line[n] = '\0';
        st = parse_line(&p, line, n);
        pos = nl ? (size_t)(nl - text) + 1 : len;
    }
    if (st == TAV_OK)
        st = close_section(&p);
    if (st == TAV_OK)
        st = check_template(&p);
    /* Defaults and examples must pass their own field's validation. */
    for (int i = 0; st == TAV_OK && i < 2 * t->n_fields; i++) {
        tav_template_field *f = &t->fields[i / 2];
        const char *what = i % 2 ? "example" : "default";
        const char *val = i % 2 ? f->example : f->default_value;
        if (!val)
            continue;
        tav_template_kv kv = {f->name, val};
        tav_template tmp = *t; /* shallow: validate just this field */
        tmp.n_steps = 0;
        tav_template_filled fl;
        if (tav_template_fill(&tmp, &kv, 1, &fl) != TAV_OK) {
            int bad = 0;
            for (int e = 0; e < fl.n_errors; e++)
                if (!strcmp(fl.errors[e].field, f->name))
                    bad = e + 1;
            if (bad)
                st = tav_fail(TAV_ERR_FORMAT, "%s: field '%s': its %s is not valid: %s",
                              name, f->name, what, fl.errors[bad - 1].message);
        }
        tav_template_filled_free(&fl);
    }
    if (st != TAV_OK) {
        tav_template_free(t);
        return st;
    }
    *out = t;
    return TAV_OK;
}

tav_status tav_template_load(const char *path, tav_template **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tav_fail(TAV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = tav_malloc(TAV_TEMPLATE_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, TAV_TEMPLATE_MAX_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    tav_status st;
    if (err)
        st = tav_fail(TAV_ERR_IO, "%s: read error", path);
    else
        st = tav_template_parse(buf, n, path, out); /* n > MAX gives TAV_ERR_LIMIT */
    tav_free(buf);
    return st;
}

/* ---------------------------------------------------------------- filling */

__attribute__((format(printf, 3, 4))) static void add_error(tav_template_filled *out,
                                                            const char *field, const char *fmt,
                                                            ...)
{
    if (out->n_errors == TAV_TEMPLATE_MAX_FILL_ERRORS)
        return;
    tav_template_fill_error *e = &out->errors[out->n_errors++];
    snprintf(e->field, sizeof e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static void fmt_num(char *buf, size_t n, double d) { snprintf(buf, n, "%.10g", d); }

/* Validates one value; on success writes the canonical value into canon. */
static void check_value(const tav_template_field *f, const char *raw, tav_template_filled *out,
                        char *canon, size_t canon_size)
{
    /* trim */
    while (isspace((unsigned char)*raw))
        raw++;
    size_t n = strlen(raw);
    while (n && isspace((unsigned char)raw[n - 1]))
        n--;
    canon[0] = '\0';
    if (n == 0) {
        if (f->required)
            add_error(out, f->name, "%s is required.", f->label);
        else if (f->default_value)
            snprintf(canon, canon_size, "%s", f->default_value);
        return;
    }
    if (n > TAV_TEMPLATE_TEXT_MAX || (f->type == TAV_FIELD_TEXT && (int)n > f->max_length)) {
        add_error(out, f->name, "%s is too long (%zu characters; at most %d).", f->label, n,
                  f->type == TAV_FIELD_TEXT ? f->max_length : TAV_TEMPLATE_TEXT_MAX);
        return;
    }
    char v[TAV_TEMPLATE_TEXT_MAX + 1];
    memcpy(v, raw, n);
    v[n] = '\0';
    if (!printable(v, n) || strchr(v, '{') || strchr(v, '}')) {
        add_error(out, f->name, "%s contains characters that are not allowed.", f->label);
        return;
    }
    char a[32], b[32];
    switch (f->type) {
    case TAV_FIELD_NUMBER: {
        double d;
        if (parse_number(v, &d)) {
            add_error(out, f->name, "%s must be a number.", f->label);
            return;
        }
        if (f->integer && d != floor(d)) {
            add_error(out, f->name, "%s must be a whole number.", f->label);
            return;
        }
        if ((f->has_min && d < f->min) || (f->has_max && d > f->max)) {
            fmt_num(a, sizeof a, f->min);
            fmt_num(b, sizeof b, f->max);
            if (f->has_min && f->has_max)
                add_error(out, f->name, "%s must be between %s and %s.", f->label, a, b);
            else if (f->has_min)
                add_error(out, f->name, "%s must be at least %s.", f->label, a);
            else
                add_error(out, f->name, "%s must be at most %s.", f->label, b);
            return;
        }
        fmt_num(canon, canon_size, d);
        return;
    }
    case TAV_FIELD_CHOICE:
        for (int i = 0; i < f->n_choices; i++)
            if (!strcasecmp(f->choices[i], v)) {
                snprintf(canon, canon_size, "%s", f->choices[i]);
                return;
            }
        {
            char list[200];
            size_t used = 0;
            list[0] = '\0';
            for (int i = 0; i < f->n_choices && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                         i ? ", " : "", f->choices[i]);
            add_error(out, f->name, "%s must be one of: %s.", f->label, list);
        }
        return;
    case TAV_FIELD_TEXT:
        if (f->pattern) {
            regex_t re;
            int ok = 0;
            if (regcomp(&re, f->pattern, REG_EXTENDED | REG_NOSUB) == 0) {
                /* whole-value match: anchor by wrapping */
                char anchored[TAV_TEMPLATE_MAX_LINE + 8];
                snprintf(anchored, sizeof anchored, "^(%s)$", f->pattern);
                regfree(&re);
                if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) == 0) {
                    ok = regexec(&re, v, 0, NULL, 0) == 0;
                    regfree(&re);
                }
            }
            if (!ok) {
                add_error(out, f->name, "%s does not have the expected form%s%s.", f->label,
                          f->help ? ": " : "", f->help ? f->help : "");
                return;
            }
        }
        snprintf(canon, canon_size, "%s", v);
        return;
    }
}

/* Substitutes {name} placeholders; collapses runs of spaces left by empty
 * optional values. Returns NULL on allocation failure. */
static char *substitute(const tav_template *t, const char *caption,
                        char vals[][TAV_TEMPLATE_TEXT_MAX + 1])
{
    char buf[TAV_TEMPLATE_PROMPT_MAX * 2 + TAV_TEMPLATE_MAX_FIELDS * TAV_TEMPLATE_TEXT_MAX];
    size_t o = 0;
    for (const char *q = caption; *q && o < sizeof buf - 1; q++) {
        const char *piece = NULL;
        char one[2] = {*q, 0};
        if (*q == '{') {
            const char *e = strchr(q, '}');
            size_t nn = e ? (size_t)(e - q - 1) : 0;
            for (int f = 0; e && f < t->n_fields; f++)
                if (strlen(t->fields[f].name) == nn && !memcmp(t->fields[f].name, q + 1, nn))
                    piece = vals[f];
            if (piece)
                q = e;
        }
        if (!piece)
            piece = one;
        for (const char *c = piece; *c && o < sizeof buf - 1; c++) {
            if (*c == ' ' && (o == 0 || buf[o - 1] == ' '))
                continue;
            buf[o++] = *c;
        }
    }
    while (o && buf[o - 1] == ' ')
        o--;
    buf[o] = '\0';
    return dup_str(buf);
}

tav_status tav_template_fill(const tav_template *t, const tav_template_kv *values, int n_values,
                             tav_template_filled *out)
{
    memset(out, 0, sizeof *out);
    const char *given[TAV_TEMPLATE_MAX_FIELDS] = {0};
    for (int i = 0; i < n_values; i++) {
        const char *k = values[i].key ? values[i].key : "";
        int found = -1;
        for (int f = 0; f < t->n_fields; f++)
            if (!strcmp(t->fields[f].name, k))
                found = f;
        if (found < 0) {
            char shown[TAV_TEMPLATE_NAME_MAX + 1];
            snprintf(shown, sizeof shown, "%s", k);
            add_error(out, shown, "This procedure has no field called '%s'.", shown);
        } else if (given[found]) {
            add_error(out, t->fields[found].name, "%s is given twice.", t->fields[found].label);
        } else {
            given[found] = values[i].value ? values[i].value : "";
        }
    }
    char vals[TAV_TEMPLATE_MAX_FIELDS][TAV_TEMPLATE_TEXT_MAX + 1];
    for (int f = 0; f < t->n_fields; f++)
        check_value(&t->fields[f], given[f] ? given[f] : "", out, vals[f], sizeof vals[f]);
    if (out->n_errors)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s", out->errors[0].message);
    for (int s = 0; s < t->n_steps; s++) {
        out->prompts[s] = substitute(t, t->steps[s].caption, vals);
        if (!out->prompts[s]) {
            tav_template_filled_free(out);
            return tav_fail(TAV_ERR_NOMEM, "out of memory filling the template");
        }
        out->seconds[s] = t->steps[s].seconds;
        out->n_prompts = s + 1;
    }
    out->summary = substitute(t, t->summary ? t->summary : t->title, vals);
    if (!out->summary) {
        tav_template_filled_free(out);
        return tav_fail(TAV_ERR_NOMEM, "out of memory filling the template");
    }
    return TAV_OK;
}

void tav_template_filled_free(tav_template_filled *f)
{
    for (int i = 0; i < f->n_prompts; i++)
        tav_free(f->prompts[i]);
    f->n_prompts = 0;
    tav_free(f->summary);
    f->summary = NULL;
}

/* ---------------------------------------------------------------- directories */

static int cmp_tmpl(const void *a, const void *b)
{
    const tav_template *x = *(tav_template *const *)a, *y = *(tav_template *const *)b;
    return strcmp(x->id, y->id);
}

void tav_template_list_free(tav_template **list, int n)
{
    for (int i = 0; i < n; i++)
        tav_template_free(list[i]);
    tav_free(list);
}

#define TAV_TEMPLATE_DIR_MAX 256 /* templates per directory */

tav_status tav_template_load_dir(const char *dir, tav_template ***out, int *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return tav_fail(TAV_ERR_IO, "%s: cannot open the template folder: %s", dir,
                        strerror(errno));
    tav_template **list = tav_calloc(TAV_TEMPLATE_DIR_MAX, sizeof *list);
    if (!list) {
        closedir(d);
        return tav_fail(TAV_ERR_NOMEM, "out of memory listing %s", dir);
    }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < TAV_TEMPLATE_DIR_MAX) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".tmpl"))
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        tav_template *t;
        if (tav_template_load(path, &t) != TAV_OK) {
            TAV_LOG_WARNING("skipping template: %s", tav_last_error());
            continue;
        }
        list[count++] = t;
    }
    closedir(d);
    qsort(list, (size_t)count, sizeof *list, cmp_tmpl);
    *out = list;
    *n = count;
    return TAV_OK;
}
