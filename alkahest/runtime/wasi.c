/*
 * WASI preview1: the subset of alkahest_wasi.h, shared by the hosted runtime and the kernel.
 *
 * Each function checks its arguments fully (descriptors, every pointer/length against the
 * caller's linear memory) and only then acts, so a bad call changes nothing and returns an
 * errno. What a function reads from the guest to decide what to do (iovec arrays, paths,
 * subscriptions) it reads once, into its own memory, checks there and acts on that copy
 * only: writing into the guest's memory while it works cannot change what it was asked
 * (docs/kernel-abi.md, "Read once"). Long work (console output, file reads, random bytes)
 * goes in chunks with the platform's preemption point between them. Files are read-only and
 * live in memory (baked into the image); the only directory is the preopened "/" at
 * descriptor 3.
 */
#include "alkahest_wasi.h"
#include "runtime.h"
#include "wasi_functions.h"

enum { KIND_FREE, KIND_CONSOLE, KIND_DIRECTORY, KIND_FILE, KIND_SOCKET };
enum { FILETYPE_CHARACTER_DEVICE = 2, FILETYPE_DIRECTORY = 3, FILETYPE_REGULAR_FILE = 4,
       FILETYPE_SOCKET_DGRAM = 5, FILETYPE_SOCKET_STREAM = 6 };
#define FDFLAG_NONBLOCK 4u
#define ALL_RIGHTS 0x1fffffffull
#define PREOPEN_FD 3

static alk_wasi *state(void *vmctx) { return alk_instance_of(vmctx)->wasi; }

/* The guest bytes [ptr, ptr+length), or NULL when any of them lies outside its memory. */
static uint8_t *guest(void *vmctx, uint32_t ptr, uint64_t length)
{
    uint8_t *base = (uint8_t *)(uintptr_t)rt_load64((uint8_t *)vmctx + ALK_VMCTX_MEMORY_BASE);
    uint64_t size = rt_load64((uint8_t *)vmctx + ALK_VMCTX_MEMORY_SIZE);
    if (ptr > size || length > size - ptr)
        return NULL;
    return base + ptr;
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static void zero(uint8_t *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = 0; }
static void copy(uint8_t *d, const uint8_t *s, uint64_t n) { for (uint64_t i = 0; i < n; i++) d[i] = s[i]; }

static void preempt(const alk_wasi *w)
{
    if (w->platform->preempt)
        w->platform->preempt(w->platform->user);
}

/* copy() in chunks of ALK_WASI_CHUNK bytes with a preemption point between them. */
static void copy_long(const alk_wasi *w, uint8_t *d, const uint8_t *s, uint64_t n)
{
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < ALK_WASI_CHUNK ? n - done : ALK_WASI_CHUNK;
        copy(d + done, s + done, k);
        done += k;
        if (done < n)
            preempt(w);
    }
}

/* Whether [a, a + a_length) and [b, b + b_length) share a byte. */
static bool overlap(uint64_t a, uint64_t a_length, uint64_t b, uint64_t b_length)
{
    return a_length && b_length && a < b + b_length && b < a + a_length;
}
static size_t length_of(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

static alk_wasi_descriptor *descriptor(alk_wasi *w, uint32_t fd)
{
    if (fd >= ALK_WASI_MAX_FDS || w->fds[fd].kind == KIND_FREE)
        return NULL;
    return &w->fds[fd];
}

void alk_wasi_init(alk_wasi *w, const alk_wasi_platform *platform, uint32_t grants,
                   const char *const *args, uint32_t arg_count, const char *const *env,
                   uint32_t env_count, const alk_wasi_file *files, uint32_t file_count)
{
    zero((uint8_t *)w, sizeof *w);
    w->platform = platform;
    w->args = args;
    w->arg_count = arg_count;
    w->env = env;
    w->env_count = env_count;
    w->files = files;
    w->file_count = file_count;
    if (grants & ALK_WASI_GRANT_STDIN)
        w->fds[0].kind = KIND_CONSOLE;
    if (grants & ALK_WASI_GRANT_STDOUT)
        w->fds[1].kind = w->fds[2].kind = KIND_CONSOLE;
    if (grants & ALK_WASI_GRANT_FILES)
        w->fds[PREOPEN_FD].kind = KIND_DIRECTORY;
}

bool alk_wasi_add_socket(alk_wasi *w, uint32_t fd, uint32_t socket)
{
    if (fd >= ALK_WASI_MAX_FDS || w->fds[fd].kind != KIND_FREE)
        return false;
    w->fds[fd] = (alk_wasi_descriptor){ .kind = KIND_SOCKET, .file = socket };
    return true;
}

/* ---- args and environment: the same shape twice ----------------------------------------------- */
static int32_t strings_sizes(void *vmctx, const char *const *list, uint32_t count, uint32_t count_ptr,
                             uint32_t size_ptr)
{
    uint8_t *c = guest(vmctx, count_ptr, 4), *s = guest(vmctx, size_ptr, 4);
    if (!c || !s)
        return ALK_WASI_EFAULT;
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++)
        total += length_of(list[i]) + 1;
    put32(c, count);
    put32(s, (uint32_t)total);
    return 0;
}

static int32_t strings_get(void *vmctx, const char *const *list, uint32_t count, uint32_t array_ptr,
                           uint32_t buffer_ptr)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++)
        total += length_of(list[i]) + 1;
    uint8_t *array = guest(vmctx, array_ptr, 4ull * count), *buffer = guest(vmctx, buffer_ptr, total);
    if (!array || !buffer)
        return ALK_WASI_EFAULT;
    uint32_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t n = length_of(list[i]) + 1;
        put32(array + 4 * i, buffer_ptr + at);
        copy(buffer + at, (const uint8_t *)list[i], n);
        at += (uint32_t)n;
    }
    return 0;
}

static int32_t args_sizes_get(void *vmctx, uint32_t count_ptr, uint32_t size_ptr)
{
    alk_wasi *w = state(vmctx);
    return strings_sizes(vmctx, w->args, w->arg_count, count_ptr, size_ptr);
}

static int32_t args_get(void *vmctx, uint32_t argv, uint32_t buffer)
{
    alk_wasi *w = state(vmctx);
    return strings_get(vmctx, w->args, w->arg_count, argv, buffer);
}

static int32_t environ_sizes_get(void *vmctx, uint32_t count_ptr, uint32_t size_ptr)
{
    alk_wasi *w = state(vmctx);
    return strings_sizes(vmctx, w->env, w->env_count, count_ptr, size_ptr);
}

static int32_t environ_get(void *vmctx, uint32_t environ, uint32_t buffer)
{
    alk_wasi *w = state(vmctx);
    return strings_get(vmctx, w->env, w->env_count, environ, buffer);
}

/* ---- descriptors ------------------------------------------------------------------------------- */

/* The part fd_read and fd_write share, all checks before any effect: the descriptor, the
 * iovec array (copied once into `iovecs`), every buffer it names, their total, and the
 * result word. A read's buffer may not overlap the iovec array itself (EFAULT): filling it
 * would rewrite the request while it is carried out. */
typedef struct io_request {
    alk_wasi *wasi;
    alk_wasi_descriptor *descriptor;
    struct { uint32_t ptr, length; } iovecs[ALK_WASI_IOVECS_MAX];
    uint32_t count;
    uint8_t *result;
    alk_wasi_endpoint *from;                /* sockets: where a datagram's source goes */
} io_request;

static int32_t begin_io(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count,
                        uint32_t result_ptr, bool reading, io_request *io)
{
    io->wasi = state(vmctx);
    io->from = NULL;
    io->descriptor = descriptor(io->wasi, fd);
    if (!io->descriptor)
        return ALK_WASI_EBADF;
    if (count > ALK_WASI_IOVECS_MAX)
        return ALK_WASI_EINVAL;
    const uint8_t *array = guest(vmctx, iovs, 8ull * count);
    if (!array)
        return ALK_WASI_EFAULT;
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        io->iovecs[i].ptr = get32(array + 8 * i);
        io->iovecs[i].length = get32(array + 8 * i + 4);
    }
    io->count = count;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t ptr = io->iovecs[i].ptr, length = io->iovecs[i].length;
        if (!guest(vmctx, ptr, length) || (reading && overlap(ptr, length, iovs, 8ull * count)))
            return ALK_WASI_EFAULT;
        total += length;
    }
    if (total > UINT32_MAX)
        return ALK_WASI_EINVAL;             /* the count of bytes done must fit its u32 */
    io->result = guest(vmctx, result_ptr, 4);
    return io->result ? 0 : ALK_WASI_EFAULT;
}

static uint8_t *iovec_buffer(void *vmctx, const io_request *io, uint32_t i, uint32_t *length)
{
    *length = io->iovecs[i].length;
    return guest(vmctx, io->iovecs[i].ptr, *length);
}

/* Receiving into, or sending, a request's buffers on a socket: the first buffer as the descriptor
 * says (blocking unless NONBLOCK), the rest only as far as that goes without waiting. A
 * datagram is received into the buffers as one (cut when longer: *truncated) or sent as one,
 * to `to` (NULL: its peer); its source lands in *from. */
static int32_t socket_io(void *vmctx, const io_request *io, bool receiving,
                         const alk_wasi_endpoint *to, uint8_t *flags_out)
{
    const alk_wasi_sockets *sk = io->wasi->platform->sockets;
    void *user = io->wasi->platform->user;
    uint32_t socket = io->descriptor->file;
    bool wait = !(io->descriptor->flags & FDFLAG_NONBLOCK);
    uint64_t done = 0;
    bool truncated = false;
    for (uint32_t i = 0; i < io->count; i++) {
        uint32_t length;
        uint8_t *buffer = iovec_buffer(vmctx, io, i, &length);
        if (!length)
            continue;
        bool cut = false;
        int64_t n = receiving ? sk->recv(user, socket, buffer, length, wait && !done,
                                         io->from, &cut)
                              : sk->send(user, socket, buffer, length, wait, to);
        if (n < 0) {
            if (done && (n == -ALK_WASI_EAGAIN || !receiving))
                break;
            return (int32_t)-n;
        }
        done += (uint64_t)n;
        truncated |= cut;
        if ((uint64_t)n < length || cut || (receiving && sk->kind(user, socket) == 2))
            break;
    }
    if (flags_out)
        *flags_out = truncated ? 1 : 0;
    put32(io->result, (uint32_t)done);
    return 0;
}

static int32_t fd_write(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count, uint32_t written_ptr)
{
    io_request io;
    int32_t error = begin_io(vmctx, fd, iovs, count, written_ptr, false, &io);
    if (error)
        return error;
    if (io.descriptor->kind == KIND_SOCKET)
        return socket_io(vmctx, &io, false, NULL, NULL);
    if (io.descriptor->kind != KIND_CONSOLE || fd == 0)
        return io.descriptor->kind == KIND_FILE ? ALK_WASI_EROFS : ALK_WASI_EBADF;
    const alk_wasi_platform *p = io.wasi->platform;
    uint64_t done = 0;
    for (uint32_t i = 0; i < io.count; i++) {
        uint32_t length;
        uint8_t *buffer = iovec_buffer(vmctx, &io, i, &length);
        if (!length)
            continue;
        int64_t n = p->write(p->user, (int)fd, buffer, length);
        if (n < 0) {
            if (done)
                break;
            return ALK_WASI_EIO;
        }
        done += (uint64_t)n;
        if ((uint64_t)n < length)
            break;
    }
    put32(io.result, (uint32_t)done);
    return 0;
}

static int32_t fd_read(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count, uint32_t read_ptr)
{
    io_request io;
    int32_t error = begin_io(vmctx, fd, iovs, count, read_ptr, true, &io);
    if (error)
        return error;
    alk_wasi_descriptor *d = io.descriptor;
    uint64_t done = 0;
    if (d->kind == KIND_FILE) {
        const alk_wasi_file *f = &io.wasi->files[d->file];
        for (uint32_t i = 0; i < io.count && d->offset < f->size; i++) {
            uint32_t length;
            uint8_t *buffer = iovec_buffer(vmctx, &io, i, &length);
            uint64_t n = length < f->size - d->offset ? length : f->size - d->offset;
            copy_long(io.wasi, buffer, f->data + d->offset, n);
            d->offset += n;
            done += n;
        }
    } else if (d->kind == KIND_CONSOLE && fd == 0) {
        /* one read from the console: what is there, at most the first buffer */
        const alk_wasi_platform *p = io.wasi->platform;
        for (uint32_t i = 0; i < io.count; i++) {
            uint32_t length;
            uint8_t *buffer = iovec_buffer(vmctx, &io, i, &length);
            if (!length)
                continue;
            int64_t n = p->read(p->user, buffer, length);
            if (n < 0)
                return ALK_WASI_EIO;
            done = (uint64_t)n;
            break;
        }
    } else if (d->kind == KIND_SOCKET) {
        return socket_io(vmctx, &io, true, NULL, NULL);
    } else {
        return d->kind == KIND_DIRECTORY ? ALK_WASI_EISDIR : ALK_WASI_EBADF;
    }
    put32(io.result, (uint32_t)done);
    return 0;
}

static int32_t fd_close(void *vmctx, uint32_t fd)
{
    alk_wasi *w = state(vmctx);
    alk_wasi_descriptor *d = descriptor(w, fd);
    if (!d)
        return ALK_WASI_EBADF;
    if (d->kind == KIND_SOCKET)
        w->platform->sockets->close(w->platform->user, d->file);
    d->kind = KIND_FREE;
    return 0;
}

static int32_t fd_seek(void *vmctx, uint32_t fd, int64_t offset, uint32_t whence, uint32_t result_ptr)
{
    alk_wasi *w = state(vmctx);
    alk_wasi_descriptor *d = descriptor(w, fd);
    if (!d)
        return ALK_WASI_EBADF;
    uint8_t *result = guest(vmctx, result_ptr, 8);
    if (!result)
        return ALK_WASI_EFAULT;
    if (d->kind != KIND_FILE)
        return d->kind == KIND_CONSOLE || d->kind == KIND_SOCKET ? ALK_WASI_ESPIPE : ALK_WASI_EBADF;
    int64_t base;
    switch (whence) {
    case 0: base = 0; break;
    case 1: base = (int64_t)d->offset; break;
    case 2: base = (int64_t)w->files[d->file].size; break;
    default: return ALK_WASI_EINVAL;
    }
    if ((offset < 0 && base + offset < 0) || (offset > 0 && base > INT64_MAX - offset))
        return ALK_WASI_EINVAL;
    d->offset = (uint64_t)(base + offset);
    put64(result, d->offset);
    return 0;
}

static int32_t fd_tell(void *vmctx, uint32_t fd, uint32_t result_ptr)
{
    return fd_seek(vmctx, fd, 0, 1, result_ptr);
}

static uint8_t filetype(const alk_wasi *w, const alk_wasi_descriptor *d)
{
    if (d->kind == KIND_SOCKET)
        return w->platform->sockets->kind(w->platform->user, d->file) == 2 ?
               FILETYPE_SOCKET_DGRAM : FILETYPE_SOCKET_STREAM;
    return d->kind == KIND_CONSOLE ? FILETYPE_CHARACTER_DEVICE
           : d->kind == KIND_DIRECTORY ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE;
}

static int32_t fd_fdstat_get(void *vmctx, uint32_t fd, uint32_t stat_ptr)
{
    alk_wasi *w = state(vmctx);
    alk_wasi_descriptor *d = descriptor(w, fd);
    if (!d)
        return ALK_WASI_EBADF;
    uint8_t *stat = guest(vmctx, stat_ptr, 24);
    if (!stat)
        return ALK_WASI_EFAULT;
    zero(stat, 24);
    stat[0] = filetype(w, d);
    stat[2] = (uint8_t)d->flags;
    put64(stat + 8, ALL_RIGHTS);
    put64(stat + 16, ALL_RIGHTS);
    return 0;
}

static int32_t fd_filestat_get(void *vmctx, uint32_t fd, uint32_t stat_ptr)
{
    alk_wasi *w = state(vmctx);
    alk_wasi_descriptor *d = descriptor(w, fd);
    if (!d)
        return ALK_WASI_EBADF;
    uint8_t *stat = guest(vmctx, stat_ptr, 64);
    if (!stat)
        return ALK_WASI_EFAULT;
    zero(stat, 64);
    put64(stat + 8, fd);                                   /* ino */
    stat[16] = filetype(w, d);
    put64(stat + 24, 1);                                   /* nlink */
    if (d->kind == KIND_FILE)
        put64(stat + 32, w->files[d->file].size);
    return 0;
}

/* Only a socket's NONBLOCK: what fcntl(F_SETFL, O_NONBLOCK) asks; anything else, or another
 * descriptor, is ENOSYS (files are read in place and never wait; the console has one mode). */
static int32_t fd_fdstat_set_flags(void *vmctx, uint32_t fd, uint32_t flags)
{
    alk_wasi_descriptor *d = descriptor(state(vmctx), fd);
    if (!d)
        return ALK_WASI_EBADF;
    if (d->kind != KIND_SOCKET || (flags & ~FDFLAG_NONBLOCK))
        return ALK_WASI_ENOSYS;
    d->flags = (uint16_t)flags;
    return 0;
}

static int32_t fd_prestat_get(void *vmctx, uint32_t fd, uint32_t prestat_ptr)
{
    alk_wasi_descriptor *d = descriptor(state(vmctx), fd);
    if (!d || d->kind != KIND_DIRECTORY)
        return ALK_WASI_EBADF;
    uint8_t *prestat = guest(vmctx, prestat_ptr, 8);
    if (!prestat)
        return ALK_WASI_EFAULT;
    zero(prestat, 8);
    put32(prestat + 4, 1);                                 /* the name "/" */
    return 0;
}

static int32_t fd_prestat_dir_name(void *vmctx, uint32_t fd, uint32_t path_ptr, uint32_t length)
{
    alk_wasi_descriptor *d = descriptor(state(vmctx), fd);
    if (!d || d->kind != KIND_DIRECTORY)
        return ALK_WASI_EBADF;
    uint8_t *path = guest(vmctx, path_ptr, length);
    if (!path)
        return ALK_WASI_EFAULT;
    if (length < 1)
        return ALK_WASI_EINVAL;
    path[0] = '/';
    return 0;
}

/*
 * The normal form of a path relative to the preopened "/": components joined by single '/',
 * without "." and empty components, each ".." taking back the component before it. Returns its
 * length in out, or a negative errno: ".." above "/" escapes the directory (ENOTCAPABLE), and a
 * normal form longer than ALK_WASI_PATH_MAX cannot name a file (ENAMETOOLONG).
 */
static int32_t normalize(const uint8_t *path, uint32_t length, uint8_t out[ALK_WASI_PATH_MAX])
{
    uint32_t n = 0;
    for (uint32_t at = 0; at < length;) {
        uint32_t end = at;
        while (end < length && path[end] != '/')
            end++;
        uint32_t size = end - at;
        if (size == 2 && path[at] == '.' && path[at + 1] == '.') {
            if (n == 0)
                return -ALK_WASI_ENOTCAPABLE;
            while (n && out[n - 1] != '/')
                n--;
            if (n)
                n--;                        /* the separator before the dropped component */
        } else if (size && !(size == 1 && path[at] == '.')) {
            if ((uint64_t)n + (n ? 1 : 0) + size > ALK_WASI_PATH_MAX)
                return -ALK_WASI_ENAMETOOLONG;
            if (n)
                out[n++] = '/';
            copy(out + n, path + at, size);
            n += size;
        }
        at = end + 1;
    }
    return (int32_t)n;
}

/* path_open: only existing files under the preopened "/", read-only. */
static int32_t path_open(void *vmctx, uint32_t dirfd, uint32_t dirflags, uint32_t path_ptr,
                         uint32_t path_length, uint32_t oflags, uint64_t rights_base,
                         uint64_t rights_inheriting, uint32_t fdflags, uint32_t fd_ptr)
{
    (void)dirflags, (void)rights_base, (void)rights_inheriting;
    alk_wasi *w = state(vmctx);
    alk_wasi_descriptor *dir = descriptor(w, dirfd);
    if (!dir)
        return ALK_WASI_EBADF;
    if (dir->kind != KIND_DIRECTORY)
        return ALK_WASI_ENOTDIR;
    const uint8_t *path = guest(vmctx, path_ptr, path_length);
    uint8_t *result = guest(vmctx, fd_ptr, 4);
    if (!path || !result)
        return ALK_WASI_EFAULT;
    if (path_length > ALK_WASI_PATH_INPUT_MAX)
        return ALK_WASI_ENAMETOOLONG;
    if (oflags & (1 | 4 | 8))              /* creat, excl, trunc */
        return ALK_WASI_EROFS;
    if (fdflags & (1 | 2 | 8 | 16))        /* append, dsync, rsync, sync */
        return ALK_WASI_EROFS;
    uint8_t given[ALK_WASI_PATH_INPUT_MAX], wanted[ALK_WASI_PATH_MAX];
    copy(given, path, path_length);         /* read once */
    int32_t wanted_length = normalize(given, path_length, wanted);
    if (wanted_length < 0)
        return -wanted_length;
    for (uint32_t i = 0; i < w->file_count; i++) {
        const char *name = w->files[i].path;
        while (*name == '/')
            name++;
        uint32_t n = (uint32_t)length_of(name);
        bool same = n == (uint32_t)wanted_length;
        for (uint32_t k = 0; same && k < n; k++)
            same = (uint8_t)name[k] == wanted[k];
        if (!same)
            continue;
        if (oflags & 2)                    /* directory */
            return ALK_WASI_ENOTDIR;
        for (uint32_t fd = PREOPEN_FD + 1; fd < ALK_WASI_MAX_FDS; fd++) {
            if (w->fds[fd].kind == KIND_FREE) {
                w->fds[fd] = (alk_wasi_descriptor){ .kind = KIND_FILE, .file = i };
                put32(result, fd);
                return 0;
            }
        }
        return ALK_WASI_ENOMEM;
    }
    return ALK_WASI_ENOENT;
}


/* ---- sockets ------------------------------------------------------------------------------------ */
static alk_wasi_descriptor *socket_descriptor(alk_wasi *w, uint32_t fd, int32_t *error)
{
    alk_wasi_descriptor *d = descriptor(w, fd);
    *error = !d ? ALK_WASI_EBADF : d->kind != KIND_SOCKET ? ALK_WASI_ENOTSOCK : 0;
    return *error ? NULL : d;
}

static int32_t lowest_free(const alk_wasi *w)
{
    for (uint32_t fd = PREOPEN_FD + 1; fd < ALK_WASI_MAX_FDS; fd++)
        if (w->fds[fd].kind == KIND_FREE)
            return (int32_t)fd;
    return -1;
}

/* sock_accept(fd, flags, fd_out): flags NONBLOCK (4) for the new descriptor */
static int32_t sock_accept(void *vmctx, uint32_t fd, uint32_t flags, uint32_t result_ptr)
{
    alk_wasi *w = state(vmctx);
    int32_t error;
    alk_wasi_descriptor *d = socket_descriptor(w, fd, &error);
    if (!d)
        return error;
    uint8_t *result = guest(vmctx, result_ptr, 4);
    if (!result)
        return ALK_WASI_EFAULT;
    if (flags & ~FDFLAG_NONBLOCK)
        return ALK_WASI_EINVAL;
    if (lowest_free(w) < 0)
        return ALK_WASI_ENOMEM;            /* before a connection is taken from the queue */
    uint32_t accepted;
    const alk_wasi_sockets *sk = w->platform->sockets;
    int32_t e = sk->accept(w->platform->user, d->file, !(d->flags & FDFLAG_NONBLOCK), &accepted);
    if (e)
        return -e;
    int32_t new_fd = lowest_free(w);       /* still free: nothing else ran in this module */
    w->fds[new_fd] = (alk_wasi_descriptor){ .kind = KIND_SOCKET, .file = accepted,
                                            .flags = (uint16_t)flags };
    put32(result, (uint32_t)new_fd);
    return 0;
}

/* sock_recv(fd, ri_data, ri_data_len, ri_flags, ro_datalen, ro_flags): ri_flags must be 0
 * (peeking and waiting for all are not provided: ENOTSUP); ro_flags 1: a datagram was cut. */
static int32_t sock_recv(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count, uint32_t ri_flags,
                         uint32_t length_ptr, uint32_t flags_ptr)
{
    io_request io;
    int32_t error = begin_io(vmctx, fd, iovs, count, length_ptr, true, &io);
    if (error)
        return error;
    uint8_t *flags_out = guest(vmctx, flags_ptr, 2);
    if (!flags_out)
        return ALK_WASI_EFAULT;
    if (io.descriptor->kind != KIND_SOCKET)
        return ALK_WASI_ENOTSOCK;
    if (ri_flags)
        return ALK_WASI_ENOTSUP;
    uint8_t truncated;
    if ((error = socket_io(vmctx, &io, true, NULL, &truncated)))
        return error;
    flags_out[0] = truncated;
    flags_out[1] = 0;
    return 0;
}

static int32_t sock_send(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count, uint32_t si_flags,
                         uint32_t length_ptr)
{
    io_request io;
    int32_t error = begin_io(vmctx, fd, iovs, count, length_ptr, false, &io);
    if (error)
        return error;
    if (io.descriptor->kind != KIND_SOCKET)
        return ALK_WASI_ENOTSOCK;
    if (si_flags)
        return ALK_WASI_ENOTSUP;
    return socket_io(vmctx, &io, false, NULL, NULL);
}

/* sock_shutdown(fd, how): how 1 reading, 2 writing, 3 both */
static int32_t sock_shutdown(void *vmctx, uint32_t fd, uint32_t how)
{
    alk_wasi *w = state(vmctx);
    int32_t error;
    alk_wasi_descriptor *d = socket_descriptor(w, fd, &error);
    if (!d)
        return error;
    return -w->platform->sockets->shutdown(w->platform->user, d->file, how);
}

/* The extension's address argument: {u32 buf, u32 buf_len}, buf holding 4 bytes of IPv4 in
 * network order. Read once. */
static int32_t read_address(void *vmctx, uint32_t addr_ptr, uint32_t port, alk_wasi_endpoint *out)
{
    const uint8_t *a = guest(vmctx, addr_ptr, 8);
    if (!a)
        return ALK_WASI_EFAULT;
    uint32_t buf = get32(a), length = get32(a + 4);
    if (length != 4)
        return length == 16 ? ALK_WASI_EAFNOSUPPORT : ALK_WASI_EINVAL;
    const uint8_t *b = guest(vmctx, buf, 4);
    if (!b)
        return ALK_WASI_EFAULT;
    if (port == 0 || port > 0xffff)
        return ALK_WASI_EINVAL;
    out->address = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    out->port = (uint16_t)port;
    return 0;
}

/* sock_open(af, socktype, fd_out): af 1 IPv4 (2, IPv6: EAFNOSUPPORT); socktype 1 datagram,
 * 2 stream */
static int32_t sock_open(void *vmctx, uint32_t af, uint32_t type, uint32_t result_ptr)
{
    alk_wasi *w = state(vmctx);
    uint8_t *result = guest(vmctx, result_ptr, 4);
    if (!result)
        return ALK_WASI_EFAULT;
    if (af != 1)
        return af == 2 ? ALK_WASI_EAFNOSUPPORT : ALK_WASI_EINVAL;
    if (type != ALK_WASI_SOCKET_STREAM && type != ALK_WASI_SOCKET_DATAGRAM)
        return ALK_WASI_EINVAL;
    if (!w->platform->sockets)
        return ALK_WASI_ENOSYS;
    int32_t fd = lowest_free(w);
    if (fd < 0)
        return ALK_WASI_ENOMEM;
    uint32_t socket;
    int32_t e = w->platform->sockets->open(w->platform->user, type, &socket);
    if (e)
        return -e;
    w->fds[fd] = (alk_wasi_descriptor){ .kind = KIND_SOCKET, .file = socket };
    put32(result, (uint32_t)fd);
    return 0;
}

static int32_t sock_connect(void *vmctx, uint32_t fd, uint32_t addr_ptr, uint32_t port)
{
    alk_wasi *w = state(vmctx);
    int32_t error;
    alk_wasi_descriptor *d = socket_descriptor(w, fd, &error);
    if (!d)
        return error;
    alk_wasi_endpoint to;
    if ((error = read_address(vmctx, addr_ptr, port, &to)))
        return error;
    return -w->platform->sockets->connect(w->platform->user, d->file, to,
                                          !(d->flags & FDFLAG_NONBLOCK));
}

static int32_t sock_send_to(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count,
                            uint32_t addr_ptr, uint32_t port, uint32_t si_flags,
                            uint32_t length_ptr)
{
    io_request io;
    int32_t error = begin_io(vmctx, fd, iovs, count, length_ptr, false, &io);
    if (error)
        return error;
    if (io.descriptor->kind != KIND_SOCKET)
        return ALK_WASI_ENOTSOCK;
    alk_wasi_endpoint to;
    if ((error = read_address(vmctx, addr_ptr, port, &to)))
        return error;
    if (si_flags)
        return ALK_WASI_ENOTSUP;
    if (io.wasi->platform->sockets->kind(io.wasi->platform->user, io.descriptor->file) != 2)
        return ALK_WASI_EISCONN;           /* a stream goes where it is connected */
    /* one datagram from every buffer: gathered, at most one ring's worth */
    uint64_t total = 0;
    for (uint32_t i = 0; i < io.count; i++)
        total += io.iovecs[i].length;
    if (total > ALK_WASI_DATAGRAM_MAX)
        return ALK_WASI_EMSGSIZE;
    uint8_t datagram[ALK_WASI_DATAGRAM_MAX];
    uint64_t at = 0;
    for (uint32_t i = 0; i < io.count; i++) {
        uint32_t length;
        const uint8_t *buffer = iovec_buffer(vmctx, &io, i, &length);
        copy(datagram + at, buffer, length);
        at += length;
    }
    const alk_wasi_platform *p = io.wasi->platform;
    int64_t n = p->sockets->send(p->user, io.descriptor->file, datagram, total,
                                 !(io.descriptor->flags & FDFLAG_NONBLOCK), &to);
    if (n < 0)
        return (int32_t)-n;
    put32(io.result, (uint32_t)n);
    return 0;
}

/* sock_recv_from(fd, ri_data, ri_data_len, addr, port_out, ri_flags, ro_datalen, ro_flags):
 * one datagram; its source's 4 address bytes into addr's buffer, its port (u32) at port_out */
static int32_t sock_recv_from(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count,
                              uint32_t addr_ptr, uint32_t port_ptr, uint32_t ri_flags,
                              uint32_t length_ptr, uint32_t flags_ptr)
{
    io_request io;
    int32_t error = begin_io(vmctx, fd, iovs, count, length_ptr, true, &io);
    if (error)
        return error;
    const uint8_t *a = guest(vmctx, addr_ptr, 8);
    uint8_t *port_out = guest(vmctx, port_ptr, 4), *flags_out = guest(vmctx, flags_ptr, 2);
    if (!a || !port_out || !flags_out)
        return ALK_WASI_EFAULT;
    uint32_t buf = get32(a), buf_length = get32(a + 4);       /* read once */
    uint8_t *address = guest(vmctx, buf, 4);
    if (!address || buf_length < 4)
        return buf_length < 4 ? ALK_WASI_EINVAL : ALK_WASI_EFAULT;
    if (io.descriptor->kind != KIND_SOCKET)
        return ALK_WASI_ENOTSOCK;
    if (ri_flags)
        return ALK_WASI_ENOTSUP;
    alk_wasi_endpoint from = { 0, 0 };
    io.from = &from;
    uint8_t truncated;
    if ((error = socket_io(vmctx, &io, true, NULL, &truncated)))
        return error;
    for (int i = 0; i < 4; i++)
        address[i] = (uint8_t)(from.address >> (24 - 8 * i));
    put32(port_out, from.port);
    flags_out[0] = truncated;
    flags_out[1] = 0;
    return 0;
}

/* ---- clocks, randomness, scheduling, exit ------------------------------------------------------- */
static int32_t clock_res_get(void *vmctx, uint32_t id, uint32_t result_ptr)
{
    alk_wasi *w = state(vmctx);
    uint8_t *result = guest(vmctx, result_ptr, 8);
    if (id > 3)
        return ALK_WASI_EINVAL;
    if (!result)
        return ALK_WASI_EFAULT;
    put64(result, w->platform->clock_resolution(w->platform->user, id));
    return 0;
}

static int32_t clock_time_get(void *vmctx, uint32_t id, uint64_t precision, uint32_t result_ptr)
{
    (void)precision;
    alk_wasi *w = state(vmctx);
    uint8_t *result = guest(vmctx, result_ptr, 8);
    if (id > 3)
        return ALK_WASI_EINVAL;
    if (!result)
        return ALK_WASI_EFAULT;
    put64(result, w->platform->clock(w->platform->user, id));
    return 0;
}

static int32_t random_get(void *vmctx, uint32_t buffer_ptr, uint32_t length)
{
    alk_wasi *w = state(vmctx);
    uint8_t *buffer = guest(vmctx, buffer_ptr, length);
    if (!buffer)
        return ALK_WASI_EFAULT;
    for (uint32_t done = 0; done < length;) {
        uint32_t k = length - done < ALK_WASI_CHUNK ? length - done : ALK_WASI_CHUNK;
        w->platform->random(w->platform->user, buffer + done, k);
        done += k;
        if (done < length)
            preempt(w);
    }
    return 0;
}

static int32_t sched_yield(void *vmctx)
{
    alk_wasi *w = state(vmctx);
    w->platform->yield(w->platform->user);
    return 0;
}

static _Noreturn void proc_exit(void *vmctx, uint32_t code)
{
    alk_wasi *w = state(vmctx);
    w->exit_code = code;
    w->platform->exit(w->platform->user, vmctx, code);
    for (;;) {
    }
}

/* poll_oneoff: clock subscriptions and descriptor subscriptions on sockets. It reports at once
 * every subscription that is ready — a socket readable or writable (or ended), a clock due —
 * and otherwise blocks until one is (a socket of the module changes, or the earliest deadline).
 * A descriptor that is not a socket gets an event with error ENOSYS at once (files and the
 * console are not polled), one the module does not hold EBADF. The subscriptions are read
 * once, into `subs`, before anything else. */
typedef struct subscription {
    uint64_t userdata, timeout;
    uint32_t clock;                         /* the clock's id, or the descriptor */
    uint8_t type;                           /* 0 clock, 1 fd_read, 2 fd_write */
    bool absolute;
} subscription;

static int32_t poll_oneoff(void *vmctx, uint32_t in_ptr, uint32_t out_ptr, uint32_t count,
                           uint32_t events_ptr)
{
    alk_wasi *w = state(vmctx);
    const alk_wasi_platform *p = w->platform;
    if (count == 0 || count > ALK_WASI_SUBSCRIPTIONS_MAX)
        return ALK_WASI_EINVAL;
    const uint8_t *in = guest(vmctx, in_ptr, 48ull * count);
    uint8_t *out = guest(vmctx, out_ptr, 32ull * count), *nevents = guest(vmctx, events_ptr, 4);
    if (!in || !out || !nevents)
        return ALK_WASI_EFAULT;
    subscription subs[ALK_WASI_SUBSCRIPTIONS_MAX];
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *s = in + 48 * i;
        subs[i] = (subscription){ get64(s), get64(s + 24), get32(s + 16), s[8],
                                  (get32(s + 40) & 1) != 0 };
    }
    bool sockets = false;
    for (uint32_t i = 0; i < count; i++) {
        if (subs[i].type > 2 || (subs[i].type == 0 && subs[i].clock > 3))
            return ALK_WASI_EINVAL;
        const alk_wasi_descriptor *d = subs[i].type ? descriptor(w, subs[i].clock) : NULL;
        sockets |= d && d->kind == KIND_SOCKET;
    }
    uint64_t now = p->clock(p->user, 1), earliest = UINT64_MAX;
    for (uint32_t i = 0; i < count; i++) {
        const subscription *s = &subs[i];
        if (s->type != 0)
            continue;
        uint64_t deadline;
        if (s->absolute) {
            uint64_t clock_now = p->clock(p->user, s->clock);
            deadline = now + (s->timeout > clock_now ? s->timeout - clock_now : 0);
        } else {
            deadline = s->timeout > UINT64_MAX - now ? UINT64_MAX : now + s->timeout;
        }
        subs[i].timeout = deadline;         /* from here: a monotonic deadline */
        subs[i].absolute = false;
        if (deadline < earliest)
            earliest = deadline;
    }
    for (;;) {
        uint32_t events = 0;
        now = p->clock(p->user, 1);
        for (uint32_t i = 0; i < count; i++) {
            const subscription *s = &subs[i];
            uint8_t *e = out + 32 * events;
            uint16_t error = 0, flags = 0;
            uint64_t bytes = 0;
            if (s->type == 0) {
                if (now < s->timeout)
                    continue;
            } else {
                const alk_wasi_descriptor *d = descriptor(w, s->clock);
                if (!d) {
                    error = ALK_WASI_EBADF;
                } else if (d->kind != KIND_SOCKET) {
                    error = ALK_WASI_ENOSYS;
                } else {
                    uint32_t ready = p->sockets->ready(p->user, d->file, &bytes);
                    if (!(ready & (s->type == 1 ? ALK_WASI_READABLE : ALK_WASI_WRITABLE)))
                        continue;
                    flags = ready & ALK_WASI_HANGUP ? 1 : 0;
                    if (s->type == 2)
                        bytes = 0;
                }
            }
            zero(e, 32);
            put64(e, s->userdata);
            e[8] = (uint8_t)error;
            e[10] = s->type;
            put64(e + 16, bytes);
            e[24] = (uint8_t)flags;
            events++;
        }
        if (events) {
            put32(nevents, events);
            return 0;
        }
        if (sockets)
            p->sockets->wait(p->user, earliest);
        else
            p->sleep(p->user, earliest - now);
    }
}

static int32_t enosys(void)
{
    return ALK_WASI_ENOSYS;
}

/* ---- The function table ---------------------------------------------------------------------- */
/* Every preview1 function and its signature, from the capability catalogue. */
static const struct {
    const char *name;
    const char *signature;
} functions[] = {
#define ALK_WASI_ENTRY(name, signature) { #name, signature },
    ALK_WASI_FUNCTIONS(ALK_WASI_ENTRY)
#undef ALK_WASI_ENTRY
};

/* The ones this file provides; every other one is an ENOSYS stub. */
static const struct {
    const char *name;
    const void *code;
} provided[] = {
    { "args_get", (const void *)args_get },
    { "args_sizes_get", (const void *)args_sizes_get },
    { "environ_get", (const void *)environ_get },
    { "environ_sizes_get", (const void *)environ_sizes_get },
    { "clock_res_get", (const void *)clock_res_get },
    { "clock_time_get", (const void *)clock_time_get },
    { "fd_close", (const void *)fd_close },
    { "fd_fdstat_get", (const void *)fd_fdstat_get },
    { "fd_filestat_get", (const void *)fd_filestat_get },
    { "fd_prestat_get", (const void *)fd_prestat_get },
    { "fd_prestat_dir_name", (const void *)fd_prestat_dir_name },
    { "fd_read", (const void *)fd_read },
    { "fd_seek", (const void *)fd_seek },
    { "fd_tell", (const void *)fd_tell },
    { "fd_write", (const void *)fd_write },
    { "path_open", (const void *)path_open },
    { "poll_oneoff", (const void *)poll_oneoff },
    { "proc_exit", (const void *)proc_exit },
    { "sched_yield", (const void *)sched_yield },
    { "random_get", (const void *)random_get },
    { "fd_fdstat_set_flags", (const void *)fd_fdstat_set_flags },
    { "sock_accept", (const void *)sock_accept },
    { "sock_recv", (const void *)sock_recv },
    { "sock_send", (const void *)sock_send },
    { "sock_shutdown", (const void *)sock_shutdown },
    { "sock_open", (const void *)sock_open },
    { "sock_connect", (const void *)sock_connect },
    { "sock_send_to", (const void *)sock_send_to },
    { "sock_recv_from", (const void *)sock_recv_from },
};

static bool same_name(const char *name, const char *field, uint32_t length)
{
    uint32_t k = 0;
    while (k < length && name[k] == field[k])
        k++;
    return k == length && name[k] == 0;
}

const void *alk_wasi_function(const char *field, uint32_t length, const char **signature)
{
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        if (!same_name(functions[i].name, field, length))
            continue;
        *signature = functions[i].signature;
        for (size_t k = 0; k < sizeof provided / sizeof provided[0]; k++)
            if (same_name(provided[k].name, field, length))
                return provided[k].code;
        return (const void *)enosys;
    }
    return NULL;
}
