/* A module's WASI state is made afresh when it restarts. The first time it opens a file, reads
 * and seeks, opens a second one, closes "/" (fd 3) and stderr, then traps; restarted, it must
 * find everything as at its first start: "/" and stderr back, the file at the same descriptor
 * and offset 0, argv and environment the same. It exits with 42 then (tests/test_wasi_kernel.py). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../appliances/include/athanor.h"

int main(int argc, char **argv)
{
    int round = ath_restart_count();
    int fd = open("/data/note.txt", O_RDONLY);
    char buffer[5] = { 0 };
    ssize_t n = fd >= 0 ? read(fd, buffer, 4) : -1;
    off_t at = fd >= 0 ? lseek(fd, 0, SEEK_CUR) : -1;
    const char *mode = getenv("MODE");
    printf("round %d: %s %s %s: fd %d, read %zd '%s', at %lld\n", round, argv[0],
           argc > 1 ? argv[1] : "-", mode ? mode : "-", fd, n, buffer, (long long)at);
    fflush(stdout);
    if (round == 0) {
        lseek(fd, 10, SEEK_SET);
        open("/data/note.txt", O_RDONLY);
        close(3);
        close(2);
        __builtin_trap();
    }
    fprintf(stderr, "stderr is back\n");
    return fd == 4 && n == 4 && at == 4 ? 42 : 1;
}
