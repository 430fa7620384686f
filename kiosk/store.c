/* store.c — SQLite jobs / cache / history for the kiosk (contracts in store.h). */
#include "kiosk/store.h"

#include "core/log.h"
#include "core/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

struct tav_kiosk_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    char files_dir[2048];
    int64_t cap_bytes;
    int max_attempts;
    int lock_fd; /* flock on "<db>.lock": one kiosk per database */
};

static const char *const state_words[] = {"pending", "running", "done", "failed", "cancelled"};
static const char *const file_ext[TAV_KIOSK_N_FILES] = {"mp4", "png", "jpg"};

const char *tav_job_state_str(tav_job_state st)
{
    return (unsigned)st < 5 ? state_words[st] : "unknown";
}

static tav_job_state state_from(const char *w)
{
    for (int i = 0; i < 5; i++)
        if (w && !strcmp(w, state_words[i]))
            return (tav_job_state)i;
    return TAV_JOB_FAILED;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

tav_kiosk_store_params tav_kiosk_store_default_params(void)
{
    tav_kiosk_store_params p = {0};
    p.cache_cap_bytes = (int64_t)2 << 30;
    p.max_attempts = 3;
    p.busy_timeout_ms = 5000;
    return p;
}

/* ---------------------------------------------------------------- SQL helpers */

static tav_status dbfail(tav_kiosk_store *s, const char *what)
{
    return tav_fail(TAV_ERR_IO, "database: %s: %s", what, sqlite3_errmsg(s->db));
}

static tav_status prep(tav_kiosk_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return dbfail(s, "prepare");
    return TAV_OK;
}

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK: constant statements. */
static tav_status begin(tav_kiosk_store *s)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return dbfail(s, "begin");
    return TAV_OK;
}

static tav_status commit(tav_kiosk_store *s)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        tav_status st = dbfail(s, "commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    return TAV_OK;
}

static void rollback(tav_kiosk_store *s) { sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); }

/* Runs a prepared statement to completion (no rows expected). */
static tav_status step_done(tav_kiosk_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return dbfail(s, what);
    return TAV_OK;
}

static tav_status log_event(tav_kiosk_store *s, int64_t job, const char *event, const char *detail)
{
    sqlite3_stmt *st;
    tav_status r = prep(s, "INSERT INTO history(job_id, at, event, detail) VALUES(?,?,?,?)", &st);
    if (r)
        return r;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_double(st, 2, now_s());
    sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_TRANSIENT);
    return step_done(s, st, "history");
}

/* Ends a write transaction that changed job `id`: records the history event,
 * then commits; rolls back when r (the transaction's status so far) or the
 * event failed. Returns the first failure. */
static tav_status end_job_tx(tav_kiosk_store *s, tav_status r, int64_t id, const char *event,
                             const char *detail)
{
    if (r == TAV_OK)
        r = log_event(s, id, event, detail);
    if (r) {
        rollback(s);
        return r;
    }
    return commit(s);
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " state TEXT NOT NULL CHECK(state IN ('pending','running','done','failed','cancelled')),"
    " template TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL DEFAULT '',"
    " params TEXT NOT NULL, cache_key TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created REAL NOT NULL, started REAL, finished REAL,"
    " error TEXT NOT NULL DEFAULT '', cache_hit INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id);"
    "CREATE TABLE IF NOT EXISTS cache("
    " key TEXT PRIMARY KEY, video TEXT NOT NULL, sheet TEXT NOT NULL, thumb TEXT NOT NULL,"
    " bytes INTEGER NOT NULL, created REAL NOT NULL, last_used REAL NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cache_lru ON cache(last_used);"
    "CREATE TABLE IF NOT EXISTS history("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, at REAL NOT NULL,"
    " event TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('schema','1');";

/* ---------------------------------------------------------------- files */

static void file_name(const char *key, tav_kiosk_file f, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", key, file_ext[f]);
}

static void full_path(const tav_kiosk_store *s, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", s->files_dir, name);
}

void tav_kiosk_store_temp_path(const tav_kiosk_store *s, const char *key, tav_kiosk_file f,
                               char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/tmp-%s.%s", s->files_dir, key, file_ext[(unsigned)f % 3]);
}

static int fsync_path(const char *path, int is_dir)
{
    int fd = open(path, (is_dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* True if all three files of key exist as regular files. */
static int files_present(const tav_kiosk_store *s, const char *key, int64_t *bytes)
{
    int64_t total = 0;
    for (int f = 0; f < TAV_KIOSK_N_FILES; f++) {
        char name[96], path[3200];
        file_name(key, (tav_kiosk_file)f, name, sizeof name);
        full_path(s, name, path, sizeof path);
        struct stat stt;
        if (stat(path, &stt) != 0 || !S_ISREG(stt.st_mode))
            return 0;
        total += stt.st_size;
    }
    if (bytes)
        *bytes = total;
    return 1;
}

static void unlink_entry_files(const tav_kiosk_store *s, const char *key)
{
    for (int f = 0; f < TAV_KIOSK_N_FILES; f++) {
        char name[96], path[3200];
        file_name(key, (tav_kiosk_file)f, name, sizeof name);
        full_path(s, name, path, sizeof path);
        unlink(path);
    }
}

/* ---------------------------------------------------------------- recovery */

static tav_status recover_jobs(tav_kiosk_store *s, tav_kiosk_recovery *rec)
{
    tav_status r = begin(s);
    if (r)
        return r;
    sqlite3_stmt *st;
    if ((r = prep(s, "SELECT id, attempts FROM jobs WHERE state='running'", &st))) {
        rollback(s);
        return r;
    }
    int64_t ids[256];
    int att[256], n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < 256) {
        ids[n] = sqlite3_column_int64(st, 0);
        att[n++] = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    for (int i = 0; i < n && r == TAV_OK; i++) {
        int give_up = att[i] >= s->max_attempts;
        char msg[200];
        snprintf(msg, sizeof msg,
                 "the kiosk stopped during this job %d times; not trying again", att[i]);
        if ((r = prep(s,
                      give_up ? "UPDATE jobs SET state='failed', finished=?, error=? WHERE id=?"
                              : "UPDATE jobs SET state='pending', started=NULL WHERE id=?",
                      &st)))
            break;
        if (give_up) {
            sqlite3_bind_double(st, 1, now_s());
            sqlite3_bind_text(st, 2, msg, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 3, ids[i]);
        } else {
            sqlite3_bind_int64(st, 1, ids[i]);
        }
        if ((r = step_done(s, st, "recover job")))
            break;
        r = log_event(s, ids[i], give_up ? "failed" : "requeued", give_up ? msg : "after a restart");
        if (give_up)
            rec->failed++;
        else
            rec->requeued++;
    }
    if (r) {
        rollback(s);
        return r;
    }
    return commit(s);
}

static tav_status recover_cache(tav_kiosk_store *s, tav_kiosk_recovery *rec)
{
    /* 1. rows whose files are missing */
    tav_status r = begin(s);
    if (r)
        return r;
    sqlite3_stmt *st, *del;
    if ((r = prep(s, "SELECT key FROM cache", &st))) {
        rollback(s);
        return r;
    }
    if ((r = prep(s, "DELETE FROM cache WHERE key=?", &del))) {
        sqlite3_finalize(st);
        rollback(s);
        return r;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (key && files_present(s, key, NULL))
            continue;
        sqlite3_bind_text(del, 1, key ? key : "", -1, SQLITE_TRANSIENT);
        if (sqlite3_step(del) != SQLITE_DONE)
            r = dbfail(s, "drop cache row");
        sqlite3_reset(del);
        if (key)
            unlink_entry_files(s, key); /* partial sets go too */
        rec->rows_dropped++;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(del);
    if (r) {
        rollback(s);
        return r;
    }
    if ((r = commit(s)))
        return r;

    /* 2. files without rows (temp files from a crash included) */
    DIR *d = opendir(s->files_dir);
    if (!d)
        return tav_fail(TAV_ERR_IO, "%s: %s", s->files_dir, strerror(errno));
    if ((r = prep(s, "SELECT 1 FROM cache WHERE key=?", &st))) {
        closedir(d);
        return r;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char key[TAV_KIOSK_KEY_HEX];
        int keep = 0;
        const char *dot = strchr(e->d_name, '.');
        if (dot && dot - e->d_name == 64) {
            memcpy(key, e->d_name, 64);
            key[64] = '\0';
            for (int f = 0; f < TAV_KIOSK_N_FILES; f++)
                if (!strcmp(dot + 1, file_ext[f]))
                    keep = 1;
            if (keep) {
                sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
                keep = sqlite3_step(st) == SQLITE_ROW;
                sqlite3_reset(st);
            }
        }
        if (!keep) {
            char path[3200];
            full_path(s, e->d_name, path, sizeof path);
            if (unlink(path) == 0)
                rec->files_removed++;
        }
    }
    sqlite3_finalize(st);
    closedir(d);
    return TAV_OK;
}

/* ---------------------------------------------------------------- open / close */

tav_status tav_kiosk_store_open(const tav_kiosk_store_params *sp, tav_kiosk_store **out,
                                tav_kiosk_recovery *rec_out)
{
    *out = NULL;
    tav_kiosk_recovery rec = {0};
    if (!sp->db_path || !sp->files_dir || strlen(sp->files_dir) > 2000 || strlen(sp->db_path) > 2000)
        return tav_fail(TAV_ERR_INVALID_ARG, "store: db_path and a files_dir are needed");
    if (mkdir(sp->files_dir, 0755) != 0 && errno != EEXIST)
        return tav_fail(TAV_ERR_IO, "%s: cannot create: %s", sp->files_dir, strerror(errno));
    tav_kiosk_store *s = tav_calloc(1, sizeof *s);
    if (!s)
        return tav_fail(TAV_ERR_NOMEM, "out of memory opening the store");
    pthread_mutex_init(&s->mu, NULL);
    s->lock_fd = -1;
    snprintf(s->files_dir, sizeof s->files_dir, "%s", sp->files_dir);
    tav_status r = TAV_OK;
    /* Two kiosks on one database would each re-queue the other's running job at
     * start and sweep each other's half-written files: refuse the second. */
    char lock_path[2100];
    snprintf(lock_path, sizeof lock_path, "%s.lock", sp->db_path);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        r = tav_fail(TAV_ERR_IO, "%s is in use by another kiosk (lock %s: %s)", sp->db_path,
                     lock_path, strerror(errno));
        goto fail;
    }
    s->cap_bytes = sp->cache_cap_bytes;
    s->max_attempts = sp->max_attempts > 0 ? sp->max_attempts : 1;
    int rc = sqlite3_open_v2(sp->db_path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = tav_fail(TAV_ERR_IO, "%s: cannot open the database: %s", sp->db_path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, sp->busy_timeout_ms > 0 ? sp->busy_timeout_ms : 5000);
    char *err = NULL;
    /* journal_mode returns a row; sqlite3_exec ignores it. */
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                     NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        r = tav_fail(TAV_ERR_IO, "%s: %s", sp->db_path, err ? err : "setup failed");
        sqlite3_free(err);
        goto fail;
    }
    if ((r = recover_jobs(s, &rec)) || (r = recover_cache(s, &rec)))
        goto fail;
    if (rec_out)
        *rec_out = rec;
    *out = s;
    return TAV_OK;
fail:
    tav_kiosk_store_close(s);
    return r;
}

void tav_kiosk_store_close(tav_kiosk_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&s->mu);
    tav_free(s);
}

/* ---------------------------------------------------------------- jobs */

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

#define JOB_COLUMNS \
    "id, state, template, summary, params, cache_key, attempts, created, " \
    "IFNULL(started,0), IFNULL(finished,0), error, cache_hit, " \
    "(SELECT COUNT(*) FROM cache c WHERE c.key = jobs.cache_key)"

static tav_status read_job(sqlite3_stmt *st, tav_kiosk_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(st, 0);
    j->state = state_from((const char *)sqlite3_column_text(st, 1));
    copy_text(j->template_id, sizeof j->template_id, sqlite3_column_text(st, 2));
    copy_text(j->summary, sizeof j->summary, sqlite3_column_text(st, 3));
    const char *p = (const char *)sqlite3_column_text(st, 4);
    size_t n = p ? strlen(p) : 0;
    j->params_json = tav_malloc(n + 1);
    if (!j->params_json)
        return tav_fail(TAV_ERR_NOMEM, "out of memory reading a job");
    memcpy(j->params_json, p ? p : "", n + 1);
    copy_text(j->key, sizeof j->key, sqlite3_column_text(st, 5));
    j->attempts = sqlite3_column_int(st, 6);
    j->created = sqlite3_column_double(st, 7);
    j->started = sqlite3_column_double(st, 8);
    j->finished = sqlite3_column_double(st, 9);
    copy_text(j->error, sizeof j->error, sqlite3_column_text(st, 10));
    j->cache_hit = sqlite3_column_int(st, 11);
    j->has_files = sqlite3_column_int(st, 12) > 0;
    return TAV_OK;
}

void tav_kiosk_job_clear(tav_kiosk_job *j)
{
    tav_free(j->params_json);
    j->params_json = NULL;
}

/* Inside a transaction: is key cached with its files? Refreshes last_used. */
static int cache_touch(tav_kiosk_store *s, const char *key)
{
    if (!files_present(s, key, NULL))
        return 0;
    sqlite3_stmt *st;
    if (prep(s, "UPDATE cache SET last_used=? WHERE key=?", &st))
        return 0;
    sqlite3_bind_double(st, 1, now_s());
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    int ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(s->db) == 1;
    sqlite3_finalize(st);
    return ok;
}

tav_status tav_kiosk_store_add_job(tav_kiosk_store *s, const tav_kiosk_job_params *jp,
                                   const char *params_json, const char *key, int64_t *id,
                                   int *cache_hit)
{
    pthread_mutex_lock(&s->mu);
    tav_status r = begin(s);
    if (r)
        goto out;
    int hit = cache_touch(s, key);
    double t = now_s();
    sqlite3_stmt *st;
    if ((r = prep(s,
                  "INSERT INTO jobs(state, template, summary, params, cache_key, created, "
                  "started, finished, cache_hit) VALUES(?,?,?,?,?,?,?,?,?)",
                  &st))) {
        rollback(s);
        goto out;
    }
    sqlite3_bind_text(st, 1, hit ? "done" : "pending", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, jp->template_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, jp->summary, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, params_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 6, t);
    if (hit) {
        sqlite3_bind_double(st, 7, t);
        sqlite3_bind_double(st, 8, t);
    }
    sqlite3_bind_int(st, 9, hit);
    if ((r = step_done(s, st, "add job"))) {
        rollback(s);
        goto out;
    }
    *id = sqlite3_last_insert_rowid(s->db);
    *cache_hit = hit;
    if ((r = log_event(s, *id, hit ? "cache-hit" : "submitted", key))) {
        rollback(s);
        goto out;
    }
    r = commit(s);
out:
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_claim_next(tav_kiosk_store *s, tav_kiosk_job *out, int *found)
{
    *found = 0;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    tav_status r = begin(s);
    if (r)
        goto out;
    sqlite3_stmt *st;
    if ((r = prep(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE state='pending' ORDER BY id LIMIT 1",
                  &st))) {
        rollback(s);
        goto out;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = read_job(st, out);
    else if (rc != SQLITE_DONE)
        r = dbfail(s, "claim");
    sqlite3_finalize(st);
    if (r || rc != SQLITE_ROW) {
        rollback(s);
        goto out;
    }
    out->state = TAV_JOB_RUNNING;
    out->attempts++;
    out->started = now_s();
    if ((r = prep(s, "UPDATE jobs SET state='running', attempts=attempts+1, started=? WHERE id=?",
                  &st)) == TAV_OK) {
        sqlite3_bind_double(st, 1, out->started);
        sqlite3_bind_int64(st, 2, out->id);
        r = step_done(s, st, "claim");
    }
    if (r == TAV_OK)
        r = log_event(s, out->id, "started", "");
    if (r) {
        rollback(s);
        tav_kiosk_job_clear(out);
        goto out;
    }
    if ((r = commit(s)) == TAV_OK)
        *found = 1;
    else
        tav_kiosk_job_clear(out);
out:
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_get_job(tav_kiosk_store *s, int64_t id, tav_kiosk_job *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    tav_status r = prep(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE id=?", &st);
    if (r == TAV_OK) {
        sqlite3_bind_int64(st, 1, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            r = read_job(st, out);
        else if (rc == SQLITE_DONE)
            r = tav_fail(TAV_ERR_NOT_FOUND, "there is no job %lld", (long long)id);
        else
            r = dbfail(s, "get job");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_queue_position(tav_kiosk_store *s, int64_t id, int *ahead)
{
    *ahead = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    tav_status r = prep(s, "SELECT COUNT(*) FROM jobs WHERE state IN ('pending','running') AND id<?", &st);
    if (r == TAV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            *ahead = sqlite3_column_int(st, 0);
        else
            r = dbfail(s, "queue position");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_finish_job(tav_kiosk_store *s, int64_t id, tav_job_state state,
                                      const char *error)
{
    if (state != TAV_JOB_FAILED && state != TAV_JOB_CANCELLED)
        return tav_fail(TAV_ERR_INVALID_ARG, "finish_job: state must be failed or cancelled");
    pthread_mutex_lock(&s->mu);
    tav_status r = begin(s);
    if (r)
        goto out;
    sqlite3_stmt *st;
    if ((r = prep(s,
                  "UPDATE jobs SET state=?, finished=?, error=? WHERE id=? AND state='running'",
                  &st)) == TAV_OK) {
        sqlite3_bind_text(st, 1, tav_job_state_str(state), -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, now_s());
        sqlite3_bind_text(st, 3, error ? error : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, id);
        r = step_done(s, st, "finish job");
    }
    r = end_job_tx(s, r, id, tav_job_state_str(state), error);
out:
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_requeue_job(tav_kiosk_store *s, int64_t id)
{
    pthread_mutex_lock(&s->mu);
    tav_status r = begin(s);
    if (r)
        goto out;
    sqlite3_stmt *st;
    if ((r = prep(s,
                  "UPDATE jobs SET state='pending', started=NULL, attempts=MAX(attempts-1,0) "
                  "WHERE id=? AND state='running'",
                  &st)) == TAV_OK) {
        sqlite3_bind_int64(st, 1, id);
        r = step_done(s, st, "requeue");
    }
    r = end_job_tx(s, r, id, "requeued", "the kiosk was stopped");
out:
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_cancel_job(tav_kiosk_store *s, int64_t id, tav_job_state *state_out)
{
    pthread_mutex_lock(&s->mu);
    tav_status r = begin(s);
    if (r)
        goto out;
    sqlite3_stmt *st;
    if ((r = prep(s, "SELECT state FROM jobs WHERE id=?", &st))) {
        rollback(s);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    tav_job_state cur = rc == SQLITE_ROW ? state_from((const char *)sqlite3_column_text(st, 0))
                                         : TAV_JOB_FAILED;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        rollback(s);
        r = rc == SQLITE_DONE ? tav_fail(TAV_ERR_NOT_FOUND, "there is no job %lld", (long long)id)
                              : dbfail(s, "cancel");
        goto out;
    }
    if (cur == TAV_JOB_PENDING) {
        if ((r = prep(s,
                      "UPDATE jobs SET state='cancelled', finished=?, error='cancelled before it "
                      "started' WHERE id=?",
                      &st)) == TAV_OK) {
            sqlite3_bind_double(st, 1, now_s());
            sqlite3_bind_int64(st, 2, id);
            r = step_done(s, st, "cancel");
        }
        if (r == TAV_OK)
            r = log_event(s, id, "cancelled", "while pending");
        if (r) {
            rollback(s);
            goto out;
        }
        cur = TAV_JOB_CANCELLED;
        r = commit(s);
    } else {
        rollback(s);
    }
    *state_out = cur;
out:
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_finish_from_cache(tav_kiosk_store *s, int64_t id, const char *key,
                                             int *hit)
{
    *hit = 0;
    pthread_mutex_lock(&s->mu);
    tav_status r = begin(s);
    if (r)
        goto out;
    if (!cache_touch(s, key)) {
        rollback(s);
        goto out;
    }
    sqlite3_stmt *st;
    if ((r = prep(s,
                  "UPDATE jobs SET state='done', finished=?, cache_hit=1 WHERE id=? AND "
                  "state='running'",
                  &st)) == TAV_OK) {
        sqlite3_bind_double(st, 1, now_s());
        sqlite3_bind_int64(st, 2, id);
        r = step_done(s, st, "finish from cache");
    }
    if ((r = end_job_tx(s, r, id, "cache-hit", key)) == TAV_OK)
        *hit = 1;
out:
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* ---------------------------------------------------------------- cache */

static int valid_key(const char *key)
{
    if (strlen(key) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return 0;
    return 1;
}

tav_status tav_kiosk_store_commit_result(tav_kiosk_store *s, int64_t id, const char *key)
{
    if (!valid_key(key))
        return tav_fail(TAV_ERR_INVALID_ARG, "commit: bad cache key");
    /* 1. make the temp files durable, then give them their final names */
    int64_t bytes = 0;
    char tmp[TAV_KIOSK_N_FILES][3200], fin[TAV_KIOSK_N_FILES][3200];
    for (int f = 0; f < TAV_KIOSK_N_FILES; f++) {
        char name[96];
        tav_kiosk_store_temp_path(s, key, (tav_kiosk_file)f, tmp[f], sizeof tmp[f]);
        file_name(key, (tav_kiosk_file)f, name, sizeof name);
        full_path(s, name, fin[f], sizeof fin[f]);
        struct stat stt;
        if (stat(tmp[f], &stt) != 0 || !S_ISREG(stt.st_mode) || stt.st_size == 0)
            return tav_fail(TAV_ERR_IO, "the generator did not write %s", tmp[f]);
        bytes += stt.st_size;
        if (fsync_path(tmp[f], 0) != 0)
            return tav_fail(TAV_ERR_IO, "%s: fsync: %s", tmp[f], strerror(errno));
    }
    for (int f = 0; f < TAV_KIOSK_N_FILES; f++)
        if (rename(tmp[f], fin[f]) != 0)
            return tav_fail(TAV_ERR_IO, "rename %s: %s", tmp[f], strerror(errno));
    if (fsync_path(s->files_dir, 1) != 0)
        return tav_fail(TAV_ERR_IO, "%s: fsync: %s", s->files_dir, strerror(errno));

    /* 2. the row commits only now */
    pthread_mutex_lock(&s->mu);
    tav_status r = begin(s);
    if (r)
        goto out;
    double t = now_s();
    sqlite3_stmt *st;
    if ((r = prep(s,
                  "INSERT OR REPLACE INTO cache(key, video, sheet, thumb, bytes, created, "
                  "last_used) VALUES(?,?,?,?,?,?,?)",
                  &st)) == TAV_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        for (int f = 0; f < TAV_KIOSK_N_FILES; f++) {
            char name[96];
            file_name(key, (tav_kiosk_file)f, name, sizeof name);
            sqlite3_bind_text(st, 2 + f, name, -1, SQLITE_TRANSIENT);
        }
        sqlite3_bind_int64(st, 5, bytes);
        sqlite3_bind_double(st, 6, t);
        sqlite3_bind_double(st, 7, t);
        r = step_done(s, st, "cache row");
    }
    if (r == TAV_OK &&
        (r = prep(s, "UPDATE jobs SET state='done', finished=? WHERE id=?", &st)) == TAV_OK) {
        sqlite3_bind_double(st, 1, t);
        sqlite3_bind_int64(st, 2, id);
        r = step_done(s, st, "job done");
    }
    r = end_job_tx(s, r, id, "done", key);
out:
    pthread_mutex_unlock(&s->mu);
    if (r == TAV_OK && s->cap_bytes > 0)
        r = tav_kiosk_store_evict(s, s->cap_bytes, key, NULL);
    return r;
}

tav_status tav_kiosk_store_evict(tav_kiosk_store *s, int64_t cap_bytes, const char *keep_key,
                                 int *evicted)
{
    int count = 0;
    tav_status r = TAV_OK;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        int64_t total = 0;
        sqlite3_stmt *st;
        if ((r = prep(s, "SELECT IFNULL(SUM(bytes),0) FROM cache", &st)))
            break;
        if (sqlite3_step(st) == SQLITE_ROW)
            total = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (total <= cap_bytes)
            break;
        char victim[TAV_KIOSK_KEY_HEX] = "";
        if ((r = prep(s, "SELECT key FROM cache WHERE key<>? ORDER BY last_used, created LIMIT 1",
                      &st)))
            break;
        sqlite3_bind_text(st, 1, keep_key ? keep_key : "", -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            copy_text(victim, sizeof victim, sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (!victim[0])
            break; /* only keep_key is left: a single entry may exceed the cap */
        if ((r = begin(s)))
            break;
        if ((r = prep(s, "DELETE FROM cache WHERE key=?", &st)) == TAV_OK) {
            sqlite3_bind_text(st, 1, victim, -1, SQLITE_TRANSIENT);
            r = step_done(s, st, "evict");
        }
        if (r == TAV_OK)
            r = log_event(s, 0, "evicted", victim);
        if (r) {
            rollback(s);
            break;
        }
        if ((r = commit(s)))
            break;
        unlink_entry_files(s, victim); /* row first, files after: see store.h */
        count++;
    }
    pthread_mutex_unlock(&s->mu);
    if (evicted)
        *evicted = count;
    return r;
}

tav_status tav_kiosk_store_cache_usage(tav_kiosk_store *s, int64_t *bytes, int *entries)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    tav_status r = prep(s, "SELECT IFNULL(SUM(bytes),0), COUNT(*) FROM cache", &st);
    if (r == TAV_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            *bytes = sqlite3_column_int64(st, 0);
            *entries = sqlite3_column_int(st, 1);
        } else {
            r = dbfail(s, "cache usage");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_job_file(tav_kiosk_store *s, int64_t id, tav_kiosk_file f, char *buf,
                                    size_t cap)
{
    if ((unsigned)f >= TAV_KIOSK_N_FILES)
        return tav_fail(TAV_ERR_INVALID_ARG, "no such file kind");
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    tav_status r = prep(s,
                        "SELECT c.video, c.sheet, c.thumb, c.key FROM jobs j JOIN cache c ON "
                        "c.key = j.cache_key WHERE j.id=? AND j.state='done'",
                        &st);
    if (r == TAV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(st, (int)f);
            full_path(s, name ? name : "", buf, cap);
            char key[TAV_KIOSK_KEY_HEX];
            copy_text(key, sizeof key, sqlite3_column_text(st, 3));
            sqlite3_finalize(st);
            /* "recently used" for the LRU; a failure here only ages the entry */
            sqlite3_stmt *up;
            if (begin(s) == TAV_OK) {
                if (prep(s, "UPDATE cache SET last_used=? WHERE key=?", &up) == TAV_OK) {
                    sqlite3_bind_double(up, 1, now_s());
                    sqlite3_bind_text(up, 2, key, -1, SQLITE_TRANSIENT);
                    sqlite3_step(up);
                    sqlite3_finalize(up);
                }
                if (commit(s) != TAV_OK)
                    tav_clear_error();
            }
        } else {
            sqlite3_finalize(st);
            r = tav_fail(TAV_ERR_NOT_FOUND,
                         "job %lld has no result file (not finished, failed, or removed from "
                         "the cache to make room)",
                         (long long)id);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

tav_status tav_kiosk_store_history(tav_kiosk_store *s, int offset, int limit,
                                   tav_kiosk_job **out, int *n, int *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    if (limit < 1 || limit > 100 || offset < 0)
        return tav_fail(TAV_ERR_LIMIT, "history pages hold 1 to 100 jobs");
    tav_kiosk_job *jobs = tav_calloc((size_t)limit, sizeof *jobs);
    if (!jobs)
        return tav_fail(TAV_ERR_NOMEM, "out of memory reading history");
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    tav_status r = prep(s, "SELECT COUNT(*) FROM jobs", &st);
    if (r == TAV_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            *total = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        r = prep(s, "SELECT " JOB_COLUMNS " FROM jobs ORDER BY id DESC LIMIT ? OFFSET ?", &st);
    }
    int count = 0;
    if (r == TAV_OK) {
        sqlite3_bind_int(st, 1, limit);
        sqlite3_bind_int(st, 2, offset);
        while (r == TAV_OK && count < limit && sqlite3_step(st) == SQLITE_ROW)
            if ((r = read_job(st, &jobs[count])) == TAV_OK)
                count++;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    if (r) {
        for (int i = 0; i <= count && i < limit; i++)
            tav_kiosk_job_clear(&jobs[i]);
        tav_free(jobs);
        return r;
    }
    *out = jobs;
    *n = count;
    return TAV_OK;
}
