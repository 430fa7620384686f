/* test_kiosk_store.c — the kiosk's SQLite store: FIFO order and states, commit of result
 * files, cache hits, LRU eviction under a size cap, and recovery after a crash. */
#include "check.h"
#include "core/mem.h"
#include "kiosk/store.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char db_path[300], files_dir[300];

static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/tav-store-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(db_path, sizeof db_path, "%s/k.db", dir);
    snprintf(files_dir, sizeof files_dir, "%s/files", dir);
}

static void rm_dir(const char *d)
{
    DIR *h = opendir(d);
    if (!h)
        return;
    struct dirent *e;
    while ((e = readdir(h))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_dir(p);
        else
            unlink(p);
    }
    closedir(h);
    rmdir(d);
}

static tav_kiosk_store *open_store(int64_t cap, tav_kiosk_recovery *rec)
{
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = db_path;
    sp.files_dir = files_dir;
    sp.cache_cap_bytes = cap;
    sp.max_attempts = 2;
    tav_kiosk_store *s = NULL;
    if (tav_kiosk_store_open(&sp, &s, rec) != TAV_OK)
        fprintf(stderr, "open: %s\n", tav_last_error());
    return s;
}

static tav_kiosk_job_params params(const char *prompt)
{
    tav_kiosk_job_params p = tav_kiosk_job_default_params();
    p.n_scenes = 1;
    snprintf(p.scenes[0], sizeof p.scenes[0], "%s", prompt);
    return p;
}

static void key_of(const char *prompt, char key[TAV_KIOSK_KEY_HEX])
{
    tav_kiosk_job_params p = params(prompt);
    tav_kiosk_cache_key(&p, "model", key);
}

static int64_t add(tav_kiosk_store *s, const char *prompt, int *hit)
{
    tav_kiosk_job_params p = params(prompt);
    char key[TAV_KIOSK_KEY_HEX];
    key_of(prompt, key);
    int64_t id = 0;
    int h = 0;
    CHECK_EQ_INT(tav_kiosk_store_add_job(s, &p, "{\"prompts\":[\"x\"]}", key, &id, &h), TAV_OK);
    if (hit)
        *hit = h;
    return id;
}

/* What a generator does: writes the three temp files with `bytes` bytes each. */
static void write_temps(tav_kiosk_store *s, const char *key, size_t bytes)
{
    char *buf = calloc(1, bytes);
    for (int f = 0; f < TAV_KIOSK_N_FILES; f++) {
        char p[3200];
        tav_kiosk_store_temp_path(s, key, (tav_kiosk_file)f, p, sizeof p);
        FILE *fp = fopen(p, "wb");
        CHECK(fp != NULL);
        if (fp) {
            fwrite(buf, 1, bytes, fp);
            fclose(fp);
        }
    }
    free(buf);
}

/* Runs a job through claim -> files -> commit. */
static int64_t make_result(tav_kiosk_store *s, const char *prompt, size_t bytes)
{
    int64_t id = add(s, prompt, NULL);
    tav_kiosk_job j;
    int found;
    CHECK_EQ_INT(tav_kiosk_store_claim_next(s, &j, &found), TAV_OK);
    CHECK(found && j.id == id);
    write_temps(s, j.key, bytes);
    CHECK_EQ_INT(tav_kiosk_store_commit_result(s, j.id, j.key), TAV_OK);
    tav_kiosk_job_clear(&j);
    return id;
}

static int count_files(void)
{
    DIR *h = opendir(files_dir);
    int n = 0;
    struct dirent *e;
    while (h && (e = readdir(h)))
        n += e->d_name[0] != '.';
    if (h)
        closedir(h);
    return n;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_store_fifo_states(void)
{
    fresh_dir();
    tav_kiosk_store *s = open_store(0, NULL);
    CHECK(s != NULL);
    if (!s)
        return;
    int64_t a = add(s, "one", NULL), b = add(s, "two", NULL), c = add(s, "three", NULL);
    CHECK(a < b && b < c);
    int ahead;
    tav_kiosk_store_queue_position(s, c, &ahead);
    CHECK_EQ_INT(ahead, 2);
    tav_job_state now;
    CHECK_EQ_INT(tav_kiosk_store_cancel_job(s, b, &now), TAV_OK); /* pending: at once */
    CHECK_EQ_INT(now, TAV_JOB_CANCELLED);
    tav_kiosk_job j;
    int found;
    CHECK_EQ_INT(tav_kiosk_store_claim_next(s, &j, &found), TAV_OK);
    CHECK(found && j.id == a && j.state == TAV_JOB_RUNNING && j.attempts == 1);
    tav_kiosk_job_clear(&j);
    CHECK_EQ_INT(tav_kiosk_store_cancel_job(s, a, &now), TAV_OK); /* running: worker's job */
    CHECK_EQ_INT(now, TAV_JOB_RUNNING);
    CHECK_EQ_INT(tav_kiosk_store_finish_job(s, a, TAV_JOB_CANCELLED, "cancelled by the operator"), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_store_claim_next(s, &j, &found), TAV_OK); /* b skipped: cancelled */
    CHECK(found && j.id == c);
    tav_kiosk_job_clear(&j);
    CHECK_EQ_INT(tav_kiosk_store_finish_job(s, c, TAV_JOB_FAILED, "engine not built yet"), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_store_claim_next(s, &j, &found), TAV_OK);
    CHECK(!found);
    CHECK_EQ_INT(tav_kiosk_store_get_job(s, c, &j), TAV_OK);
    CHECK(j.state == TAV_JOB_FAILED && !strcmp(j.error, "engine not built yet") && j.finished > 0);
    tav_kiosk_job_clear(&j);
    CHECK_EQ_INT(tav_kiosk_store_cancel_job(s, c, &now), TAV_OK); /* ended: nothing to do */
    CHECK_EQ_INT(now, TAV_JOB_FAILED);
    CHECK_EQ_INT(tav_kiosk_store_get_job(s, 999, &j), TAV_ERR_NOT_FOUND);
    CHECK_EQ_INT(tav_kiosk_store_cancel_job(s, 999, &now), TAV_ERR_NOT_FOUND);

    tav_kiosk_job *h;
    int n, total;
    CHECK_EQ_INT(tav_kiosk_store_history(s, 0, 2, &h, &n, &total), TAV_OK);
    CHECK(n == 2 && total == 3 && h[0].id == c && h[1].id == b); /* newest first */
    for (int i = 0; i < n; i++)
        tav_kiosk_job_clear(&h[i]);
    tav_free(h);
    CHECK_EQ_INT(tav_kiosk_store_history(s, 2, 2, &h, &n, &total), TAV_OK);
    CHECK(n == 1 && h[0].id == a);
    for (int i = 0; i < n; i++)
        tav_kiosk_job_clear(&h[i]);
    tav_free(h);
    CHECK_EQ_INT(tav_kiosk_store_history(s, 0, 0, &h, &n, &total), TAV_ERR_LIMIT);
    tav_kiosk_store_close(s);
    rm_dir(dir);
}

static void test_store_commit_and_cache_hit(void)
{
    fresh_dir();
    tav_kiosk_store *s = open_store(0, NULL);
    if (!s)
        return;
    int64_t id = make_result(s, "the red gear", 100);
    char path[3200];
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, id, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    CHECK(file_exists(path));
    CHECK_STR_CONTAINS(path, ".mp4");
    char tmp[3200], key[TAV_KIOSK_KEY_HEX];
    key_of("the red gear", key);
    tav_kiosk_store_temp_path(s, key, TAV_KIOSK_FILE_VIDEO, tmp, sizeof tmp);
    CHECK(!file_exists(tmp)); /* renamed, not copied */
    /* the same inputs again: done at once from the cache, nothing queued */
    int hit = 0;
    int64_t id2 = add(s, "the red gear", &hit);
    CHECK(hit);
    tav_kiosk_job j;
    CHECK_EQ_INT(tav_kiosk_store_get_job(s, id2, &j), TAV_OK);
    CHECK(j.state == TAV_JOB_DONE && j.cache_hit && j.has_files);
    tav_kiosk_job_clear(&j);
    int found;
    CHECK_EQ_INT(tav_kiosk_store_claim_next(s, &j, &found), TAV_OK);
    CHECK(!found);
    /* a missing temp file is an error and commits nothing */
    int64_t id3 = add(s, "the blue plate", NULL);
    CHECK_EQ_INT(tav_kiosk_store_claim_next(s, &j, &found), TAV_OK);
    CHECK(found && j.id == id3);
    CHECK_EQ_INT(tav_kiosk_store_commit_result(s, j.id, j.key), TAV_ERR_IO);
    tav_kiosk_job_clear(&j);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, id3, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_ERR_NOT_FOUND);
    int64_t bytes;
    int entries;
    tav_kiosk_store_cache_usage(s, &bytes, &entries);
    CHECK(bytes == 300 && entries == 1);
    tav_kiosk_store_close(s);
    rm_dir(dir);
}

static void test_store_lru_eviction(void)
{
    fresh_dir();
    tav_kiosk_store *s = open_store(0, NULL); /* no automatic cap: evict by hand */
    if (!s)
        return;
    int64_t a = make_result(s, "a", 1000); /* 3000 bytes each entry */
    usleep(2000);
    int64_t b = make_result(s, "b", 1000);
    usleep(2000);
    int64_t c = make_result(s, "c", 1000);
    usleep(2000);
    char path[3200];
    /* using a's video makes it recently used: b is now the least recently used */
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, a, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    int ev = -1;
    CHECK_EQ_INT(tav_kiosk_store_evict(s, 6500, NULL, &ev), TAV_OK);
    CHECK_EQ_INT(ev, 1);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, b, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_ERR_NOT_FOUND);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, a, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, c, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    CHECK_EQ_INT(count_files(), 6); /* b's three files are gone from disk */
    /* keep_key is never evicted, even when it alone exceeds the cap */
    char kc[TAV_KIOSK_KEY_HEX];
    key_of("c", kc);
    CHECK_EQ_INT(tav_kiosk_store_evict(s, 10, kc, &ev), TAV_OK);
    CHECK_EQ_INT(ev, 1);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, c, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    CHECK_EQ_INT(count_files(), 3);
    tav_kiosk_store_close(s);

    /* with a cap, commit evicts by itself */
    s = open_store(7000, NULL);
    int64_t d = make_result(s, "d", 1000);
    int64_t e = make_result(s, "e", 1000); /* c + d + e = 9000 > 7000: c goes */
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, c, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_ERR_NOT_FOUND);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, d, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, e, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    int64_t bytes;
    int entries;
    tav_kiosk_store_cache_usage(s, &bytes, &entries);
    CHECK(bytes <= 7000 && entries == 2);
    tav_kiosk_store_close(s);
    rm_dir(dir);
}

/* A crash leaves a job 'running', temp files, a row whose file vanished and a stray
 * file; opening again repairs all of it. */
static void test_store_recovery(void)
{
    fresh_dir();
    tav_kiosk_store *s = open_store(0, NULL);
    if (!s)
        return;
    int64_t done = make_result(s, "kept", 50);
    int64_t lost = make_result(s, "lost", 50);
    int64_t run = add(s, "interrupted", NULL);
    tav_kiosk_job j;
    int found;
    tav_kiosk_store_claim_next(s, &j, &found);
    CHECK(found && j.id == run);
    write_temps(s, j.key, 10); /* half-made result */
    tav_kiosk_job_clear(&j);
    char path[3200];
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, lost, TAV_KIOSK_FILE_THUMB, path, sizeof path), TAV_OK);
    unlink(path); /* a file vanished under its row */
    char stray[600];
    snprintf(stray, sizeof stray, "%s/not-ours.bin", files_dir);
    FILE *f = fopen(stray, "w");
    fputs("x", f);
    fclose(f);
    tav_kiosk_store_close(s); /* no clean shutdown happened for the running job */

    tav_kiosk_recovery rec = {0};
    s = open_store(0, &rec);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK_EQ_INT(rec.requeued, 1);
    CHECK_EQ_INT(rec.failed, 0);
    CHECK_EQ_INT(rec.rows_dropped, 1);
    CHECK_EQ_INT(rec.files_removed, 4); /* 3 temp files + the stray one */
    CHECK_EQ_INT(count_files(), 3);     /* only "kept"'s files */
    CHECK_EQ_INT(tav_kiosk_store_get_job(s, run, &j), TAV_OK);
    CHECK(j.state == TAV_JOB_PENDING && j.attempts == 1);
    tav_kiosk_job_clear(&j);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, done, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_store_job_file(s, lost, TAV_KIOSK_FILE_VIDEO, path, sizeof path), TAV_ERR_NOT_FOUND);

    /* interrupted again: max_attempts = 2 reached, so it fails with a reason */
    tav_kiosk_store_claim_next(s, &j, &found);
    CHECK(found && j.id == run && j.attempts == 2);
    tav_kiosk_job_clear(&j);
    tav_kiosk_store_close(s);
    s = open_store(0, &rec);
    CHECK_EQ_INT(rec.failed, 1);
    CHECK_EQ_INT(tav_kiosk_store_get_job(s, run, &j), TAV_OK);
    CHECK(j.state == TAV_JOB_FAILED);
    CHECK_STR_CONTAINS(j.error, "stopped during this job 2 times");
    tav_kiosk_job_clear(&j);
    tav_kiosk_store_close(s);

    /* the database is WAL and passes SQLite's own integrity check */
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "wal"));
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "ok"));
    sqlite3_finalize(st);
    sqlite3_close(db);
    rm_dir(dir);
}

static void test_store_one_kiosk_per_database(void)
{
    fresh_dir();
    tav_kiosk_store *a = open_store(0, NULL);
    CHECK(a != NULL);
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = db_path;
    sp.files_dir = files_dir;
    tav_kiosk_store *b = (tav_kiosk_store *)1;
    CHECK_EQ_INT(tav_kiosk_store_open(&sp, &b, NULL), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "is in use by another kiosk");
    CHECK(b == NULL);
    tav_kiosk_store_close(a);
    b = open_store(0, NULL); /* free again once the first one closed */
    CHECK(b != NULL);
    tav_kiosk_store_close(b);
    rm_dir(dir);
}

static void test_store_open_errors(void)
{
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = "/nonexistent-dir/x.db";
    sp.files_dir = "/nonexistent-dir/files";
    tav_kiosk_store *s;
    CHECK_EQ_INT(tav_kiosk_store_open(&sp, &s, NULL), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "/nonexistent-dir/files");
    CHECK(s == NULL);
}

int main(void)
{
    RUN(test_store_fifo_states);
    RUN(test_store_commit_and_cache_hit);
    RUN(test_store_lru_eviction);
    RUN(test_store_recovery);
    RUN(test_store_one_kiosk_per_database);
    RUN(test_store_open_errors);
    return check_summary();
}
