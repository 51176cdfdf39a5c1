/*
 * An app that misuses WASI's socket functions (tests/test_attack_net.py): pointers outside its
 * memory, a read buffer over its own iovec array, descriptors that are not sockets or not its
 * own, bad flags; and uses them for real against tests/devices/net_stack_attacker.c. Every
 * call must fail with its errno and change nothing, or do exactly its work.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

static int failures;

static void expect(const char *what, long long got, long long want)
{
    if (got == want) {
        printf("ok %s\n", what);
    } else {
        failures++;
        printf("FAIL %s: got %lld, expected %lld\n", what, got, want);
    }
    fflush(stdout);
}

static char buffer[20000];

int main(void)
{
    __wasi_fd_t c = 0, other;
    __wasi_fdstat_t stat;
    expect("fd 4 is a socket", __wasi_fd_fdstat_get(4, &stat), 0);
    expect("a stream socket", stat.fs_filetype, __WASI_FILETYPE_SOCKET_STREAM);
    expect("accept on a console", __wasi_sock_accept(1, 0, &other), __WASI_ERRNO_NOTSOCK);
    expect("accept on no descriptor", __wasi_sock_accept(99, 0, &other), __WASI_ERRNO_BADF);
    expect("accept with bad flags", __wasi_sock_accept(4, 0x10, &other), __WASI_ERRNO_INVAL);
    expect("accept into beyond its memory",
           __wasi_sock_accept(4, 0, (__wasi_fd_t *)0xfffffff0u), __WASI_ERRNO_FAULT);
    expect("accept", __wasi_sock_accept(4, 0, &c), 0);
    expect("a new descriptor", c > 4, 1);

    __wasi_subscription_t sub = { .userdata = 7, .u = { .tag = __WASI_EVENTTYPE_FD_READ,
                                  .u.fd_read = { .file_descriptor = c } } };
    __wasi_event_t event;
    __wasi_size_t nevents = 0;
    expect("poll", __wasi_poll_oneoff(&sub, &event, 1, &nevents), 0);
    expect("one event", nevents, 1);
    expect("readable, bytes waiting", event.fd_readwrite.nbytes, 16384);

    __wasi_size_t got = 0;
    __wasi_roflags_t flags = 0;
    __wasi_iovec_t bad = { (uint8_t *)0xffffff00u, 512 };
    expect("recv into beyond its memory", __wasi_sock_recv(c, &bad, 1, 0, &got, &flags),
           __WASI_ERRNO_FAULT);
    expect("recv with its iovecs beyond its memory",
           __wasi_sock_recv(c, (__wasi_iovec_t *)0xfffffff8u, 1, 0, &got, &flags), __WASI_ERRNO_FAULT);
    static __wasi_iovec_t self[2];
    self[0] = (__wasi_iovec_t){ (uint8_t *)self, sizeof self };
    expect("recv over its own iovec array", __wasi_sock_recv(c, self, 1, 0, &got, &flags),
           __WASI_ERRNO_FAULT);
    __wasi_iovec_t one = { (uint8_t *)buffer, sizeof buffer };
    expect("recv peeking", __wasi_sock_recv(c, &one, 1, __WASI_RIFLAGS_RECV_PEEK, &got, &flags),
           __WASI_ERRNO_NOTSUP);
    expect("recv on a console", __wasi_sock_recv(1, &one, 1, 0, &got, &flags), __WASI_ERRNO_NOTSOCK);
    size_t total = 0;
    while (total < 16384) {
        __wasi_iovec_t rest = { (uint8_t *)buffer + total, sizeof buffer - total };
        if (__wasi_sock_recv(c, &rest, 1, 0, &got, &flags) || got == 0)
            break;
        total += got;
    }
    expect("recv every byte pushed", total, 16384);
    expect("the first ones", memcmp(buffer, "hello from the stack", 20), 0);
    expect("the rest", buffer[16383] == 'z' && buffer[20] == 'z', 1);

    expect("shutdown how 7", __wasi_sock_shutdown(c, 7), __WASI_ERRNO_INVAL);
    expect("shutdown a listening socket", __wasi_sock_shutdown(4, __WASI_SDFLAGS_WR),
           __WASI_ERRNO_NOTCONN);
    __wasi_ciovec_t out = { (const uint8_t *)"reply from the app", 18 };
    expect("send on the listening socket", __wasi_sock_send(4, &out, 1, 0, &got), __WASI_ERRNO_NOTCONN);
    __wasi_ciovec_t wild = { (const uint8_t *)0xffffff00u, 512 };
    expect("send from beyond its memory", __wasi_sock_send(c, &wild, 1, 0, &got), __WASI_ERRNO_FAULT);
    expect("send", __wasi_sock_send(c, &out, 1, 0, &got), 0);
    expect("sent all", got, 18);
    expect("seek a socket", __wasi_fd_seek(c, 0, __WASI_WHENCE_SET, &(__wasi_filesize_t){0}),
           __WASI_ERRNO_SPIPE);
    expect("non-blocking", __wasi_fd_fdstat_set_flags(c, __WASI_FDFLAGS_NONBLOCK), 0);
    expect("recv with nothing there", __wasi_sock_recv(c, &one, 1, 0, &got, &flags),
           __WASI_ERRNO_AGAIN);
    expect("accept with nothing waiting, non-blocking",
           (__wasi_fd_fdstat_set_flags(4, __WASI_FDFLAGS_NONBLOCK), __wasi_sock_accept(4, 0, &other)),
           __WASI_ERRNO_AGAIN);
    expect("close", __wasi_fd_close(c), 0);
    expect("recv on the closed descriptor", __wasi_sock_recv(c, &one, 1, 0, &got, &flags),
           __WASI_ERRNO_BADF);
    printf("app checks done: %d failures\n", failures);
    fflush(stdout);
    if (failures)
        _exit(3);
    for (;;)
        sleep(1);                   /* the stack ends the appliance */
}
