/* json.h — a small bounded JSON reader and an appending JSON writer for the kiosk API.
 *
 *   tav_json_doc *d;
 *   if (tav_json_parse(body, len, &d) != TAV_OK) reply_400(tav_last_error());
 *   const tav_json *root = tav_json_root(d);
 *   const tav_json *seed = tav_json_get(root, "seed");          // NULL if absent
 *   if (seed && seed->type == TAV_JSON_NUMBER) ... seed->num ...
 *   for (const tav_json *c = tav_json_get(root, "prompts")->child; c; c = c->next) ...
 *   tav_json_free(d);
 *
 *   tav_buf b = {0};
 *   tav_buf_puts(&b, "{\"id\":"); tav_buf_printf(&b, "%lld", id);
 *   tav_buf_puts(&b, ",\"title\":"); tav_json_put_string(&b, title); tav_buf_puts(&b, "}");
 *   if (b.failed) ...out of memory...;  use b.data, b.len; tav_buf_free(&b);
 *
 * Contracts:
 *   - The reader takes untrusted bytes: depth is limited to TAV_JSON_MAX_DEPTH,
 *     nodes to TAV_JSON_MAX_NODES, and every error is a TAV_ERR_FORMAT /
 *     TAV_ERR_LIMIT return with the byte offset in the message, never a crash.
 *   - Raw bytes inside strings must be valid UTF-8; strings are decoded to UTF-8 (\uXXXX escapes and surrogate pairs
 *     included); "\u0000" is refused, so every decoded string is a C string.
 *   - One document is one allocation block: nodes and strings live until
 *     tav_json_free.
 *   - The writer never fails midway silently: after an allocation failure
 *     `failed` is set and further appends are ignored.
 */
#ifndef TAV_KIOSK_JSON_H
#define TAV_KIOSK_JSON_H

#include "core/status.h"

#include <stddef.h>

#define TAV_JSON_MAX_DEPTH 16
#define TAV_JSON_MAX_NODES 4096

typedef enum tav_json_type {
    TAV_JSON_NULL,
    TAV_JSON_BOOL,
    TAV_JSON_NUMBER,
    TAV_JSON_STRING,
    TAV_JSON_ARRAY,
    TAV_JSON_OBJECT,
} tav_json_type;

typedef struct tav_json {
    tav_json_type type;
    const char *key;        /* member name inside an object, else NULL      */
    const char *str;        /* STRING: decoded, NUL-terminated              */
    size_t len;             /* STRING: bytes; ARRAY/OBJECT: members          */
    double num;             /* NUMBER                                       */
    int boolean;            /* BOOL                                         */
    struct tav_json *child; /* ARRAY/OBJECT: first member                   */
    struct tav_json *next;  /* next sibling                                 */
} tav_json;

typedef struct tav_json_doc tav_json_doc;

/* Parses exactly one JSON value (surrounding whitespace allowed). */
tav_status tav_json_parse(const char *text, size_t len, tav_json_doc **out);
const tav_json *tav_json_root(const tav_json_doc *d);
void tav_json_free(tav_json_doc *d);

/* The member `key` of an object (the first if repeated), or NULL. */
const tav_json *tav_json_get(const tav_json *obj, const char *key);

/* ---------------------------------------------------------------- writer */

typedef struct tav_buf {
    char *data; /* NUL-terminated when len > 0 */
    size_t len, cap;
    int failed; /* an allocation failed; content is incomplete */
} tav_buf;

void tav_buf_append(tav_buf *b, const char *s, size_t n);
void tav_buf_puts(tav_buf *b, const char *s);
void tav_buf_printf(tav_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a quoted JSON string (NULL writes null). Control characters
 * and invalid UTF-8 bytes are escaped as \u00XX so output is always valid. */
void tav_json_put_string(tav_buf *b, const char *s);
void tav_buf_free(tav_buf *b);

#endif
