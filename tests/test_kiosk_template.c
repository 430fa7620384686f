/* test_kiosk_template.c — procedure templates (good, malformed, filling), the kiosk's JSON
 * reader/writer, job parameter bounds and the cache key. */
#include "check.h"
#include "core/mem.h"
#include "core/version.h"
#include "kiosk/job.h"
#include "kiosk/json.h"
#include "kiosk/template.h"

#include <stdlib.h>

#define TAV_VERSION_STRING_FOR_TEST TAV_VERSION_STRING
#define PINNED_KEY "51f62184c569fd704a6791f996d8bbc53084acc0f727200398c8f6f52d17922b"

static const char good[] =
    "# a comment\n"
    "title = Change the bit\n"
    "description = Swap it.\n"
    "summary = Bit change on press {press}\n"
    "\n"
    "[field press]\n"
    "label = Press number\n"
    "type = number\n"
    "integer = yes\n"
    "min = 1\n"
    "max = 12\n"
    "required = yes\n"
    "\n"
    "[field colour]\n"
    "type = choice\n"
    "choices = red, blue ,green\n"
    "default = blue\n"
    "\n"
    "[field code]\n"
    "label = Batch code\n"
    "type = text\n"
    "max_length = 8\n"
    "pattern = [A-Z]{2}[0-9]+\n"
    "\n"
    "[step]\n"
    "caption = the {colour} plate is drilled at the drill\n"
    "seconds = 2\n"
    "\r\n"
    "[ step ]\n"
    "caption = the drill rotates {code}\n";

static tav_template *parse(const char *text)
{
    tav_template *t = NULL;
    tav_status st = tav_template_parse(text, strlen(text), "mem.tmpl", &t);
    if (st != TAV_OK)
        fprintf(stderr, "parse: %s\n", tav_last_error());
    return t;
}

static void test_template_parse_good(void)
{
    tav_template *t = parse(good);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(strcmp(t->id, "mem") == 0);
    CHECK(strcmp(t->title, "Change the bit") == 0);
    CHECK_EQ_INT(t->n_fields, 3);
    CHECK_EQ_INT(t->n_steps, 2);
    CHECK_EQ_INT(t->fields[0].type, TAV_FIELD_NUMBER);
    CHECK(t->fields[0].required && t->fields[0].integer);
    CHECK(t->fields[0].min == 1 && t->fields[0].max == 12);
    CHECK_EQ_INT(t->fields[1].n_choices, 3);
    CHECK(strcmp(t->fields[1].choices[1], "blue") == 0); /* trimmed */
    CHECK(strcmp(t->fields[1].label, "colour") == 0);    /* defaults to the name */
    CHECK_EQ_INT(t->fields[2].max_length, 8);
    CHECK(t->steps[0].seconds == 2);
    CHECK(t->steps[1].seconds == 0);
    tav_template_free(t);
    /* tabs are spaces */
    t = parse("title\t=\tTabbed\n[step]\ncaption\t= the\tgear\n");
    CHECK(t && !strcmp(t->title, "Tabbed") && !strcmp(t->steps[0].caption, "the gear"));
    tav_template_free(t);
}

static void test_template_fill_ok(void)
{
    tav_template *t = parse(good);
    if (!t)
        return;
    tav_template_kv kv[] = {{"press", " 4 "}, {"colour", "RED"}, {"code", "KT123"}};
    tav_template_filled f;
    CHECK_EQ_INT(tav_template_fill(t, kv, 3, &f), TAV_OK);
    CHECK_EQ_INT(f.n_prompts, 2);
    if (f.n_prompts == 2) {
        CHECK(strcmp(f.prompts[0], "the red plate is drilled at the drill") == 0);
        CHECK(strcmp(f.prompts[1], "the drill rotates KT123") == 0);
        CHECK(strcmp(f.summary, "Bit change on press 4") == 0);
    }
    tav_template_filled_free(&f);
    /* optional text left empty: the double space it leaves is collapsed; default colour */
    tav_template_kv kv2[] = {{"press", "12"}};
    CHECK_EQ_INT(tav_template_fill(t, kv2, 1, &f), TAV_OK);
    if (f.n_prompts == 2) {
        CHECK(strcmp(f.prompts[0], "the blue plate is drilled at the drill") == 0);
        CHECK(strcmp(f.prompts[1], "the drill rotates") == 0);
    }
    tav_template_filled_free(&f);
    tav_template_free(t);
}

/* Each bad value gives one plain-words error naming its field. */
static void test_template_fill_errors(void)
{
    tav_template *t = parse(good);
    if (!t)
        return;
    struct {
        tav_template_kv kv[3];
        int n;
        const char *field, *words;
    } cases[] = {
        {{{"press", "4"}, {"nozzle", "x"}}, 2, "nozzle", "no field called 'nozzle'"},
        {{{"colour", "red"}}, 1, "press", "Press number is required."},
        {{{"press", "13"}}, 1, "press", "must be between 1 and 12"},
        {{{"press", "0"}}, 1, "press", "must be between 1 and 12"},
        {{{"press", "2.5"}}, 1, "press", "must be a whole number"},
        {{{"press", "four"}}, 1, "press", "must be a number"},
        {{{"press", "0x4"}}, 1, "press", "must be a number"},
        {{{"press", "inf"}}, 1, "press", "must be a number"},
        {{{"press", "4"}, {"colour", "pink"}}, 2, "colour", "must be one of: red, blue, green"},
        {{{"press", "4"}, {"code", "KT1234567"}}, 2, "code", "is too long (9 characters; at most 8)"},
        {{{"press", "4"}, {"code", "kt12"}}, 2, "code", "does not have the expected form"},
        {{{"press", "4"}, {"code", "KT{1}"}}, 2, "code", "not allowed"},
        {{{"press", "4"}, {"press", "5"}}, 2, "press", "given twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tav_template_filled f;
        tav_status st = tav_template_fill(t, cases[i].kv, cases[i].n, &f);
        CHECK_EQ_INT(st, TAV_ERR_INVALID_ARG);
        CHECK_EQ_INT(f.n_prompts, 0);
        int found = 0;
        for (int e = 0; e < f.n_errors; e++)
            if (!strcmp(f.errors[e].field, cases[i].field) && strstr(f.errors[e].message, cases[i].words))
                found = 1;
        if (!found)
            fprintf(stderr, "case %zu: wanted %s: ...%s... (got %d errors, first '%s')\n", i,
                    cases[i].field, cases[i].words, f.n_errors, f.n_errors ? f.errors[0].message : "");
        CHECK(found);
        tav_template_filled_free(&f);
    }
    /* several problems at once: one error per field */
    tav_template_kv kv[] = {{"press", "99"}, {"colour", "pink"}, {"code", "x"}};
    tav_template_filled f;
    tav_template_fill(t, kv, 3, &f);
    CHECK_EQ_INT(f.n_errors, 3);
    tav_template_filled_free(&f);
    tav_template_free(t);
}

/* Malformed templates: an error naming the file, the line and the problem. */
static void test_template_malformed(void)
{
    struct {
        const char *text, *msg;
    } cases[] = {
        {"title = x\n[step]\n", "mem.tmpl:2: step 1 has no caption"},
        {"title = x\n", "no [step] sections"},
        {"[step]\ncaption = a\n", "no 'title = ...' line"},
        {"title = x\nbogus line\n", "mem.tmpl:2: expected 'key = value'"},
        {"title = x\ncolour = red\n", "mem.tmpl:2: unknown key 'colour' at the top"},
        {"title = x\ntitle = y\n", "mem.tmpl:2: 'title' is given twice"},
        {"title = x\n[stpe]\n", "mem.tmpl:2: unknown section [stpe]"},
        {"title = x\n[step\n", "mem.tmpl:2: a section line must end with ']'"},
        {"title = x\n[field Bad-Name]\n", "mem.tmpl:2: a field name must be"},
        {"title = x\n[field a]\nlabel = A\n[step]\ncaption = c\n", "mem.tmpl:2: field 'a' has no type"},
        {"title = x\n[field a]\ntype = colour\n", "mem.tmpl:3: type must be text, number or choice"},
        {"title = x\n[field a]\ntype = choice\n[step]\ncaption = c\n", "choice field 'a' has no choices"},
        {"title = x\n[field a]\ntype = choice\nchoices = a,,b\n", "mem.tmpl:4: an empty choice"},
        {"title = x\n[field a]\ntype = choice\nchoices = a, A\n", "mem.tmpl:4: the choice 'a' is listed twice"},
        {"title = x\n[field a]\ntype = number\nmin = ten\n", "mem.tmpl:4: min must be a number"},
        {"title = x\n[field a]\ntype = number\nmin = 5\nmax = 1\n[step]\ncaption = c\n", "min greater than max"},
        {"title = x\n[field a]\ntype = text\nmin = 1\n[step]\ncaption = c\n", "apply to number fields only"},
        {"title = x\n[field a]\ntype = text\npattern = ([a-z\n", "mem.tmpl:4: pattern is not a valid regular expression"},
        {"title = x\n[field a]\ntype = text\nmax_length = 0\n", "mem.tmpl:4: max_length must be"},
        {"title = x\n[field a]\ntype = number\nmax = 3\ndefault = 9\n[step]\ncaption = c\n", "its default is not valid"},
        {"title = x\n[field a]\ntype = text\n[field a]\n", "mem.tmpl:4: field 'a' is defined twice"},
        {"title = x\n[field a]\ntype = text\npattern = [0-9]+\nexample = ab\n[step]\ncaption = c\n", "its example is not valid"},
        {"title = x\n[step]\ncaption = the {colour} gear\n", "placeholder {colour} names no field"},
        {"title = x\n[step]\ncaption = the {gear\n", "'{' without a closing '}'"},
        {"title = x\n[step]\ncaption = the gear}\n", "'}' without a matching '{'"},
        {"title = x\n[step]\ncaption = c\nseconds = 60\n", "mem.tmpl:4: seconds must be a number from 0.5 to 10"},
        {"title = x\n[step]\ncaption =\n", "mem.tmpl:3: 'caption' has no value"},
        {"title = x\n= y\n", "mem.tmpl:2: a line starts with '='"},
        {"title = a\x01b\n", "mem.tmpl:1: the line holds a control character"},
        {"title = x\n[step]\ncaption = c\n[step]\ncaption = c\n[step]\ncaption = c\n[step]\ncaption = c\n"
         "[step]\ncaption = c\n[step]\ncaption = c\n[step]\n", "mem.tmpl:14: more than 6 steps"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tav_template *t = (tav_template *)1;
        tav_status st = tav_template_parse(cases[i].text, strlen(cases[i].text), "dir/mem.tmpl", &t);
        CHECK_EQ_INT(st, TAV_ERR_FORMAT);
        CHECK(t == NULL);
        if (!strstr(tav_last_error(), cases[i].msg))
            fprintf(stderr, "case %zu: wanted '%s', got '%s'\n", i, cases[i].msg, tav_last_error());
        CHECK_STR_CONTAINS(tav_last_error(), cases[i].msg);
    }
    /* a NUL byte in the middle, and a line longer than the limit */
    const char nul[] = "title = x\0y\n[step]\ncaption = c\n";
    tav_template *t;
    CHECK_EQ_INT(tav_template_parse(nul, sizeof nul - 1, "mem.tmpl", &t), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "mem.tmpl:1: the line holds a NUL byte");
    char *longl = malloc(TAV_TEMPLATE_MAX_LINE + 100);
    memset(longl, 'a', TAV_TEMPLATE_MAX_LINE + 99);
    longl[TAV_TEMPLATE_MAX_LINE + 99] = '\0';
    CHECK_EQ_INT(tav_template_parse(longl, strlen(longl), "mem.tmpl", &t), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "mem.tmpl:1: line longer than");
    free(longl);
    CHECK_EQ_INT(tav_template_parse("x", TAV_TEMPLATE_MAX_BYTES + 1, "big.tmpl", &t), TAV_ERR_LIMIT);
}

/* Every allocation failure is a clean TAV_ERR_NOMEM, never a crash or a leak (ASan). */
static void test_template_alloc_faults(void)
{
    int nomem = 0, ok = 0;
    for (long n = 1; n < 200; n++) {
        tav_fault_alloc_fail_at(n);
        tav_template *t = NULL;
        tav_status st = tav_template_parse(good, strlen(good), "mem.tmpl", &t);
        tav_fault_alloc_fail_at(0);
        if (st == TAV_OK) {
            ok++;
            tav_template_free(t);
            break; /* n exceeds the allocations made: done */
        }
        CHECK_EQ_INT(st, TAV_ERR_NOMEM);
        CHECK(t == NULL);
        nomem++;
    }
    CHECK(nomem > 10);
    CHECK_EQ_INT(ok, 1);
}

static void test_template_shipped_all_parse(void)
{
    tav_template **list;
    int n;
    CHECK_EQ_INT(tav_template_load_dir("assets/templates", &list, &n), TAV_OK);
    CHECK(n >= 8);
    for (int i = 0; i < n; i++) {
        CHECK(list[i]->n_steps >= 2 && list[i]->n_steps <= 6);
        /* each shipped template fills with its first choices and sample values */
        tav_template_kv kv[TAV_TEMPLATE_MAX_FIELDS];
        int nk = 0;
        for (int f = 0; f < list[i]->n_fields; f++) {
            const tav_template_field *fd = &list[i]->fields[f];
            if (!fd->required)
                continue;
            kv[nk].key = fd->name;
            kv[nk].value = fd->type == TAV_FIELD_CHOICE ? fd->choices[0]
                           : fd->type == TAV_FIELD_NUMBER ? (fd->has_min ? "1" : "1")
                           : !strcmp(fd->name, "batch") ? "KT20417" : "AB";
            nk++;
        }
        tav_template_filled fl;
        tav_status st = tav_template_fill(list[i], kv, nk, &fl);
        if (st != TAV_OK)
            fprintf(stderr, "%s: %s\n", list[i]->id, tav_last_error());
        CHECK_EQ_INT(st, TAV_OK);
        for (int p = 0; p < fl.n_prompts; p++)
            CHECK(!strchr(fl.prompts[p], '{') && !strchr(fl.prompts[p], '|'));
        tav_template_filled_free(&fl);
    }
    tav_template_list_free(list, n);
}

/* ---------------------------------------------------------------- JSON */

static void test_json_reader(void)
{
    const char *doc = " {\"a\": [1, -2.5e1, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\","
                      " \"o\": {\"k\": \"v\"}} ";
    tav_json_doc *d;
    CHECK_EQ_INT(tav_json_parse(doc, strlen(doc), &d), TAV_OK);
    const tav_json *r = tav_json_root(d);
    const tav_json *a = tav_json_get(r, "a");
    CHECK(a && a->type == TAV_JSON_ARRAY && a->len == 5);
    if (a && a->child && a->child->next) {
        CHECK(a->child->num == 1);
        CHECK(a->child->next->num == -25);
    }
    const tav_json *s = tav_json_get(r, "s");
    CHECK(s && s->type == TAV_JSON_STRING && strcmp(s->str, "x\xc3\xa9\xf0\x9f\x98\x80\n\"") == 0);
    CHECK(tav_json_get(tav_json_get(r, "o"), "k") != NULL);
    CHECK(tav_json_get(r, "missing") == NULL);
    tav_json_free(d);

    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "01", "1.", "-", "tru", "[1] x",
                         "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00x\"", "\"a\nb\"", "{1:2}", "\"\\q\"", "1e999", "\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tav_status st = tav_json_parse(bad[i], strlen(bad[i]), &d);
        if (st == TAV_OK) {
            fprintf(stderr, "accepted bad JSON #%zu '%s'\n", i, bad[i]);
            tav_json_free(d);
        }
        CHECK(st == TAV_ERR_FORMAT);
    }
    char deep[100];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    CHECK_EQ_INT(tav_json_parse(deep, 80, &d), TAV_ERR_LIMIT);
}

static void test_json_writer_roundtrip(void)
{
    tav_buf b = {0};
    const char *nasty = "quote\" back\\ nl\n tab\t bell\x07 bad\xff utf8 \xc3\xa9";
    tav_json_put_string(&b, nasty);
    CHECK(!b.failed);
    tav_json_doc *d;
    CHECK_EQ_INT(tav_json_parse(b.data, b.len, &d), TAV_OK);
    if (d) {
        const tav_json *r = tav_json_root(d);
        CHECK(r->type == TAV_JSON_STRING);
        /* everything survives except the invalid byte, which becomes U+00FF */
        const char *want = "quote\" back\\ nl\n tab\t bell\x07 bad\xc3\xbf utf8 \xc3\xa9";
        if (strcmp(r->str, want))
            fprintf(stderr, "got '%s'\n", r->str);
        CHECK(strcmp(r->str, want) == 0);
        tav_json_free(d);
    }
    tav_buf_free(&b);
}

/* ---------------------------------------------------------------- job params, cache key */

static tav_kiosk_job_params sample_params(void)
{
    tav_kiosk_job_params p = tav_kiosk_job_default_params();
    p.n_scenes = 2;
    strcpy(p.scenes[0], "the red gear rotates at the drill in a close up");
    strcpy(p.scenes[1], "the blue plate is packed at the packing table in a wide shot");
    p.seconds[0] = 2;
    p.seed = 42;
    p.steps = 4;
    p.width = 128;
    p.height = 128;
    p.fps = 8;
    return p;
}

static void test_job_params_json_roundtrip_and_bounds(void)
{
    tav_kiosk_job_params p = sample_params(), q;
    strcpy(p.template_id, "drill-bit-change");
    strcpy(p.summary, "Bit change \"4\"");
    tav_buf b = {0};
    tav_kiosk_job_params_to_json(&p, &b);
    tav_json_doc *d;
    CHECK_EQ_INT(tav_json_parse(b.data, b.len, &d), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_job_params_from_json(tav_json_root(d), &q), TAV_OK);
    tav_json_free(d);
    tav_buf_free(&b);
    CHECK(memcmp(&p, &q, sizeof p) == 0);

    struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"prompts\":[]}", "prompts must be a list of 1 to 6"},
        {"{\"prompts\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]}", "at most 6 scenes"},
        {"{\"prompts\":[\"\"]}", "prompt 1: a scene prompt is empty"},
        {"{\"prompts\":[\"a\\u0001\"]}", "control character"},
        {"{\"prompts\":[\"a\"],\"steps\":51}", "steps must be between 0 and 50"},
        {"{\"prompts\":[\"a\"],\"steps\":2.5}", "steps must be a whole number"},
        {"{\"prompts\":[\"a\"],\"width\":100}", "multiple of 16"},
        {"{\"prompts\":[\"a\"],\"width\":1024}", "width must be between 0 and 512"},
        {"{\"prompts\":[\"a\"],\"fps\":-1}", "fps must be between 0 and 30"},
        {"{\"prompts\":[\"a\"],\"seed\":1e20}", "seed must be between"},
        {"{\"prompts\":[\"a\"],\"seconds\":[1,2]}", "one duration per prompt"},
        {"{\"prompts\":[\"a\"],\"seconds\":[60]}", "seconds must be 0 or from 0.5 to 10"},
        {"[1]", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(tav_json_parse(bad[i].json, strlen(bad[i].json), &d), TAV_OK);
        tav_status st = tav_kiosk_job_params_from_json(tav_json_root(d), &q);
        CHECK(st == TAV_ERR_INVALID_ARG || st == TAV_ERR_LIMIT);
        CHECK_STR_CONTAINS(tav_last_error(), bad[i].msg);
        tav_json_free(d);
    }
    char longp[600] = "{\"prompts\":[\"";
    memset(longp + 13, 'a', 401);
    strcpy(longp + 13 + 401, "\"]}");
    CHECK_EQ_INT(tav_json_parse(longp, strlen(longp), &d), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_job_params_from_json(tav_json_root(d), &q), TAV_ERR_LIMIT);
    tav_json_free(d);
}

static void test_cache_key_stable_and_sensitive(void)
{
    tav_kiosk_job_params p = sample_params();
    char k0[TAV_KIOSK_KEY_HEX], k1[TAV_KIOSK_KEY_HEX];
    tav_kiosk_cache_key(&p, "abc123", k0);
    tav_kiosk_cache_key(&p, "abc123", k1);
    CHECK(strcmp(k0, k1) == 0);
    CHECK_EQ_INT(strlen(k0), 64);
    /* Pinned: the canonical form (job.c) must not drift silently; if it changes on
     * purpose, bump "tav-cache-v1" and this value together (old cache entries then
     * simply miss). It includes the engine version, 0.1.0 at the time of writing. */
    if (!strcmp(TAV_VERSION_STRING_FOR_TEST, "0.1.0"))
        CHECK(strcmp(k0, PINNED_KEY) == 0);
    if (strcmp(k0, PINNED_KEY))
        fprintf(stderr, "cache key now %s\n", k0);
    /* the template id and summary are labels, not inputs: same key */
    strcpy(p.summary, "another label");
    tav_kiosk_cache_key(&p, "abc123", k1);
    CHECK(strcmp(k0, k1) == 0);

    /* each input changes the key */
    int changed = 0, total = 0;
#define VARY(stmt, model)                              \
    do {                                               \
        tav_kiosk_job_params q = sample_params();      \
        stmt;                                          \
        tav_kiosk_cache_key(&q, model, k1);            \
        total++;                                       \
        changed += strcmp(k0, k1) != 0;                \
        if (!strcmp(k0, k1))                           \
            fprintf(stderr, "not sensitive: %s\n", #stmt); \
    } while (0)
    VARY((void)0, "abc124");
    VARY(q.seed = 43, "abc123");
    VARY(q.steps = 5, "abc123");
    VARY(q.width = 144, "abc123");
    VARY(q.height = 144, "abc123");
    VARY(q.fps = 9, "abc123");
    VARY(q.seconds[1] = 2, "abc123");
    VARY(q.scenes[0][4] = 'R', "abc123");
    VARY(q.scenes[1][0] = 'T', "abc123");
    VARY(q.n_scenes = 1, "abc123");
    /* moving a word across the scene boundary is a different prompt */
    VARY((strcpy(q.scenes[0], "the red gear rotates at the drill in a"),
          strcpy(q.scenes[1], "close up the blue plate is packed at the packing table in a wide shot")),
         "abc123");
    /* a scene that spells out the canonical form's own separators cannot collide */
    VARY((q.n_scenes = 1, strcpy(q.scenes[0], "the red gear rotates at the drill in a close up\n"
                                              "scene=0.000:60:the blue plate is packed at the packing table in a wide shot")),
         "abc123");
#undef VARY
    CHECK_EQ_INT(changed, total);
}

int main(void)
{
    RUN(test_template_parse_good);
    RUN(test_template_fill_ok);
    RUN(test_template_fill_errors);
    RUN(test_template_malformed);
    RUN(test_template_alloc_faults);
    RUN(test_template_shipped_all_parse);
    RUN(test_json_reader);
    RUN(test_json_writer_roundtrip);
    RUN(test_job_params_json_roundtrip_and_bounds);
    RUN(test_cache_key_stable_and_sensitive);
    return check_summary();
}
