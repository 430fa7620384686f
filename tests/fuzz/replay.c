/* replay.c — main() for fuzz harnesses without libFuzzer: feeds every file
 * of tests/fuzz/corpus/<harness>/ (or the paths given) to
 * LLVMFuzzerTestOneInput once, so `make test` replays the committed corpus
 * under ASan/UBSan. Prints one PASS line per harness when nothing crashed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern const char *tav_fuzz_name; /* each harness defines its corpus name */

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int count = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            count += replay_file(argv[i]) == 0;
    } else {
        char dir[512];
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", tav_fuzz_name);
        DIR *d = opendir(dir);
        if (!d) {
            printf("FAIL fuzz_replay_%s: no corpus at %s\n", tav_fuzz_name, dir);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            count += replay_file(path) == 0;
        }
        closedir(d);
    }
    if (count == 0) {
        printf("FAIL fuzz_replay_%s: empty corpus\n", tav_fuzz_name);
        return 1;
    }
    printf("PASS fuzz_replay_%s (%d inputs)\n", tav_fuzz_name, count);
    return 0;
}
