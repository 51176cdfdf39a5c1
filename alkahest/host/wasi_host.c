/*
 * WASI on Linux: the alk_wasi_platform hooks for the hosted runtime (console = this process's
 * stdin/stdout/stderr, clocks = clock_gettime, randomness = getrandom), and the binding of
 * wasi_snapshot_preview1 imports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "alkahest_wasi.h"

static int64_t host_write(void *user, int fd, const uint8_t *bytes, size_t length)
{
    (void)user;
    size_t done = 0;
    while (done < length) {
        ssize_t n = write(fd, bytes + done, length - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return done ? (int64_t)done : -1;
        done += (size_t)n;
    }
    return (int64_t)done;
}

static int64_t host_read(void *user, uint8_t *buffer, size_t length)
{
    (void)user;
    for (;;) {
        ssize_t n = read(0, buffer, length);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

static clockid_t clock_of(uint32_t id)
{
    switch (id) {
    case 0: return CLOCK_REALTIME;
    case 2: return CLOCK_PROCESS_CPUTIME_ID;
    case 3: return CLOCK_THREAD_CPUTIME_ID;
    default: return CLOCK_MONOTONIC;
    }
}

static uint64_t host_clock(void *user, uint32_t id)
{
    (void)user;
    struct timespec ts;
    clock_gettime(clock_of(id), &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t host_clock_resolution(void *user, uint32_t id)
{
    (void)user;
    struct timespec ts;
    clock_getres(clock_of(id), &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void host_random(void *user, uint8_t *buffer, size_t length)
{
    (void)user;
    size_t done = 0;
    while (done < length) {
        ssize_t n = getrandom(buffer + done, length - done, 0);
        if (n > 0)
            done += (size_t)n;
    }
}

static void host_yield(void *user)
{
    (void)user;
    sched_yield();
}

static void host_sleep(void *user, uint64_t nanoseconds)
{
    (void)user;
    struct timespec ts = { (time_t)(nanoseconds / 1000000000u), (long)(nanoseconds % 1000000000u) };
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static void host_exit(void *user, void *vmctx, uint32_t code)
{
    (void)user;
    (void)code;   /* kept in the alk_wasi state */
    alk_host_trap(vmctx, ALK_TRAP_EXIT);
}

const alk_wasi_platform alk_host_wasi_platform = {
    .write = host_write, .read = host_read, .clock = host_clock,
    .clock_resolution = host_clock_resolution, .random = host_random, .yield = host_yield,
    .sleep = host_sleep, .exit = host_exit,
};

bool alk_host_wasi_resolve(const char *field, uint32_t length, uint32_t kind, alk_extern *out)
{
    const char *signature;
    const void *code = kind == 0 ? alk_wasi_function(field, length, &signature) : NULL;
    if (!code)
        return false;
    memset(out, 0, sizeof *out);
    out->kind = 0;
    out->as.function.code = code;
    out->as.function.vmctx = NULL;
    out->as.function.type_id = alk_host_platform.type_id(NULL, signature,
                                                          (uint32_t)strlen(signature));
    return true;
}
