/*
 * The anchor for pingpong's figures: the same paths on the Linux host, natively, printed in the
 * same form (each the median of RUNS runs, then as ratios to a plain call measured in the same
 * run), so that the ratios can be compared with the ones pingpong prints under QEMU's TCG
 * (docs/performance.md). Both processes or threads are pinned to one CPU, as Athanor has one.
 *
 *   plaincall_ns           a call to a function that adds one (not inlined)
 *   hostcall_ns            a system call (getppid through syscall(2), no vDSO)
 *   chan_roundtrip_ns      a pipe ping-pong: 8 bytes to a child process, 8 bytes back
 *   chan_batch_ns_per_msg  32 messages of 64 bytes in one write(2), read by the child, per message
 *   ctxswitch_ns           sched_yield between two threads on one CPU, per switch
 *   restart_us             fork a process that touches 64 KiB, let it exit, reap it
 *
 *   gcc -O2 -o linux_anchor appliances/pingpong/linux_anchor.c -lpthread && ./linux_anchor
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 11
#define CALLS 200000
#define ROUNDTRIPS 2000
#define BATCH 32
#define BATCH_ROUNDS 200
#define SWITCHES 20000
#define RESTARTS 200

static volatile int sink;

__attribute__((noinline)) static int plain(int x)
{
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, compare);
    return v[RUNS / 2];
}

static void pin(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static double plain_calls(void)
{
    int x = 0;
    double start = now_ns();
    for (int i = 0; i < CALLS; i++)
        x = plain(x);
    sink = x;
    return (now_ns() - start) / CALLS;
}

static double host_calls(void)
{
    long x = 0;
    double start = now_ns();
    for (int i = 0; i < CALLS / 10; i++)
        x += syscall(SYS_getppid);
    sink = (int)x;
    return (now_ns() - start) / (CALLS / 10);
}

static int to_child[2], to_parent[2];

static void child_echo(void)
{
    char buffer[BATCH * 64];
    for (;;) {
        ssize_t n = read(to_child[0], buffer, 8);
        if (n <= 0)
            _exit(0);
        if (buffer[0] == 'B') {          /* then BATCH_ROUNDS * BATCH * 64 bytes */
            size_t left = (size_t)BATCH_ROUNDS * BATCH * 64;
            while (left) {
                ssize_t got = read(to_child[0], buffer, left < sizeof buffer ? left : sizeof buffer);
                if (got <= 0)
                    _exit(1);
                left -= (size_t)got;
            }
        }
        if (write(to_parent[1], buffer, 8) != 8)
            _exit(1);
    }
}

static double roundtrips(void)
{
    char message[8] = "P", answer[8];
    double start = now_ns();
    for (int i = 0; i < ROUNDTRIPS; i++) {
        if (write(to_child[1], message, 8) != 8 || read(to_parent[0], answer, 8) != 8)
            exit(1);
    }
    return (now_ns() - start) / ROUNDTRIPS;
}

static double batches(void)
{
    static char messages[BATCH * 64];
    char message[8] = "B", answer[8];
    if (write(to_child[1], message, 8) != 8)
        exit(1);
    double start = now_ns();
    for (int round = 0; round < BATCH_ROUNDS; round++)
        if (write(to_child[1], messages, sizeof messages) != (ssize_t)sizeof messages)
            exit(1);
    if (read(to_parent[0], answer, 8) != 8)
        exit(1);
    return (now_ns() - start) / (BATCH_ROUNDS * BATCH);
}

static void *yielder(void *arg)
{
    (void)arg;
    pin();
    for (int i = 0; i < SWITCHES * RUNS + 1000; i++)
        sched_yield();
    return NULL;
}

static double switches(void)
{
    double start = now_ns();
    for (int i = 0; i < SWITCHES; i++)
        sched_yield();
    return (now_ns() - start) / (2.0 * SWITCHES);
}

static double restarts(void)
{
    double start = now_ns();
    for (int i = 0; i < RESTARTS; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            static char memory[64 * 1024];
            memset(memory, 1, sizeof memory);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    return (now_ns() - start) / RESTARTS / 1000.0;
}

int main(void)
{
    pin();
    if (pipe(to_child) || pipe(to_parent))
        return 1;
    pid_t child = fork();
    if (child == 0) {
        pin();
        close(to_child[1]);             /* so that the parent's close ends it */
        close(to_parent[0]);
        child_echo();
    }
    close(to_child[0]);
    close(to_parent[1]);
    double runs[6][RUNS];
    for (int run = 0; run < RUNS; run++) {
        runs[0][run] = plain_calls();
        runs[1][run] = host_calls();
        runs[2][run] = roundtrips();
        runs[3][run] = batches();
        runs[5][run] = restarts();
    }
    close(to_child[1]);
    waitpid(child, NULL, 0);
    pthread_t thread;
    pthread_create(&thread, NULL, yielder, NULL);
    for (int run = 0; run < RUNS; run++)
        runs[4][run] = switches();
    pthread_join(thread, NULL);

    double plain_ns = median(runs[0]);
    double figures[5] = { median(runs[1]), median(runs[2]), median(runs[3]), median(runs[5]),
                          median(runs[4]) };
    printf("linux: plaincall_ns=%.1f hostcall_ns=%.1f chan_roundtrip_ns=%.1f "
           "chan_batch_ns_per_msg=%.1f restart_us=%.1f ctxswitch_ns=%.1f\n", plain_ns,
           figures[0], figures[1], figures[2], figures[3], figures[4]);
    printf("linux: ratios to a plain call: hostcall=%.1f chan_roundtrip=%.1f "
           "chan_batch_per_msg=%.1f restart=%.1f ctxswitch=%.1f\n", figures[0] / plain_ns,
           figures[1] / plain_ns, figures[2] / plain_ns, figures[3] * 1000 / plain_ns,
           figures[4] / plain_ns);
    return 0;
}
