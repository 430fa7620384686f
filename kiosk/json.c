/* json.c — bounded JSON reader (RFC 8259 values) and an appending writer. */
#include "kiosk/json.h"

#include "core/mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tav_json_doc {
    tav_json *nodes;
    size_t n_nodes, max_nodes;
    char *strings; /* decoded strings; never longer than the input */
    size_t str_used;
};

typedef struct reader {
    const char *s;
    size_t len, pos;
    tav_json_doc *d;
} reader;

static tav_status rfail(const reader *r, const char *what)
{
    return tav_fail(TAV_ERR_FORMAT, "bad JSON at byte %zu: %s", r->pos, what);
}

static void skip_ws(reader *r)
{
    while (r->pos < r->len) {
        char c = r->s[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->pos++;
    }
}

static tav_json *new_node(reader *r)
{
    if (r->d->n_nodes == r->d->max_nodes)
        return NULL;
    tav_json *n = &r->d->nodes[r->d->n_nodes++];
    memset(n, 0, sizeof *n);
    return n;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char z[4] = {0};
    if (avail < 4) { /* read past the end as zeros: never a continuation byte */
        memcpy(z, s, avail);
        s = z;
    }
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (s[0] == 0xE0 && s[1] < 0xA0)
            return 0;
        if (s[0] == 0xED && s[1] >= 0xA0)
            return 0;
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/* Decodes a string starting at the opening quote into the doc's string area. */
static tav_status read_string(reader *r, const char **out, size_t *out_len)
{
    r->pos++; /* opening quote */
    char *dst = r->d->strings + r->d->str_used;
    size_t o = 0;
    while (r->pos < r->len) {
        unsigned char c = (unsigned char)r->s[r->pos];
        if (c == '"') {
            r->pos++;
            dst[o] = '\0';
            r->d->str_used += o + 1;
            *out = dst;
            *out_len = o;
            return TAV_OK;
        }
        if (c < 0x20)
            return rfail(r, "control character inside a string");
        if (c >= 0x80) { /* raw UTF-8 must be valid (RFC 8259) */
            int n = utf8_len((const unsigned char *)r->s + r->pos, r->len - r->pos);
            if (n == 0)
                return rfail(r, "invalid UTF-8 inside a string");
            memcpy(dst + o, r->s + r->pos, (size_t)n);
            o += (size_t)n;
            r->pos += (size_t)n;
            continue;
        }
        if (c != '\\') {
            dst[o++] = (char)c;
            r->pos++;
            continue;
        }
        if (r->pos + 1 >= r->len)
            return rfail(r, "unfinished escape");
        char e = r->s[r->pos + 1];
        r->pos += 2;
        switch (e) {
        case '"': dst[o++] = '"'; break;
        case '\\': dst[o++] = '\\'; break;
        case '/': dst[o++] = '/'; break;
        case 'b': dst[o++] = '\b'; break;
        case 'f': dst[o++] = '\f'; break;
        case 'n': dst[o++] = '\n'; break;
        case 'r': dst[o++] = '\r'; break;
        case 't': dst[o++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (r->pos + 4 > r->len || hex4(r->s + r->pos, &cp))
                return rfail(r, "bad \\u escape");
            r->pos += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (r->pos + 6 > r->len || r->s[r->pos] != '\\' || r->s[r->pos + 1] != 'u' ||
                    hex4(r->s + r->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return rfail(r, "unpaired surrogate in \\u escape");
                r->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return rfail(r, "unpaired surrogate in \\u escape");
            }
            if (cp == 0)
                return rfail(r, "\\u0000 is not allowed");
            /* UTF-8 is at most 4 bytes; the escape took at least 6 input bytes. */
            if (cp < 0x80) {
                dst[o++] = (char)cp;
            } else if (cp < 0x800) {
                dst[o++] = (char)(0xC0 | (cp >> 6));
                dst[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                dst[o++] = (char)(0xE0 | (cp >> 12));
                dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                dst[o++] = (char)(0xF0 | (cp >> 18));
                dst[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[o++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return rfail(r, "unknown escape");
        }
    }
    return rfail(r, "unterminated string");
}

static tav_status read_number(reader *r, tav_json *n)
{
    size_t start = r->pos;
    if (r->pos < r->len && r->s[r->pos] == '-')
        r->pos++;
    if (r->pos >= r->len || r->s[r->pos] < '0' || r->s[r->pos] > '9')
        return rfail(r, "expected a digit");
    if (r->s[r->pos] == '0')
        r->pos++;
    else
        while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9')
            r->pos++;
    if (r->pos < r->len && r->s[r->pos] == '.') {
        r->pos++;
        if (r->pos >= r->len || r->s[r->pos] < '0' || r->s[r->pos] > '9')
            return rfail(r, "expected a digit after '.'");
        while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9')
            r->pos++;
    }
    if (r->pos < r->len && (r->s[r->pos] == 'e' || r->s[r->pos] == 'E')) {
        r->pos++;
        if (r->pos < r->len && (r->s[r->pos] == '+' || r->s[r->pos] == '-'))
            r->pos++;
        if (r->pos >= r->len || r->s[r->pos] < '0' || r->s[r->pos] > '9')
            return rfail(r, "expected a digit in the exponent");
        while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9')
            r->pos++;
    }
    char tmp[64];
    size_t n_chars = r->pos - start;
    if (n_chars >= sizeof tmp)
        return rfail(r, "number too long");
    memcpy(tmp, r->s + start, n_chars);
    tmp[n_chars] = '\0';
    errno = 0;
    n->num = strtod(tmp, NULL);
    if (!isfinite(n->num))
        return rfail(r, "number out of range");
    n->type = TAV_JSON_NUMBER;
    return TAV_OK;
}

static tav_status read_value(reader *r, tav_json *n, int depth);

static tav_status read_container(reader *r, tav_json *n, int depth, int is_obj)
{
    if (depth >= TAV_JSON_MAX_DEPTH)
        return tav_fail(TAV_ERR_LIMIT, "JSON nested deeper than %d levels", TAV_JSON_MAX_DEPTH);
    n->type = is_obj ? TAV_JSON_OBJECT : TAV_JSON_ARRAY;
    char close = is_obj ? '}' : ']';
    r->pos++;
    skip_ws(r);
    if (r->pos < r->len && r->s[r->pos] == close) {
        r->pos++;
        return TAV_OK;
    }
    tav_json *last = NULL;
    for (;;) {
        tav_json *c = new_node(r);
        if (!c)
            return tav_fail(TAV_ERR_LIMIT, "JSON has more than %d values", TAV_JSON_MAX_NODES);
        skip_ws(r);
        if (is_obj) {
            if (r->pos >= r->len || r->s[r->pos] != '"')
                return rfail(r, "expected a member name in quotes");
            size_t kl;
            tav_status st = read_string(r, &c->key, &kl);
            if (st != TAV_OK)
                return st;
            skip_ws(r);
            if (r->pos >= r->len || r->s[r->pos] != ':')
                return rfail(r, "expected ':'");
            r->pos++;
        }
        tav_status st = read_value(r, c, depth + 1);
        if (st != TAV_OK)
            return st;
        if (last)
            last->next = c;
        else
            n->child = c;
        last = c;
        n->len++;
        skip_ws(r);
        if (r->pos < r->len && r->s[r->pos] == ',') {
            r->pos++;
            continue;
        }
        if (r->pos < r->len && r->s[r->pos] == close) {
            r->pos++;
            return TAV_OK;
        }
        return rfail(r, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int match_word(reader *r, const char *w)
{
    size_t n = strlen(w);
    if (r->len - r->pos < n || memcmp(r->s + r->pos, w, n))
        return 0;
    r->pos += n;
    return 1;
}

static tav_status read_value(reader *r, tav_json *n, int depth)
{
    skip_ws(r);
    if (r->pos >= r->len)
        return rfail(r, "unexpected end of input");
    char c = r->s[r->pos];
    switch (c) {
    case '{': return read_container(r, n, depth, 1);
    case '[': return read_container(r, n, depth, 0);
    case '"':
        n->type = TAV_JSON_STRING;
        return read_string(r, &n->str, &n->len);
    case 't':
    case 'f':
    case 'n':
        if (match_word(r, "true")) {
            n->type = TAV_JSON_BOOL;
            n->boolean = 1;
        } else if (match_word(r, "false")) {
            n->type = TAV_JSON_BOOL;
        } else if (match_word(r, "null")) {
            n->type = TAV_JSON_NULL;
        } else {
            return rfail(r, "unknown word");
        }
        return TAV_OK;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return read_number(r, n);
        return rfail(r, "unexpected character");
    }
}

tav_status tav_json_parse(const char *text, size_t len, tav_json_doc **out)
{
    *out = NULL;
    /* A value needs at least one byte, so len + 1 nodes always suffice. */
    size_t max_nodes = len + 1 < TAV_JSON_MAX_NODES ? len + 1 : TAV_JSON_MAX_NODES;
    size_t nodes_bytes, total;
    if (tav_mul_size(max_nodes, sizeof(tav_json), &nodes_bytes) ||
        tav_add_size(sizeof(tav_json_doc) + nodes_bytes, len + 1, &total))
        return tav_fail(TAV_ERR_LIMIT, "JSON input too large");
    tav_json_doc *d = tav_malloc(total);
    if (!d)
        return tav_fail(TAV_ERR_NOMEM, "out of memory parsing JSON");
    d->nodes = (tav_json *)(d + 1);
    d->n_nodes = 0;
    d->max_nodes = max_nodes;
    d->strings = (char *)(d->nodes + max_nodes);
    d->str_used = 0;
    reader r = {text, len, 0, d};
    tav_json *root = new_node(&r);
    tav_status st = read_value(&r, root, 0);
    if (st == TAV_OK) {
        skip_ws(&r);
        if (r.pos != len)
            st = rfail(&r, "extra characters after the value");
    }
    if (st != TAV_OK) {
        tav_free(d);
        return st;
    }
    *out = d;
    return TAV_OK;
}

const tav_json *tav_json_root(const tav_json_doc *d) { return &d->nodes[0]; }

void tav_json_free(tav_json_doc *d) { tav_free(d); }

const tav_json *tav_json_get(const tav_json *obj, const char *key)
{
    if (!obj || obj->type != TAV_JSON_OBJECT)
        return NULL;
    for (const tav_json *c = obj->child; c; c = c->next)
        if (!strcmp(c->key, key))
            return c;
    return NULL;
}

/* ---------------------------------------------------------------- writer */

static int buf_reserve(tav_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    size_t need;
    if (tav_add_size(b->len, extra + 1, &need)) {
        b->failed = 1;
        return -1;
    }
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = tav_realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void tav_buf_append(tav_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tav_buf_puts(tav_buf *b, const char *s) { tav_buf_append(b, s, strlen(s)); }

void tav_buf_printf(tav_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void tav_json_put_string(tav_buf *b, const char *s)
{
    if (!s) {
        tav_buf_puts(b, "null");
        return;
    }
    tav_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            tav_buf_append(b, e, 2);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            tav_buf_printf(b, "\\u%04x", c);
            p++;
        } else {
            int n = utf8_len(p, 4); /* NUL-terminated: stops at the NUL */
            if (n == 0) {
                tav_buf_printf(b, "\\u%04x", c); /* stray byte as its Latin-1 code point */
                p++;
            } else {
                tav_buf_append(b, (const char *)p, (size_t)n);
                p += n;
            }
        }
    }
    tav_buf_append(b, "\"", 1);
}

void tav_buf_free(tav_buf *b)
{
    tav_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
