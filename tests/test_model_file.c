/* test_model_file.c — the .tavm reader and writer: values of the committed
 * small file (written by Python), C rewrite byte-identical to it, every
 * truncation, every single-byte corruption, crafted bad headers and tables,
 * allocation failures, SHA-256 test vectors. */
#include "check.h"
#include "core/mem.h"
#include "core/model_file.h"
#include "core/sha256.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMALL "tests/data/small.tavm"
#define OUT_DIR "build/test-tmp"

/* ---------------------------------------------------------------- helpers */

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = NULL;
    if (len > 0 && posix_memalign((void **)&p, 64, (size_t)len) == 0 &&
        fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* An exactly-sized 64-aligned copy, so ASan sees any read past n. */
static uint8_t *aligned_copy(const uint8_t *src, size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1) != 0)
        return NULL;
    if (n)
        memcpy(p, src, n);
    return p;
}

static float f16_to_f32(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Finds the table entry of tensor `name` in a small.tavm image: the offset of
 * the first byte after the name's NUL (dtype field), or 0. */
static size_t entry_after_name(const uint8_t *b, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 4; i + len + 1 <= n; i++)
        if (b[i - 4] == (uint8_t)len && b[i - 3] == 0 && memcmp(b + i, name, len + 1) == 0) {
            /* skip metadata values that happen to match: tensors follow metadata,
             * keep the last match */
            size_t j = i + len + 1;
            size_t later = entry_after_name(b + j, n - j, name);
            return later ? j + later : j;
        }
    return 0;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Opens a modified copy with NO_VERIFY; returns the status, message in tav_last_error(). */
static tav_status open_modified(const uint8_t *img, size_t n, size_t at, const void *bytes,
                                size_t len)
{
    uint8_t *c = aligned_copy(img, n);
    memcpy(c + at, bytes, len);
    tav_model *m = NULL;
    tav_status st = tav_model_open_memory(c, n, TAV_MODEL_NO_VERIFY, &m);
    tav_model_close(m);
    free(c);
    return st;
}

/* ---------------------------------------------------------------- sha-256 */

static void test_sha256_vectors(void)
{
    static const struct { const char *msg, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        tav_sha256_ctx c;
        uint8_t d[32];
        char hex[65];
        tav_sha256_init(&c);
        tav_sha256_update(&c, v[i].msg, strlen(v[i].msg));
        tav_sha256_final(&c, d);
        tav_sha256_hex(d, hex);
        CHECK(strcmp(hex, v[i].hex) == 0);
    }
    /* one million 'a', fed in uneven pieces */
    static char buf[1100]; /* pieces are up to 1057 bytes */
    memset(buf, 'a', sizeof buf);
    tav_sha256_ctx c;
    uint8_t d[32];
    char hex[65];
    tav_sha256_init(&c);
    size_t left = 1000000, piece = 1;
    while (left) {
        size_t k = piece < left ? piece : left;
        tav_sha256_update(&c, buf, k);
        left -= k;
        piece = piece % 997 + 61;
    }
    tav_sha256_final(&c, d);
    tav_sha256_hex(d, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

/* ---------------------------------------------------------------- the committed file */

static void test_small_values(void)
{
    tav_model *m = NULL;
    tav_status st = tav_model_open(SMALL, 0, &m);
    CHECK_EQ_INT(st, TAV_OK);
    if (st) {
        fprintf(stderr, "open: %s\n", tav_last_error());
        return;
    }
    CHECK(tav_model_checksum_verified(m));
    CHECK(strcmp(tav_model_writer_name(m), "tav-edge 0.1.0") == 0);
    CHECK_EQ_INT(strlen(tav_model_checksum_hex(m)), 64);
    CHECK_EQ_INT(tav_model_meta_count(m), 12);
    int64_t i64 = 0;
    double f64 = 0;
    const char *s = NULL;
    CHECK(tav_model_meta_get_i64(m, "model.dim", &i64) == TAV_OK && i64 == 8);
    CHECK(tav_model_meta_get_i64(m, "train.offset_test", &i64) == TAV_OK && i64 == -42);
    CHECK(tav_model_meta_get_f64(m, "model.norm_eps", &f64) == TAV_OK && f64 == 1e-5);
    CHECK(tav_model_meta_get_str(m, "model.arch", &s) == TAV_OK && strcmp(s, "tav-dit-test") == 0);
    const char *const *vocab = NULL;
    size_t nv = 0;
    CHECK(tav_model_meta_get_strs(m, "tokenizer.vocab", &vocab, &nv) == TAV_OK);
    CHECK_EQ_INT(nv, 24);
    if (nv == 24) {
        CHECK(strcmp(vocab[0], "<pad>") == 0);
        CHECK(strcmp(vocab[18], "gr\xc3\xb6\xc3\x9f" "e") == 0);
        CHECK(strcmp(vocab[23], "wide") == 0);
    }
    CHECK(tav_model_meta_get_strs(m, "train.tags", &vocab, &nv) == TAV_OK && nv == 0);
    /* wrong type and missing key: errors with messages, no crash */
    CHECK_EQ_INT(tav_model_meta_get_i64(m, "model.arch", &i64), TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "'model.arch' is a string");
    CHECK_EQ_INT(tav_model_meta_get_str(m, "no.such.key", &s), TAV_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(tav_last_error(), "no.such.key");

    CHECK_EQ_INT(tav_model_tensor_count(m), 7);
    CHECK(tav_model_tensor_at(m, 7) == NULL);
    CHECK(tav_model_tensor_find(m, "nope") == NULL);
    for (size_t i = 0; i < tav_model_tensor_count(m); i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        CHECK(t && tav_model_tensor_find(m, t->name) == t);
        CHECK(t && ((uintptr_t)t->data % 64) == 0);
    }
    const tav_tensor_view *t = tav_model_tensor_find(m, "tok_emb");
    CHECK(t && t->dtype == TAV_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 24 && t->shape[1] == 8);
    if (t)
        for (size_t i = 0; i < t->n_elems; i++)
            CHECK(((const float *)t->data)[i] == (float)i * 0.25f - 3.0f);
    t = tav_model_tensor_find(m, "dit.blocks.0.attn.wq");
    CHECK(t && t->dtype == TAV_DTYPE_S8 && t->scales && t->n_bytes == 64);
    if (t) {
        for (size_t i = 0; i < t->n_elems; i++)
            CHECK(((const int8_t *)t->data)[i] == (int8_t)((long)(i * 7) % 256 - 127));
        for (int r = 0; r < 8; r++)
            CHECK(t->scales[r] == ldexpf(1.0f, -(r + 3)));
    }
    t = tav_model_tensor_find(m, "dit.final.w");
    CHECK(t && t->dtype == TAV_DTYPE_S8 && t->shape[0] == 3 && t->shape[1] == 5);
    if (t) {
        for (size_t i = 0; i < t->n_elems; i++)
            CHECK(((const int8_t *)t->data)[i] == (int8_t)((long)(i * 13) % 256 - 128));
        CHECK(t->scales[0] == 0.5f && t->scales[2] == 0.125f);
    }
    t = tav_model_tensor_find(m, "dit.blocks.0.norm.w");
    CHECK(t && t->dtype == TAV_DTYPE_F16 && t->n_bytes == 16);
    if (t)
        for (size_t i = 0; i < t->n_elems; i++)
            CHECK(f16_to_f32(((const uint16_t *)t->data)[i]) == (float)i * 0.5f - 2.0f);
    t = tav_model_tensor_find(m, "dit.pos");
    CHECK(t && t->ndim == 3 && t->shape[2] == 4 && t->shape[3] == 0);
    if (t)
        for (size_t i = 0; i < t->n_elems; i++)
            CHECK(f16_to_f32(((const uint16_t *)t->data)[i]) == (float)i / 8.0f);
    t = tav_model_tensor_find(m, "vae.dec.conv0.w");
    CHECK(t && t->ndim == 4 && t->n_elems == 72);
    if (t)
        for (size_t i = 0; i < t->n_elems; i++)
            CHECK(((const float *)t->data)[i] == (float)i * 0.125f - 4.0f);
    t = tav_model_tensor_find(m, "vae.dec.conv0.b");
    CHECK(t && ((const float *)t->data)[3] == 1.5f);
    tav_model_close(m);
}

static void test_checksum_is_file_sha256(void)
{
    size_t n;
    uint8_t *img = read_file(SMALL, &n);
    CHECK(img && n > 128);
    if (!img)
        return;
    tav_sha256_ctx c;
    uint8_t d[32];
    char hex[65];
    tav_sha256_init(&c);
    tav_sha256_update(&c, img, 96);
    tav_sha256_update(&c, img + 128, n - 128);
    tav_sha256_final(&c, d);
    tav_sha256_hex(d, hex);
    tav_model *m = NULL;
    CHECK(tav_model_open(SMALL, TAV_MODEL_NO_VERIFY, &m) == TAV_OK);
    if (m) {
        CHECK(strcmp(tav_model_checksum_hex(m), hex) == 0);
        CHECK(!tav_model_checksum_verified(m));
    }
    tav_model_close(m);
    free(img);
}

/* ---------------------------------------------------------------- C writer */

/* Copies every metadata entry and tensor of m into a new writer *out. */
static tav_status copy_to_writer(const tav_model *m, tav_model_writer **out)
{
    tav_model_writer *w = NULL;
    *out = NULL;
    tav_status st = tav_model_writer_init(&w);
    if (st)
        return st;
    for (size_t i = 0; i < tav_model_meta_count(m) && !st; i++) {
        const char *key, *s;
        tav_meta_type ty;
        int64_t v;
        double f;
        const char *const *items;
        size_t n;
        tav_model_meta_at(m, i, &key, &ty);
        if (ty == TAV_META_I64 && !(st = tav_model_meta_get_i64(m, key, &v)))
            st = tav_model_writer_set_i64(w, key, v);
        if (ty == TAV_META_F64 && !(st = tav_model_meta_get_f64(m, key, &f)))
            st = tav_model_writer_set_f64(w, key, f);
        if (ty == TAV_META_STR && !(st = tav_model_meta_get_str(m, key, &s)))
            st = tav_model_writer_set_str(w, key, s);
        if (ty == TAV_META_STR_ARRAY && !(st = tav_model_meta_get_strs(m, key, &items, &n)))
            st = tav_model_writer_set_strs(w, key, items, n);
    }
    for (size_t i = 0; i < tav_model_tensor_count(m) && !st; i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        st = tav_model_writer_add_tensor(w, t->name, t->dtype, t->ndim, t->shape, t->data,
                                         t->scales);
    }
    if (st) {
        tav_model_writer_free(w);
        return st;
    }
    *out = w;
    return TAV_OK;
}

static void test_c_writer_matches_python_bytes(void)
{
    size_t n;
    uint8_t *img = read_file(SMALL, &n);
    tav_model *m = NULL;
    CHECK(img && tav_model_open(SMALL, 0, &m) == TAV_OK);
    if (!m) {
        free(img);
        return;
    }
    tav_model_writer *w = NULL;
    CHECK_EQ_INT(copy_to_writer(m, &w), TAV_OK);
    void *buf = NULL;
    size_t size = 0;
    CHECK(w && tav_model_writer_write_memory(w, &buf, &size) == TAV_OK);
    CHECK_EQ_INT(size, n);
    CHECK(buf && size == n && memcmp(buf, img, n) == 0);
    /* The atomic file writer gives the same bytes, and leaves no temp file;
     * tests/py/test_tavm.py reads this file back with the Python reader. */
    mkdir("build", 0777);
    mkdir(OUT_DIR, 0777);
    CHECK(w && tav_model_writer_write(w, OUT_DIR "/small_from_c.tavm") == TAV_OK);
    size_t n2;
    uint8_t *img2 = read_file(OUT_DIR "/small_from_c.tavm", &n2);
    CHECK(img2 && n2 == n && memcmp(img2, img, n) == 0);
    FILE *ls = popen("ls " OUT_DIR " | grep -c '\\.tmp\\.' ", "r");
    int leftovers = -1;
    if (ls) {
        if (fscanf(ls, "%d", &leftovers) != 1)
            leftovers = -1;
        pclose(ls);
    }
    CHECK_EQ_INT(leftovers, 0);
    /* Writing into a missing directory fails with a message naming the path. */
    CHECK(w && tav_model_writer_write(w, OUT_DIR "/no/such/dir/x.tavm") == TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "no/such/dir/x.tavm");
    free(img2);
    tav_free(buf);
    tav_model_writer_free(w);
    tav_model_close(m);
    free(img);
}

static void test_writer_from_scratch(void)
{
    tav_model_writer *w = NULL;
    CHECK(tav_model_writer_init(&w) == TAV_OK);
    if (!w)
        return;
    const char *words[] = {"zeta", "alpha", ""};
    CHECK(tav_model_writer_set_strs(w, "z.vocab", words, 3) == TAV_OK);
    CHECK(tav_model_writer_set_i64(w, "a.count", INT64_MIN) == TAV_OK);
    CHECK(tav_model_writer_set_f64(w, "m.nan", NAN) == TAV_OK);
    /* refusals, each with a message */
    CHECK_EQ_INT(tav_model_writer_set_i64(w, "a.count", 1), TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "already set");
    CHECK_EQ_INT(tav_model_writer_set_i64(w, "bad key", 1), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_model_writer_set_i64(w, "", 1), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_model_writer_set_str(w, "bad.utf8", "\xc3("), TAV_ERR_INVALID_ARG);
    float f[6] = {1, 2, 3, 4, 5, 6}, sc[2] = {0.5f, 2.0f};
    int8_t q[6] = {-128, -1, 0, 1, 2, 127};
    int64_t sh[2] = {2, 3}, bad[2] = {2, 0};
    CHECK(tav_model_writer_add_tensor(w, "w", TAV_DTYPE_S8, 2, sh, q, sc) == TAV_OK);
    CHECK(tav_model_writer_add_tensor(w, "b", TAV_DTYPE_F32, 2, sh, f, NULL) == TAV_OK);
    CHECK_EQ_INT(tav_model_writer_add_tensor(w, "b", TAV_DTYPE_F32, 2, sh, f, NULL),
                 TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_model_writer_add_tensor(w, "c", TAV_DTYPE_S8, 2, sh, q, NULL),
                 TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_model_writer_add_tensor(w, "c", TAV_DTYPE_F32, 2, bad, f, NULL),
                 TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_model_writer_add_tensor(w, "c", TAV_DTYPE_F32, 5, sh, f, NULL),
                 TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_model_writer_add_tensor(w, "has space", TAV_DTYPE_F32, 2, sh, f, NULL),
                 TAV_ERR_INVALID_ARG);
    void *buf = NULL;
    size_t n = 0;
    CHECK(tav_model_writer_write_memory(w, &buf, &n) == TAV_OK);
    tav_model *m = NULL;
    CHECK(buf && tav_model_open_memory(buf, n, 0, &m) == TAV_OK);
    if (m) {
        const char *key;
        CHECK(tav_model_meta_at(m, 0, &key, NULL) == TAV_OK && strcmp(key, "a.count") == 0);
        CHECK(tav_model_meta_at(m, 2, &key, NULL) == TAV_OK && strcmp(key, "z.vocab") == 0);
        CHECK_EQ_INT(tav_model_meta_at(m, 3, &key, NULL), TAV_ERR_INVALID_ARG);
        int64_t v;
        double d;
        CHECK(tav_model_meta_get_i64(m, "a.count", &v) == TAV_OK && v == INT64_MIN);
        CHECK(tav_model_meta_get_f64(m, "m.nan", &d) == TAV_OK && isnan(d));
        const char *const *it;
        size_t cnt;
        CHECK(tav_model_meta_get_strs(m, "z.vocab", &it, &cnt) == TAV_OK && cnt == 3 &&
              strcmp(it[0], "zeta") == 0 && it[2][0] == '\0');
        const tav_tensor_view *t = tav_model_tensor_at(m, 0);
        CHECK(t && strcmp(t->name, "w") == 0 && memcmp(t->data, q, 6) == 0 &&
              t->scales[1] == 2.0f);
        t = tav_model_tensor_find(m, "b");
        CHECK(t && memcmp(t->data, f, sizeof f) == 0 && t->scales == NULL);
    }
    tav_model_close(m);
    tav_free(buf);
    tav_model_writer_free(w);

    /* An empty model (no metadata, no tensors) is valid. */
    CHECK(tav_model_writer_init(&w) == TAV_OK);
    CHECK(w && tav_model_writer_write_memory(w, &buf, &n) == TAV_OK && n == 128);
    CHECK(buf && tav_model_open_memory(buf, n, 0, &m) == TAV_OK && tav_model_tensor_count(m) == 0);
    tav_model_close(m);
    tav_free(buf);
    tav_model_writer_free(w);
}

/* ---------------------------------------------------------------- hostile inputs */

static void test_every_truncation_fails_cleanly(void)
{
    size_t n;
    uint8_t *img = read_file(SMALL, &n);
    CHECK(img != NULL);
    if (!img)
        return;
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *c = aligned_copy(img, len);
        for (unsigned flags = 0; flags < 2; flags++) {
            tav_model *m = (tav_model *)1;
            tav_clear_error();
            tav_status st = tav_model_open_memory(c, len, flags, &m);
            if (st == TAV_OK || m != NULL || tav_last_error()[0] == '\0') {
                if (bad++ < 5)
                    fprintf(stderr, "truncation to %zu: status %d, message '%s'\n", len, st,
                            tav_last_error());
            }
            if (st == TAV_OK)
                tav_model_close(m);
        }
        free(c);
    }
    CHECK_EQ_INT(bad, 0);
    free(img);
}

/* Reads every byte of every view, so ASan sees any view that escapes the file. */
static unsigned touch_all(const tav_model *m)
{
    unsigned sum = 0;
    for (size_t i = 0; i < tav_model_tensor_count(m); i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        sum += (unsigned)strlen(t->name);
        for (size_t k = 0; k < t->n_bytes; k++)
            sum += ((const uint8_t *)t->data)[k];
        if (t->scales)
            for (int64_t r = 0; r < t->shape[0]; r++)
                sum += (unsigned)(t->scales[r] != 0);
    }
    for (size_t i = 0; i < tav_model_meta_count(m); i++) {
        const char *key;
        tav_meta_type ty;
        tav_model_meta_at(m, i, &key, &ty);
        sum += (unsigned)strlen(key);
        const char *const *it;
        size_t cnt;
        if (ty == TAV_META_STR_ARRAY && tav_model_meta_get_strs(m, key, &it, &cnt) == TAV_OK)
            for (size_t k = 0; k < cnt; k++)
                sum += (unsigned)strlen(it[k]);
    }
    return sum;
}

static void test_every_byte_corruption(void)
{
    size_t n;
    uint8_t *img = read_file(SMALL, &n);
    CHECK(img != NULL);
    if (!img)
        return;
    static const uint8_t xors[] = {0x01, 0x80, 0xff};
    int undetected = 0, silent = 0, accepted_unverified = 0;
    uint8_t *c = aligned_copy(img, n);
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t x = 0; x < sizeof xors; x++) {
            c[pos] = img[pos] ^ xors[x];
            for (unsigned flags = 0; flags < 2; flags++) {
                tav_model *m = NULL;
                tav_clear_error();
                tav_status st = tav_model_open_memory(c, n, flags, &m);
                if (st == TAV_OK) {
                    touch_all(m);
                    tav_model_close(m);
                    if (flags == 0 && undetected++ < 5)
                        fprintf(stderr, "corruption at %zu ^0x%02x not detected\n", pos, xors[x]);
                    accepted_unverified += flags != 0;
                } else if (tav_last_error()[0] == '\0') {
                    silent++;
                }
            }
            c[pos] = img[pos];
        }
    }
    /* With the checksum on, every change must be caught; without, some
     * (tensor data bytes) are legitimately accepted. */
    CHECK_EQ_INT(undetected, 0);
    CHECK_EQ_INT(silent, 0);
    CHECK(accepted_unverified > 0);
    fprintf(stderr, "corruptions: %zu cases, %d accepted with --no-verify (data bytes)\n",
            n * sizeof xors, accepted_unverified);
    free(c);
    free(img);
}

static void test_crafted_tables(void)
{
    size_t n;
    uint8_t *img = read_file(SMALL, &n);
    CHECK(img != NULL);
    if (!img)
        return;
    uint8_t b8[8];
    /* format version from the future: names the writer */
    uint8_t v2[4] = {2, 0, 0, 0};
    CHECK_EQ_INT(open_modified(img, n, 8, v2, 4), TAV_ERR_VERSION);
    CHECK_STR_CONTAINS(tav_last_error(), "format version 2, written by tav-edge 0.1.0");
    uint8_t magic[1] = {'X'};
    CHECK_EQ_INT(open_modified(img, n, 0, magic, 1), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "not a .tavm model file");
    uint8_t big[4] = {0xff, 0xff, 0xff, 0x7f};
    CHECK_EQ_INT(open_modified(img, n, 24, big, 4), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "tensor count 2147483647 exceeds");
    uint8_t many[4] = {0xff, 0xff, 0, 0}; /* 65535 tensors in a 577-byte table */
    CHECK_EQ_INT(open_modified(img, n, 24, many, 4), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "65535 tensors cannot fit");
    put64(b8, UINT64_MAX - 7);
    CHECK_EQ_INT(open_modified(img, n, 32, b8, 8), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "metadata section size");

    size_t e = entry_after_name(img, n, "dit.blocks.0.attn.wq");
    CHECK(e > 0);
    if (e) {
        uint8_t dt[4] = {9, 0, 0, 0};
        CHECK_EQ_INT(open_modified(img, n, e, dt, 4), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "tensor 'dit.blocks.0.attn.wq' (#1): unknown dtype 9");
        put64(b8, 0); /* same offset as tok_emb */
        CHECK_EQ_INT(open_modified(img, n, e + 40, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "overlaps tensor");
        put64(b8, 8);
        CHECK_EQ_INT(open_modified(img, n, e + 40, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "data offset 8 is not a multiple of 64");
        put64(b8, (uint64_t)1 << 62);
        CHECK_EQ_INT(open_modified(img, n, e + 40, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(),
                           "tensor 'dit.blocks.0.attn.wq' (#1): data offset 4611686018427387904 "
                           "beyond data section size 1484");
        put64(b8, 1472); /* inside the section, but 64 bytes from there run past it */
        CHECK_EQ_INT(open_modified(img, n, e + 40, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(),
                           "tensor 'dit.blocks.0.attn.wq' (#1): data end 1536 beyond data section "
                           "size 1484");
        put64(b8, UINT64_MAX - 63); /* aligned, and offset + size overflows */
        CHECK_EQ_INT(open_modified(img, n, e + 40, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "beyond data section");
        put64(b8, 0x80000000u); /* a dim over the int32 limit */
        CHECK_EQ_INT(open_modified(img, n, e + 8, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "dim 0 is 2147483648");
        put64(b8, 7); /* dims 8x8 -> 7x8 no longer matches the 64-byte size */
        CHECK_EQ_INT(open_modified(img, n, e + 8, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "data size 64, but s8 x 56 elements is 56 bytes");
        put64(b8, 64);
        CHECK_EQ_INT(open_modified(img, n, e + 56, b8, 8), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "overlaps");
    }
    /* rename dit.pos to tok_emb (same length): a duplicate name */
    size_t p = entry_after_name(img, n, "dit.pos");
    CHECK(p > 8);
    if (p > 8) {
        CHECK_EQ_INT(open_modified(img, n, p - 8, "tok_emb", 7), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "tensor name 'tok_emb' appears twice");
    }
    /* a flipped data byte: only the checksum can see it */
    uint8_t *c = aligned_copy(img, n);
    c[n - 1] ^= 0x40;
    tav_model *m = NULL;
    CHECK_EQ_INT(tav_model_open_memory(c, n, 0, &m), TAV_ERR_CHECKSUM);
    CHECK_STR_CONTAINS(tav_last_error(), "checksum mismatch");
    CHECK_EQ_INT(tav_model_open_memory(c, n, TAV_MODEL_NO_VERIFY, &m), TAV_OK);
    tav_model_close(m);
    /* unaligned buffer: refused, not read */
    CHECK_EQ_INT(tav_model_open_memory(c + 1, n - 1, 0, &m), TAV_ERR_INVALID_ARG);
    free(c);
    free(img);
}

static void test_open_path_errors(void)
{
    tav_model *m = (tav_model *)1;
    CHECK_EQ_INT(tav_model_open("tests/data/does-not-exist.tavm", 0, &m), TAV_ERR_IO);
    CHECK(m == NULL);
    CHECK_STR_CONTAINS(tav_last_error(), "does-not-exist.tavm");
    CHECK_EQ_INT(tav_model_open("tests/data", 0, &m), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "not a regular file");
    CHECK_EQ_INT(tav_model_open("tests/data/make_small_tavm.py", 0, &m), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "not a .tavm model file");
    /* a file shorter than the header is read, not mapped */
    mkdir("build", 0777);
    mkdir(OUT_DIR, 0777);
    FILE *f = fopen(OUT_DIR "/short.tavm", "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(TAV_MODEL_MAGIC "\x01\0\0\0", 1, 12, f);
        fclose(f);
        CHECK_EQ_INT(tav_model_open(OUT_DIR "/short.tavm", 0, &m), TAV_ERR_FORMAT);
        CHECK_STR_CONTAINS(tav_last_error(), "file is 12 bytes: truncated");
    }
}

/* Writes the C reader's verdict on every seed-corpus file to
 * build/test-tmp/c_verdicts.txt ("name ok|bad" lines); tests/py/test_tavm.py
 * checks the Python reader gives the same verdicts. */
static void test_corpus_verdicts_for_python(void)
{
    DIR *d = opendir("tests/fuzz/corpus/model");
    CHECK(d != NULL);
    if (!d)
        return;
    mkdir("build", 0777);
    mkdir(OUT_DIR, 0777);
    FILE *out = fopen(OUT_DIR "/c_verdicts.txt", "w");
    CHECK(out != NULL);
    int files = 0, small_ok = 0;
    struct dirent *e;
    while (out && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "tests/fuzz/corpus/model/%s", e->d_name);
        size_t n = 0;
        uint8_t *img = read_file(path, &n);
        uint8_t *c = aligned_copy(img, img ? n : 0);
        tav_model *m = NULL;
        tav_status st = tav_model_open_memory(c, img ? n : 0, TAV_MODEL_NO_VERIFY, &m);
        tav_model_close(m);
        fprintf(out, "%s %s\n", e->d_name, st == TAV_OK ? "ok" : "bad");
        files++;
        small_ok += st == TAV_OK && strcmp(e->d_name, "small.tavm") == 0;
        free(c);
        free(img);
    }
    closedir(d);
    if (out)
        fclose(out);
    CHECK(files >= 60);
    CHECK_EQ_INT(small_ok, 1);
}

/* ---------------------------------------------------------------- allocation faults */

static void test_alloc_failure_every_open_allocation(void)
{
    size_t n;
    uint8_t *img = read_file(SMALL, &n);
    CHECK(img != NULL);
    if (!img)
        return;
    long nth;
    int wrong = 0;
    for (nth = 1; nth < 100; nth++) {
        tav_model *m = NULL;
        tav_fault_alloc_fail_at(nth);
        tav_status st = nth % 2 ? tav_model_open_memory(img, n, 0, &m) : tav_model_open(SMALL, 0, &m);
        tav_fault_alloc_fail_at(0);
        if (st == TAV_OK) {
            tav_model_close(m);
            break;
        }
        if (st != TAV_ERR_NOMEM || m != NULL) {
            wrong++;
            fprintf(stderr, "alloc failure %ld: status %d (%s)\n", nth, st, tav_last_error());
        }
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK(nth > 3 && nth < 100); /* open makes a handful of allocations, then succeeds */
    fprintf(stderr, "open survives a failure at each of its %ld allocations\n", nth - 1);
    free(img);
}

static void test_alloc_failure_writer(void)
{
    tav_model *src = NULL;
    CHECK(tav_model_open(SMALL, 0, &src) == TAV_OK);
    if (!src)
        return;
    int wrong = 0;
    long nth;
    for (nth = 1; nth < 2000; nth++) {
        tav_fault_alloc_fail_at(nth);
        tav_model_writer *w = NULL;
        void *buf = NULL;
        size_t size;
        tav_status st = copy_to_writer(src, &w);
        if (st == TAV_OK)
            st = tav_model_writer_write_memory(w, &buf, &size);
        tav_fault_alloc_fail_at(0);
        tav_model_writer_free(w);
        tav_free(buf);
        if (st == TAV_OK)
            break;
        if (st != TAV_ERR_NOMEM)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK(nth > 10 && nth < 2000);
    fprintf(stderr, "writer survives a failure at each of its %ld allocations\n", nth - 1);
    tav_model_close(src);
}

int main(void)
{
    RUN(test_sha256_vectors);
    RUN(test_small_values);
    RUN(test_checksum_is_file_sha256);
    RUN(test_c_writer_matches_python_bytes);
    RUN(test_writer_from_scratch);
    RUN(test_every_truncation_fails_cleanly);
    RUN(test_every_byte_corruption);
    RUN(test_crafted_tables);
    RUN(test_open_path_errors);
    RUN(test_corpus_verdicts_for_python);
    RUN(test_alloc_failure_every_open_allocation);
    RUN(test_alloc_failure_writer);
    return check_summary();
}
