/*
 * WASI preview1 (`wasi_snapshot_preview1`), the subset Azoth provides: one freestanding
 * implementation (alkahest/runtime/wasi.c) shared by the hosted runtime and the Athanor kernel,
 * which differ only in the alk_wasi_platform hooks (console, clocks, randomness, exit).
 *
 * Every function is a host function in the sense of docs/abi.md (the caller's vmctx first) and
 * finds its state through the instance: alk_instance_of(vmctx)->wasi. Pointers and lengths from
 * the guest are checked against its linear memory before anything is read or written; a bad
 * one returns EFAULT. Functions outside the subset return ENOSYS.
 *
 * Descriptors are capabilities: a module holds only those its grants give it (alk_wasi_init),
 * and any other descriptor number is EBADF, whatever function it is passed to:
 *
 *   fd 0      the console's input        ALK_WASI_GRANT_STDIN
 *   fd 1, 2   the console's output       ALK_WASI_GRANT_STDOUT
 *   fd 3      the preopened "/"          ALK_WASI_GRANT_FILES
 *   fd 4..    listening sockets          the platform's (alk_wasi_add_socket: the kernel's
 *                                        tcp-listen grants)
 *   the rest  files opened under fd 3 (read-only), sockets accepted or opened, up to
 *             ALK_WASI_MAX_FDS
 */
#ifndef ALKAHEST_WASI_H
#define ALKAHEST_WASI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* errno values of preview1 (a subset) */
enum {
    ALK_WASI_ESUCCESS = 0, ALK_WASI_EACCES = 2, ALK_WASI_EADDRINUSE = 3,
    ALK_WASI_EAFNOSUPPORT = 5, ALK_WASI_EAGAIN = 6, ALK_WASI_EBADF = 8,
    ALK_WASI_ECONNABORTED = 13, ALK_WASI_ECONNREFUSED = 14, ALK_WASI_ECONNRESET = 15,
    ALK_WASI_EFAULT = 21, ALK_WASI_EHOSTUNREACH = 23, ALK_WASI_EINPROGRESS = 26,
    ALK_WASI_EINVAL = 28, ALK_WASI_EIO = 29, ALK_WASI_EISCONN = 30, ALK_WASI_EISDIR = 31,
    ALK_WASI_EMSGSIZE = 35, ALK_WASI_ENAMETOOLONG = 37, ALK_WASI_ENETUNREACH = 40,
    ALK_WASI_ENOBUFS = 42, ALK_WASI_ENOENT = 44, ALK_WASI_ENOMEM = 48, ALK_WASI_ENOSYS = 52,
    ALK_WASI_ENOTCONN = 53, ALK_WASI_ENOTDIR = 54, ALK_WASI_ENOTSOCK = 57, ALK_WASI_ENOTSUP = 58,
    ALK_WASI_EOVERFLOW = 61, ALK_WASI_EPIPE = 64, ALK_WASI_EROFS = 69, ALK_WASI_ESPIPE = 70,
    ALK_WASI_ETIMEDOUT = 73, ALK_WASI_ENOTCAPABLE = 76,
};

#define ALK_WASI_MAX_FDS 256      /* descriptors of one module: files, sockets */
#define ALK_WASI_PATH_MAX 255  /* longest path path_open resolves (bytes), as a file's guest path */
#define ALK_WASI_PATH_INPUT_MAX 4096     /* longest path path_open accepts before resolving it */
#define ALK_WASI_IOVECS_MAX 1024         /* iovecs of one fd_read / fd_write (as Linux's IOV_MAX) */
#define ALK_WASI_SUBSCRIPTIONS_MAX 256   /* subscriptions of one poll_oneoff */
#define ALK_WASI_CHUNK (64u * 1024u)     /* bytes copied between two preemption points */
#define ALK_WASI_DATAGRAM_MAX 8192       /* bytes of one datagram sock_send_to gathers */

/* Which descriptors a module starts with (above). */
enum {
    ALK_WASI_GRANT_STDIN = 1u << 0,
    ALK_WASI_GRANT_STDOUT = 1u << 1,
    ALK_WASI_GRANT_FILES = 1u << 2,
};

/* A read-only file baked into the image (manifest [[file]]). */
typedef struct alk_wasi_file {
    const char *path;          /* absolute, normal: "/etc/motd" (no "//", "." or "..") */
    const uint8_t *data;
    uint64_t size;
} alk_wasi_file;

typedef struct alk_wasi_platform {
    /* Console output (fd 1 and 2); returns bytes written or a negative value on error. */
    int64_t (*write)(void *user, int fd, const uint8_t *bytes, size_t length);
    /* Console input (fd 0); returns bytes read (0 at end of input) or a negative value. May
     * block until input comes. */
    int64_t (*read)(void *user, uint8_t *buffer, size_t length);
    /* Nanoseconds: clock 0 realtime, 1 monotonic, 2/3 CPU time. */
    uint64_t (*clock)(void *user, uint32_t clock_id);
    uint64_t (*clock_resolution)(void *user, uint32_t clock_id);
    void (*random)(void *user, uint8_t *buffer, size_t length);
    void (*yield)(void *user);
    void (*sleep)(void *user, uint64_t nanoseconds);
    /* proc_exit: ends the program (the hosted run, or the appliance); never returns. */
    void (*exit)(void *user, void *vmctx, uint32_t code);
    void *user;
    /* Called between chunks of long work, where the call holds nothing: the platform may run
     * others there (the kernel's preemption point). NULL: never. */
    void (*preempt)(void *user);
    /* Sockets: NULL where the platform has none (the hosted runtime); then no descriptor is a
     * socket and the socket functions answer EBADF, or ENOSYS where one would be made.
     * `socket` is the platform's number for it, kept in the descriptor. Byte counts or 0 for
     * success, else a negative errno. `wait`: block until it can be done (else EAGAIN). */
    const struct alk_wasi_sockets *sockets;
} alk_wasi_platform;

/* An IPv4 address and port (address in network order as a number: 10.0.2.2 is 0x0a000202). */
typedef struct alk_wasi_endpoint {
    uint32_t address;
    uint16_t port;
} alk_wasi_endpoint;

enum { ALK_WASI_SOCKET_STREAM = 2, ALK_WASI_SOCKET_DATAGRAM = 1 };   /* as sock_open takes them */
enum { ALK_WASI_READABLE = 1u, ALK_WASI_WRITABLE = 2u, ALK_WASI_HANGUP = 4u };

typedef struct alk_wasi_sockets {
    /* A new socket of that type (sock_open), not connected. */
    int32_t (*open)(void *user, uint32_t type, uint32_t *socket);
    /* Connect (a stream) or fix the peer (a datagram socket), if a grant names it. */
    int32_t (*connect)(void *user, uint32_t socket, alk_wasi_endpoint to, bool wait);
    int32_t (*accept)(void *user, uint32_t socket, bool wait, uint32_t *accepted);
    /* Received bytes (a stream; 0 at its end) or one datagram, cut to length (*truncated). */
    int64_t (*recv)(void *user, uint32_t socket, uint8_t *buffer, uint64_t length, bool wait,
                    alk_wasi_endpoint *from, bool *truncated);
    /* Bytes to send (a stream: all of them when waiting), or one datagram to `to` (NULL: the
     * connected peer). */
    int64_t (*send)(void *user, uint32_t socket, const uint8_t *bytes, uint64_t length,
                    bool wait, const alk_wasi_endpoint *to);
    int32_t (*shutdown)(void *user, uint32_t socket, uint32_t how);
    void (*close)(void *user, uint32_t socket);
    /* ALK_WASI_READABLE / _WRITABLE / _HANGUP, and the bytes that could be read (*bytes). */
    uint32_t (*ready)(void *user, uint32_t socket, uint64_t *bytes);
    /* Blocks until one of the caller's sockets changes, or the monotonic deadline (ns). */
    void (*wait)(void *user, uint64_t deadline);
    /* 1 a stream, 2 a datagram socket, 3 a listening one (for fd_fdstat_get) */
    uint32_t (*kind)(void *user, uint32_t socket);
} alk_wasi_sockets;

typedef struct alk_wasi_descriptor {
    uint8_t kind;              /* 0 free, 1 console, 2 preopened directory, 3 file, 4 socket */
    uint16_t flags;            /* fdflags: NONBLOCK (4) on sockets */
    uint32_t file;             /* index into files; a socket's number */
    uint64_t offset;
} alk_wasi_descriptor;

typedef struct alk_wasi {
    const alk_wasi_platform *platform;
    const char *const *args;   /* argv[0] included */
    uint32_t arg_count;
    const char *const *env;    /* "KEY=value" */
    uint32_t env_count;
    const alk_wasi_file *files;
    uint32_t file_count;
    alk_wasi_descriptor fds[ALK_WASI_MAX_FDS];
    uint32_t exit_code;        /* set by proc_exit before the platform's exit */
} alk_wasi;

/* A fresh state: the descriptors `grants` gives (ALK_WASI_GRANT_*), nothing opened yet. args
 * (argv[0] included), env and files are borrowed: they must outlive the state. */
void alk_wasi_init(alk_wasi *wasi, const alk_wasi_platform *platform, uint32_t grants,
                   const char *const *args, uint32_t arg_count, const char *const *env,
                   uint32_t env_count, const alk_wasi_file *files, uint32_t file_count);

/* Gives the state socket `socket` (the platform's number) at descriptor fd, which must be free:
 * a listening socket the module starts with. False when fd is taken or out of range. */
bool alk_wasi_add_socket(alk_wasi *wasi, uint32_t fd, uint32_t socket);

/* The implementation of preview1 function FIELD and its signature in object letters
 * ("iiii:i"), or NULL if FIELD is not a preview1 function. Functions outside the subset get an
 * ENOSYS stub with their real signature. */
const void *alk_wasi_function(const char *field, uint32_t length, const char **signature);

#endif
