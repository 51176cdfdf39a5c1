/*
 * The smallest WASI preview1 shim that lets wasm2c's output of the benchmark programs run
 * natively (console output, args, environment, clocks, exit): a comparison point, not a runtime.
 * The generated module calls these with a pointer to the instance struct defined here.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wasm-rt.h"

struct Z_wasi_snapshot_preview1_instance_t {
    wasm_rt_memory_t *memory;
    int argc;
    char **argv;
};

#define EBADF_ 8
#define EFAULT_ 21
#define ENOSYS_ 52

static uint8_t *at(struct Z_wasi_snapshot_preview1_instance_t *w, uint32_t p, uint64_t n)
{
    if ((uint64_t)p + n > (uint64_t)w->memory->size)
        return NULL;
    return w->memory->data + p;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

uint32_t Z_wasi_snapshot_preview1Z_args_sizes_get(struct Z_wasi_snapshot_preview1_instance_t *w,
                                                  uint32_t count, uint32_t size)
{
    uint32_t total = 0;
    for (int i = 0; i < w->argc; i++)
        total += (uint32_t)strlen(w->argv[i]) + 1;
    if (!at(w, count, 4) || !at(w, size, 4))
        return EFAULT_;
    put32(at(w, count, 4), (uint32_t)w->argc);
    put32(at(w, size, 4), total);
    return 0;
}

uint32_t Z_wasi_snapshot_preview1Z_args_get(struct Z_wasi_snapshot_preview1_instance_t *w,
                                            uint32_t argv, uint32_t buffer)
{
    for (int i = 0; i < w->argc; i++) {
        uint32_t n = (uint32_t)strlen(w->argv[i]) + 1;
        if (!at(w, argv + 4 * (uint32_t)i, 4) || !at(w, buffer, n))
            return EFAULT_;
        put32(at(w, argv + 4 * (uint32_t)i, 4), buffer);
        memcpy(at(w, buffer, n), w->argv[i], n);
        buffer += n;
    }
    return 0;
}

uint32_t Z_wasi_snapshot_preview1Z_environ_sizes_get(struct Z_wasi_snapshot_preview1_instance_t *w,
                                                     uint32_t count, uint32_t size)
{
    if (!at(w, count, 4) || !at(w, size, 4))
        return EFAULT_;
    put32(at(w, count, 4), 0);
    put32(at(w, size, 4), 0);
    return 0;
}

uint32_t Z_wasi_snapshot_preview1Z_environ_get(struct Z_wasi_snapshot_preview1_instance_t *w,
                                               uint32_t environ, uint32_t buffer)
{
    (void)w, (void)environ, (void)buffer;
    return 0;
}

uint32_t Z_wasi_snapshot_preview1Z_fd_write(struct Z_wasi_snapshot_preview1_instance_t *w,
                                            uint32_t fd, uint32_t iovs, uint32_t count,
                                            uint32_t written)
{
    if (fd != 1 && fd != 2)
        return EBADF_;
    uint32_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *v = at(w, iovs + 8 * i, 8);
        if (!v)
            return EFAULT_;
        uint32_t length = get32(v + 4);
        uint8_t *data = at(w, get32(v), length);
        if (!data)
            return EFAULT_;
        if (write((int)fd, data, length) != (ssize_t)length)
            return 29;
        total += length;
    }
    if (!at(w, written, 4))
        return EFAULT_;
    put32(at(w, written, 4), total);
    return 0;
}

uint32_t Z_wasi_snapshot_preview1Z_fd_close(struct Z_wasi_snapshot_preview1_instance_t *w, uint32_t fd)
{
    (void)w;
    return fd <= 2 ? 0 : EBADF_;
}

uint32_t Z_wasi_snapshot_preview1Z_fd_seek(struct Z_wasi_snapshot_preview1_instance_t *w,
                                           uint32_t fd, uint64_t offset, uint32_t whence,
                                           uint32_t result)
{
    (void)w, (void)offset, (void)whence, (void)result;
    return fd <= 2 ? 70 : EBADF_;   /* ESPIPE */
}

uint32_t Z_wasi_snapshot_preview1Z_fd_fdstat_get(struct Z_wasi_snapshot_preview1_instance_t *w,
                                                 uint32_t fd, uint32_t stat)
{
    if (fd > 2)
        return EBADF_;
    uint8_t *s = at(w, stat, 24);
    if (!s)
        return EFAULT_;
    memset(s, 0, 24);
    s[0] = 2;
    put64(s + 8, ~0ull);
    put64(s + 16, ~0ull);
    return 0;
}

uint32_t Z_wasi_snapshot_preview1Z_fd_prestat_get(struct Z_wasi_snapshot_preview1_instance_t *w,
                                                  uint32_t fd, uint32_t prestat)
{
    (void)w, (void)fd, (void)prestat;
    return EBADF_;
}

uint32_t Z_wasi_snapshot_preview1Z_fd_prestat_dir_name(struct Z_wasi_snapshot_preview1_instance_t *w,
                                                       uint32_t fd, uint32_t path, uint32_t length)
{
    (void)w, (void)fd, (void)path, (void)length;
    return EBADF_;
}

uint32_t Z_wasi_snapshot_preview1Z_clock_time_get(struct Z_wasi_snapshot_preview1_instance_t *w,
                                                  uint32_t id, uint64_t precision, uint32_t result)
{
    (void)precision;
    struct timespec ts;
    clock_gettime(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    if (!at(w, result, 8))
        return EFAULT_;
    put64(at(w, result, 8), (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    return 0;
}

void Z_wasi_snapshot_preview1Z_proc_exit(struct Z_wasi_snapshot_preview1_instance_t *w, uint32_t code)
{
    (void)w;
    fflush(stdout);
    exit((int)code);
}
