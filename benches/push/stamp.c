/*
 * stamp: the forced command of benches/hub-scale.sh's downstream account.
 *
 *     stamp FILE        (or STAMP_FILE=FILE stamp)
 *
 * Appends one line
 *
 *     <microseconds since the epoch> <$SSH_ORIGINAL_COMMAND>
 *
 * to FILE with a single write(2) on an O_APPEND descriptor (so concurrent
 * stamps never interleave) and exits 0. The time is taken first thing, before
 * anything else is done. A newline in SSH_ORIGINAL_COMMAND becomes a space, so
 * every arrival is exactly one line.
 *
 * Build: cc -O2 -o stamp stamp.c (the benchmark does this in its work
 * directory; no binary is committed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long us = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;

    const char *file = argc > 1 ? argv[1] : getenv("STAMP_FILE");
    if (file == NULL || *file == '\0') {
        fputs("usage: stamp FILE (or STAMP_FILE=FILE stamp)\n", stderr);
        return 64;
    }
    const char *cmd = getenv("SSH_ORIGINAL_COMMAND");
    if (cmd == NULL)
        cmd = "";

    size_t cap = strlen(cmd) + 32;
    char *line = malloc(cap);
    if (line == NULL) {
        perror("stamp: malloc");
        return 1;
    }
    int n = snprintf(line, cap, "%lld %s\n", us, cmd);
    if (n < 0 || (size_t)n >= cap) {
        fputs("stamp: line too long\n", stderr);
        return 1;
    }
    for (int i = 0; i < n - 1; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';

    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, "stamp: %s: %s\n", file, strerror(errno));
        return 1;
    }
    ssize_t w = write(fd, line, (size_t)n);
    if (w != n) {
        fprintf(stderr, "stamp: %s: %s\n", file, w < 0 ? strerror(errno) : "short write");
        return 1;
    }
    return 0;
}
