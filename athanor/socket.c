/*
 * Sockets: the kernel's side of the apps' WASI sockets and of the TCP/IP stack module
 * (docs/kernel-abi.md, "Sockets" and "The stack's functions").
 *
 * An app's socket is a descriptor of its WASI state that names one of these objects; the stack
 * (the module granted `netstack`, appliances/services/net) runs TCP and UDP for it. The two
 * never share memory: each socket holds two byte rings in kernel memory, what the stack
 * received for the app and what the app sent, and every byte is copied once into a ring and
 * once out of it, each time between the ring and the memory of the module that called.
 *
 *   app  sock_send --> [tx ring] --> net_pull  stack        (the stack takes what TCP can send)
 *   app  sock_recv <-- [rx ring] <-- net_push  stack        (the stack gives what fits: TCP's
 *                                                            window follows the ring's room)
 *
 * What the stack must do about a socket — make a listening PCB, connect, send, note that the
 * app read (room to push more), shut down, close — is a set of event bits on the socket, which
 * sits on one FIFO list (`dirty`) until the stack takes its events (net_events); the stack
 * reports back with net_control (a connection accepted on a listener, connected, failed,
 * released). Nothing the stack does can reach an app's memory or another app's socket: every
 * socket number it passes is checked (range, generation, in use), every pointer against its
 * own memory, and the rings are the kernel's. An app reaches only sockets its descriptors
 * name, and opens listening sockets only through tcp-listen grants (made by the kernel at each
 * of its starts, descriptors 4, 5, ...) and outbound ones only towards what its tcp-connect or
 * udp grants name.
 *
 * Lifetimes. A socket is freed when neither side needs it: the app has closed it (or ended,
 * or restarted) and the stack has released it (or never knew it). When the stack restarts its
 * connections are lost: their apps see ECONNRESET; listening and UDP sockets are announced to
 * the new stack as if new. When an app restarts, its sockets close and its listening sockets
 * are made afresh.
 *
 * Bounded work: every call moves at most one ring's worth (ATH_SOCKET_BUFFER) or
 * ATH_NET_EVENTS_MAX records, or scans the socket table once (ATH_SOCKETS_MAX); a blocking
 * call blocks, and blocking is where others run.
 */
#include "kernel.h"
#include "kernel_abi.h"

enum socket_state { FREE, LISTENING, STREAM, DATAGRAM };

/* Socket flags. */
#define CONNECTING      0x0001u     /* a stream asked to connect; no answer yet */
#define CONNECTED       0x0002u     /* a stream whose connection stands (or stood) */
#define PENDING         0x0004u     /* a connection the stack accepted, not taken by the app */
#define PEER_CLOSED     0x0008u     /* no more bytes will come: end of stream after the ring */
#define APP_SHUT_WRITE  0x0010u     /* the app sends no more (the stack ends the stream) */
#define APP_SHUT_READ   0x0020u
#define APP_CLOSED      0x0040u     /* the app has no descriptor for it any more */
#define STACK_KNOWS     0x0080u     /* the stack has (or had) state for it */
#define STACK_GONE      0x0100u     /* the stack released it, or restarted */
#define HAS_PEER        0x0200u     /* a datagram socket with a fixed peer (sock_connect) */

/* Events for the stack: the bits of a net_events record (docs/kernel-abi.md; the stack's
 * appliances/services/net/socket.h says the same). */
#define EVENT_LISTEN    0x01u
#define EVENT_CONNECT   0x02u
#define EVENT_DATAGRAM  0x04u
#define EVENT_SEND      0x08u
#define EVENT_READ      0x10u
#define EVENT_SHUTDOWN  0x20u
#define EVENT_CLOSE     0x40u

/* net_control operations. */
enum { CONTROL_ACCEPTED = 1, CONTROL_CONNECTED = 2, CONTROL_ERROR = 3, CONTROL_RELEASE = 4 };
#define PUSH_END 1u                 /* net_push: the peer's stream ends after these bytes */

#define DATAGRAM_HEADER 8           /* u32 address, u16 port, u16 length */
#define RECORD_SIZE 32              /* a net_events record */
#define NO_SOCKET 0xffffffffu

struct ring {
    uint8_t *bytes;
    uint32_t head, count;           /* the oldest byte; bytes held (capacity ATH_SOCKET_BUFFER) */
};

struct socket {
    uint8_t state;                  /* enum socket_state */
    uint16_t generation;            /* moves on at each free: a stale number is refused */
    uint32_t flags, events;
    int32_t error;                  /* a WASI errno to report (ECONNRESET, ...), or 0 */
    uint32_t owner;                 /* the app's task index */
    uint32_t listener;              /* PENDING: its listening socket's index */
    uint32_t next_dirty;            /* the events list; NO_SOCKET at its end */
    bool dirty;
    uint64_t sequence;              /* PENDING: accepted in this order */
    uint16_t local_port, remote_port;
    uint32_t remote_address;
    uint32_t pending;               /* LISTENING: connections not accepted yet */
    struct ring rx, tx;
};

static struct socket sockets[ATH_SOCKETS_MAX];
static uint32_t dirty_head = NO_SOCKET, dirty_tail = NO_SOCKET;
static uint64_t accept_sequence;
static struct ath_task *stack;      /* the module granted netstack, or NULL */

static struct socket *from_number(uint32_t number) { return &sockets[number & 0xffff]; }
static uint32_t number_of(const struct socket *s)
{
    return (uint32_t)s->generation << 16 | (uint32_t)(s - sockets);
}

/* ---- Rings ---------------------------------------------------------------------------------- */
static uint32_t ring_room(const struct ring *r) { return ATH_SOCKET_BUFFER - r->count; }

static void ring_write(struct ring *r, const uint8_t *bytes, uint32_t length)
{
    uint32_t at = (r->head + r->count) % ATH_SOCKET_BUFFER;
    uint32_t first = ATH_MIN(length, ATH_SOCKET_BUFFER - at);
    memcpy(r->bytes + at, bytes, first);
    memcpy(r->bytes, bytes + first, length - first);
    r->count += length;
}

static void ring_peek(const struct ring *r, uint32_t offset, uint8_t *out, uint32_t length)
{
    uint32_t at = (r->head + offset) % ATH_SOCKET_BUFFER;
    uint32_t first = ATH_MIN(length, ATH_SOCKET_BUFFER - at);
    memcpy(out, r->bytes + at, first);
    memcpy(out + first, r->bytes, length - first);
}

static void ring_drop(struct ring *r, uint32_t length)
{
    r->head = (r->head + length) % ATH_SOCKET_BUFFER;
    r->count -= length;
}

static void ring_read(struct ring *r, uint8_t *out, uint32_t length)
{
    ring_peek(r, 0, out, length);
    ring_drop(r, length);
}

/* A datagram in a ring: [u32 address][u16 port][u16 length][bytes], whole or not at all; the
 * header little-endian, the address as a number (10.0.2.2 is 0x0a000202). */
static uint32_t datagram_length(const struct ring *r)
{
    uint8_t header[DATAGRAM_HEADER];
    ring_peek(r, 0, header, DATAGRAM_HEADER);
    return (uint32_t)header[6] | (uint32_t)header[7] << 8;
}

/* ---- Wakeups and events -------------------------------------------------------------------- */
static void wake_owner(const struct socket *s)
{
    struct ath_task *t = ath_task_at(s->owner);
    if (t->state == ATH_TASK_BLOCKED && t->wait_sockets)
        ath_task_wake(t);
}

static void wake_stack(void)
{
    if (stack && stack->state == ATH_TASK_BLOCKED && stack->wait_net)
        ath_task_wake(stack);
}

static void post(struct socket *s, uint32_t events)
{
    s->events |= events;
    if (!s->dirty) {
        s->dirty = true;
        s->next_dirty = NO_SOCKET;
        uint32_t index = (uint32_t)(s - sockets);
        if (dirty_tail == NO_SOCKET)
            dirty_head = index;
        else
            sockets[dirty_tail].next_dirty = index;
        dirty_tail = index;
    }
    wake_stack();
}

/* Rebuilds the list without the sockets that have no events left (after frees). */
static void prune_dirty(void)
{
    uint32_t index = dirty_head;
    dirty_head = dirty_tail = NO_SOCKET;
    while (index != NO_SOCKET) {
        struct socket *s = &sockets[index];
        uint32_t next = s->next_dirty;
        s->dirty = false;
        if (s->state != FREE && s->events)
            post(s, 0);
        index = next;
    }
}

/* ---- Making and freeing ---------------------------------------------------------------------- */
static struct socket *socket_new(uint8_t state, uint32_t owner)
{
    for (uint32_t i = 0; i < ATH_SOCKETS_MAX; i++) {
        struct socket *s = &sockets[i];
        if (s->state != FREE)
            continue;
        uint8_t *buffers = ath_alloc(2 * (size_t)ATH_SOCKET_BUFFER);
        if (!buffers)
            return NULL;
        uint16_t generation = (uint16_t)((s->generation + 1) & 0x7fff);
        *s = (struct socket){ .state = state, .generation = generation ? generation : 1,
                              .owner = owner, .listener = NO_SOCKET, .next_dirty = NO_SOCKET,
                              .rx = { buffers, 0, 0 },
                              .tx = { buffers + ATH_SOCKET_BUFFER, 0, 0 } };
        return s;
    }
    return NULL;
}

static void socket_free(struct socket *s)
{
    if (s->listener != NO_SOCKET && (s->flags & PENDING))
        sockets[s->listener].pending--;
    ath_free(s->rx.bytes);
    uint16_t generation = s->generation;
    bool dirty = s->dirty;
    uint32_t next = s->next_dirty;
    *s = (struct socket){ .state = FREE, .generation = generation, .listener = NO_SOCKET,
                          .dirty = dirty, .next_dirty = next };
    /* left on the events list with no events: net_events skips it, prune_dirty drops it */
}

/* The app is done with it: free it if the stack never knew it or is done too, else tell the
 * stack to close (sending what the app sent first). */
static void app_close(struct socket *s)
{
    if (s->state == LISTENING)              /* and the connections its app never took */
        for (uint32_t i = 0; i < ATH_SOCKETS_MAX && s->pending; i++)
            if (sockets[i].state == STREAM && (sockets[i].flags & PENDING) &&
                sockets[i].listener == (uint32_t)(s - sockets))
                app_close(&sockets[i]);
    s->flags |= APP_CLOSED;
    if (!(s->flags & STACK_KNOWS) || (s->flags & STACK_GONE)) {
        socket_free(s);
        return;
    }
    post(s, EVENT_CLOSE);
}

/* ---- Boot, and the ends and restarts of modules ---------------------------------------------- */
void ath_sockets_init(const struct ath_image *image)
{
    for (uint32_t i = 0; i < image->module_count; i++) {
        struct ath_task *t = ath_task_at(i);
        if (!(t->record.grants >> ATH_CAPABILITY_NETSTACK & 1))
            continue;
        if (stack) {
            ath_kprintf("[athanor] boot error: modules %s and %s are both granted netstack: an "
                        "appliance has one TCP/IP stack\n", stack->record.name, t->record.name);
            ath_fail(ATH_FAIL_BOOT);
        }
        stack = t;
    }
}

/* The stack lost its state (restart or end): its connections are reset for their apps; the
 * listening and datagram sockets are announced to the next instance as new. */
static void stack_reset(void)
{
    for (uint32_t i = 0; i < ATH_SOCKETS_MAX; i++) {
        struct socket *s = &sockets[i];
        if (s->state == FREE || !(s->flags & STACK_KNOWS))
            continue;
        s->flags &= ~STACK_KNOWS;
        s->events &= ~(EVENT_SEND | EVENT_READ | EVENT_SHUTDOWN);
        if (s->flags & APP_CLOSED) {
            socket_free(s);
            continue;
        }
        if (s->state == LISTENING) {
            s->events = EVENT_LISTEN;
            post(s, 0);
        } else if (s->state == DATAGRAM) {
            s->events = EVENT_DATAGRAM;
            post(s, 0);
        } else if (s->flags & PENDING) {
            socket_free(s);                 /* its app never saw it */
            continue;
        } else {
            s->events = 0;
            s->flags |= STACK_GONE | PEER_CLOSED;
            s->flags &= ~CONNECTING;
            if (!s->error)
                s->error = ALK_WASI_ECONNRESET;
        }
        wake_owner(s);
    }
    prune_dirty();
}

void ath_sockets_task_reset(struct ath_task *task)
{
    for (uint32_t i = 0; i < ATH_SOCKETS_MAX; i++)
        if (sockets[i].state != FREE && sockets[i].owner == task->index &&
            !(sockets[i].flags & APP_CLOSED))
            app_close(&sockets[i]);
    if (task == stack)
        stack_reset();
    prune_dirty();
}

int32_t ath_sockets_instance(struct ath_task *task, alk_wasi *wasi)
{
    uint32_t fd = ATH_LISTEN_FIRST_FD;
    for (uint32_t i = 0; i < task->record.resource_count; i++) {
        struct ath_image_resource r;
        ath_image_resource_at(task->image, task->record.resource_first + i, &r);
        if (r.kind != ATH_RESOURCE_TCP_LISTEN)
            continue;
        if (r.first == 0 || r.first > 0xffff || fd >= ATH_LISTEN_FIRST_FD + ATH_LISTEN_MAX)
            return ATH_E_INVALID;
        struct socket *s = socket_new(LISTENING, task->index);
        if (!s)
            return ATH_E_NOMEM;
        s->local_port = (uint16_t)r.first;
        if (!alk_wasi_add_socket(wasi, fd++, number_of(s))) {
            socket_free(s);
            return ATH_E_INVALID;
        }
        post(s, EVENT_LISTEN);
    }
    return 0;
}

/* ---- The app's side: WASI (alk_wasi_sockets) ------------------------------------------------- */
/* The caller's own socket behind a descriptor's number (descriptors are the module's own, so
 * the number is the kernel's: it is checked all the same). */
static struct socket *own(uint32_t number)
{
    struct socket *s = from_number(number);
    struct ath_task *task = ath_task_current();
    ath_assert((number & 0xffff) < ATH_SOCKETS_MAX && s->state != FREE &&
               s->generation == number >> 16 && s->owner == task->index);
    return s;
}

/* Blocks the caller until one of its sockets changes (or the deadline, ns; 0: none). */
static void block_app(uint64_t deadline)
{
    struct ath_task *task = ath_task_current();
    task->wait_sockets = true;
    ath_sched_block(deadline);
    task->wait_sockets = false;
}

static bool granted_endpoint(const struct ath_task *task, uint32_t kind, alk_wasi_endpoint e)
{
    uint64_t wanted = (uint64_t)e.address << 16 | e.port;
    for (uint32_t i = 0; i < task->record.resource_count; i++) {
        struct ath_image_resource r;
        ath_image_resource_at(task->image, task->record.resource_first + i, &r);
        if (r.kind == kind && r.first >> 16 <= wanted >> 16 && wanted >> 16 <= r.last >> 16 &&
            (r.first & 0xffff) <= e.port && e.port <= (r.last & 0xffff))
            return true;
    }
    return false;
}

static int32_t refuse_endpoint(struct ath_task *task, const char *grant, alk_wasi_endpoint e)
{
    return -ath_refuse_ungranted(task, ALK_WASI_ENOTCAPABLE, "a connection", "add \"%s:%u.%u.%u.%u:%u\" "
                                 "to its grants", grant, e.address >> 24, e.address >> 16 & 0xff,
                                 e.address >> 8 & 0xff, e.address & 0xff, e.port);
}

static int32_t socket_open(void *user, uint32_t type, uint32_t *number)
{
    (void)user;
    struct ath_task *task = ath_task_current();
    if (type != ALK_WASI_SOCKET_STREAM && type != ALK_WASI_SOCKET_DATAGRAM)
        return -ALK_WASI_EINVAL;
    struct socket *s = socket_new(type == ALK_WASI_SOCKET_STREAM ? STREAM : DATAGRAM,
                                  task->index);
    if (!s)
        return -ALK_WASI_ENOBUFS;
    if (s->state == DATAGRAM)
        post(s, EVENT_DATAGRAM);
    *number = number_of(s);
    return 0;
}

static int32_t socket_connect(void *user, uint32_t number, alk_wasi_endpoint to, bool wait)
{
    (void)user;
    struct socket *s = own(number);
    struct ath_task *task = ath_task_current();
    if (s->state == LISTENING)
        return -ALK_WASI_EINVAL;
    if (to.port == 0 || to.address == 0)
        return -ALK_WASI_EINVAL;
    bool stream = s->state == STREAM;
    if (!granted_endpoint(task, stream ? ATH_RESOURCE_TCP_CONNECT : ATH_RESOURCE_UDP, to))
        return refuse_endpoint(task, stream ? "tcp-connect" : "udp", to);
    if (!stream) {
        s->remote_address = to.address;
        s->remote_port = to.port;
        s->flags |= HAS_PEER;
        return 0;
    }
    if (s->flags & (CONNECTING | CONNECTED))
        return -((s->flags & CONNECTED) ? ALK_WASI_EISCONN : ALK_WASI_EINPROGRESS);
    s->remote_address = to.address;
    s->remote_port = to.port;
    s->flags |= CONNECTING;
    post(s, EVENT_CONNECT);
    if (!wait)
        return -ALK_WASI_EINPROGRESS;
    while (s->flags & CONNECTING)
        block_app(0);
    return s->error ? -s->error : 0;
}

static int32_t socket_accept(void *user, uint32_t number, bool wait, uint32_t *accepted)
{
    (void)user;
    struct socket *listener = own(number);
    if (listener->state != LISTENING)
        return -ALK_WASI_EINVAL;
    for (;;) {
        struct socket *first = NULL;
        for (uint32_t i = 0; i < ATH_SOCKETS_MAX && listener->pending; i++) {
            struct socket *s = &sockets[i];
            if (s->state == STREAM && (s->flags & PENDING) && s->listener == (number & 0xffff) &&
                (!first || s->sequence < first->sequence))
                first = s;
        }
        if (first) {
            first->flags &= ~PENDING;
            listener->pending--;
            first->listener = NO_SOCKET;
            *accepted = number_of(first);
            return 0;
        }
        if (listener->error)
            return -listener->error;
        if (!wait)
            return -ALK_WASI_EAGAIN;
        block_app(0);
    }
}

static int64_t socket_recv(void *user, uint32_t number, uint8_t *buffer, uint64_t length,
                           bool wait, alk_wasi_endpoint *from, bool *truncated)
{
    (void)user;
    struct socket *s = own(number);
    *truncated = false;
    if (s->state == LISTENING)
        return -ALK_WASI_ENOTCONN;
    for (;;) {
        if (s->state == DATAGRAM && s->rx.count) {
            uint8_t header[DATAGRAM_HEADER];
            ring_read(&s->rx, header, DATAGRAM_HEADER);
            uint32_t size = (uint32_t)header[6] | (uint32_t)header[7] << 8;
            uint32_t n = (uint32_t)ATH_MIN((uint64_t)size, length);
            ring_read(&s->rx, buffer, n);
            ring_drop(&s->rx, size - n);
            *truncated = n < size;
            if (from) {
                memcpy(&from->address, header, 4);
                memcpy(&from->port, header + 4, 2);
            }
            if (s->flags & STACK_KNOWS)
                post(s, EVENT_READ);
            return n;
        }
        if (s->state == STREAM && s->rx.count && !(s->flags & APP_SHUT_READ)) {
            uint32_t n = (uint32_t)ATH_MIN((uint64_t)s->rx.count, length);
            ring_read(&s->rx, buffer, n);
            if (from)
                *from = (alk_wasi_endpoint){ s->remote_address, s->remote_port };
            if (s->flags & STACK_KNOWS)
                post(s, EVENT_READ);
            return n;
        }
        if (s->error)
            return -s->error;
        if (s->state == STREAM && (s->flags & (PEER_CLOSED | APP_SHUT_READ | STACK_GONE)))
            return 0;
        if (s->state == STREAM && !(s->flags & (CONNECTED | CONNECTING)))
            return -ALK_WASI_ENOTCONN;
        if (!wait || length == 0)
            return length == 0 ? 0 : -ALK_WASI_EAGAIN;
        block_app(0);
    }
}

static int64_t socket_send(void *user, uint32_t number, const uint8_t *bytes, uint64_t length,
                           bool wait, const alk_wasi_endpoint *to)
{
    (void)user;
    struct socket *s = own(number);
    struct ath_task *task = ath_task_current();
    if (s->state == LISTENING)
        return -ALK_WASI_ENOTCONN;
    if (s->state == DATAGRAM) {
        alk_wasi_endpoint peer = { s->remote_address, s->remote_port };
        if (!to && !(s->flags & HAS_PEER))
            return -ALK_WASI_ENOTCONN;
        if (to) {
            if (to->port == 0)
                return -ALK_WASI_EINVAL;
            if (!granted_endpoint(task, ATH_RESOURCE_UDP, *to))
                return refuse_endpoint(task, "udp", *to);
            peer = *to;
        }
        if (length > ATH_SOCKET_BUFFER - DATAGRAM_HEADER || length > 0xffff)
            return -ALK_WASI_EMSGSIZE;
        while (ring_room(&s->tx) < DATAGRAM_HEADER + length) {
            if (s->error)
                return -s->error;
            if (!wait)
                return -ALK_WASI_EAGAIN;
            block_app(0);
        }
        uint8_t header[DATAGRAM_HEADER];
        uint16_t size = (uint16_t)length;
        memcpy(header, &peer.address, 4);
        memcpy(header + 4, &peer.port, 2);
        memcpy(header + 6, &size, 2);
        ring_write(&s->tx, header, DATAGRAM_HEADER);
        ring_write(&s->tx, bytes, (uint32_t)length);
        post(s, EVENT_SEND);
        return (int64_t)length;
    }
    uint64_t done = 0;
    for (;;) {
        if (s->error)
            return done ? (int64_t)done : -s->error;
        if (s->flags & (APP_SHUT_WRITE | STACK_GONE))
            return done ? (int64_t)done : -ALK_WASI_EPIPE;
        if (!(s->flags & (CONNECTED | CONNECTING)))
            return -ALK_WASI_ENOTCONN;
        if (s->flags & CONNECTED) {
            uint32_t n = (uint32_t)ATH_MIN((uint64_t)ring_room(&s->tx), length - done);
            if (n) {
                ring_write(&s->tx, bytes + done, n);
                done += n;
                post(s, EVENT_SEND);
            }
            if (done == length)
                return (int64_t)done;
        }
        if (!wait)
            return done ? (int64_t)done : -ALK_WASI_EAGAIN;
        block_app(0);
    }
}

static int32_t socket_shutdown(void *user, uint32_t number, uint32_t how)
{
    (void)user;
    struct socket *s = own(number);
    if (how == 0 || how > 3)
        return -ALK_WASI_EINVAL;
    if (s->state != STREAM || !(s->flags & (CONNECTED | CONNECTING)))
        return -ALK_WASI_ENOTCONN;
    if (how & 1) {
        s->flags |= APP_SHUT_READ;
        s->rx.count = 0;
    }
    if ((how & 2) && !(s->flags & APP_SHUT_WRITE)) {
        s->flags |= APP_SHUT_WRITE;
        if ((s->flags & STACK_KNOWS) && !(s->flags & STACK_GONE))
            post(s, EVENT_SHUTDOWN);
    }
    return 0;
}

static void socket_close(void *user, uint32_t number)
{
    (void)user;
    app_close(own(number));
    prune_dirty();
}

static uint32_t socket_ready(void *user, uint32_t number, uint64_t *bytes)
{
    (void)user;
    struct socket *s = own(number);
    uint32_t ready = 0;
    *bytes = 0;
    if (s->state == LISTENING) {
        if (s->pending || s->error)
            ready |= ALK_WASI_READABLE;
        *bytes = s->pending;
        return ready;
    }
    if (s->state == DATAGRAM) {
        if (s->rx.count) {
            ready |= ALK_WASI_READABLE;
            *bytes = datagram_length(&s->rx);
        }
        if (ring_room(&s->tx) > DATAGRAM_HEADER)
            ready |= ALK_WASI_WRITABLE;
        return ready;
    }
    bool ended = s->error || (s->flags & (PEER_CLOSED | STACK_GONE));
    if (s->rx.count || ended || (s->flags & APP_SHUT_READ))
        ready |= ALK_WASI_READABLE;
    *bytes = s->rx.count;
    if (((s->flags & CONNECTED) && ring_room(&s->tx)) || s->error || (s->flags & STACK_GONE))
        ready |= ALK_WASI_WRITABLE;
    if (ended && !s->rx.count)
        ready |= ALK_WASI_HANGUP;
    return ready;
}

static void socket_wait(void *user, uint64_t deadline)
{
    (void)user;
    block_app(deadline == UINT64_MAX ? 0 : deadline ? deadline : 1);
}

static uint32_t socket_kind(void *user, uint32_t number)
{
    (void)user;
    struct socket *s = own(number);
    return s->state == LISTENING ? 3 : s->state == DATAGRAM ? 2 : 1;
}

const alk_wasi_sockets ath_wasi_sockets = {
    .open = socket_open, .connect = socket_connect, .accept = socket_accept,
    .recv = socket_recv, .send = socket_send, .shutdown = socket_shutdown,
    .close = socket_close, .ready = socket_ready, .wait = socket_wait, .kind = socket_kind,
};

/* ---- The stack's side: athanor.net_* ------------------------------------------------------- */
bool ath_net_ready(const struct ath_handle *h)
{
    (void)h;
    for (uint32_t i = dirty_head; i != NO_SOCKET; i = sockets[i].next_dirty)
        if (sockets[i].state != FREE && sockets[i].events)
            return true;
    return false;
}

static int32_t net_handle(struct ath_task *task, uint32_t handle)
{
    struct ath_handle *h;
    return ath_handle_get(task, (int32_t)handle, ATH_HANDLE_NET, &h);
}

/* The socket a number from the stack names: RANGE beyond the table, STALE when it was freed
 * (or the generation is another's). */
static int32_t stack_socket(uint32_t number, struct socket **out)
{
    if ((number & 0xffff) >= ATH_SOCKETS_MAX || number >> 31)
        return ath_refuse(ATH_E_RANGE);
    struct socket *s = from_number(number);
    if (s->state == FREE || s->generation != number >> 16 || !(s->flags & STACK_KNOWS))
        return ath_refuse(ATH_E_STALE);
    *out = s;
    return 0;
}

/* athanor.net_open() */
int32_t ath_abi_net_open(void *vmctx)
{
    struct ath_task *task = ath_caller(vmctx);
    if (task != stack)
        return ath_refuse(ATH_E_DENIED);
    return ath_handle_new(task, ATH_HANDLE_NET, 0, 0, 0);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/*
 * athanor.net_events(handle, out, count): the events of up to `count` sockets, oldest first,
 * each a 32-byte record (little-endian):
 *
 *   0 u32 socket    4 u32 events    8 u8 kind (1 stream, 2 datagram, 3 listening)
 *   9 u8 0         10 u16 local port    12 u32 remote address   16 u16 remote port
 *  18 u16 0        20 u32 room in the app's receive ring       24 u32 bytes the app sent
 *  28 u32 the capacity of each ring (ATH_SOCKET_BUFFER)
 *
 * The room tells the stack how much the app has read: TCP's window can follow the ring.
 */
int32_t ath_abi_net_events(void *vmctx, uint32_t handle, uint32_t out, uint32_t count)
{
    struct ath_task *task = ath_caller(vmctx);
    int32_t error = net_handle(task, handle);
    if (error)
        return error;
    if (count == 0 || count > ATH_NET_EVENTS_MAX)
        return ath_refuse(ATH_E_INVALID);
    uint8_t *records = ath_user_memory(vmctx, out, (uint64_t)count * RECORD_SIZE);
    if (!records)
        return ath_refuse(ATH_E_FAULT);
    uint32_t n = 0;
    while (n < count && dirty_head != NO_SOCKET) {
        struct socket *s = &sockets[dirty_head];
        dirty_head = s->next_dirty;
        if (dirty_head == NO_SOCKET)
            dirty_tail = NO_SOCKET;
        s->dirty = false;
        if (s->state == FREE || !s->events)
            continue;
        uint8_t *r = records + (size_t)n++ * RECORD_SIZE;
        memset(r, 0, RECORD_SIZE);
        put32(r, number_of(s));
        put32(r + 4, s->events);
        r[8] = s->state == LISTENING ? 3 : s->state == DATAGRAM ? 2 : 1;
        put16(r + 10, s->local_port);
        put32(r + 12, s->remote_address);
        put16(r + 16, s->remote_port);
        put32(r + 20, ring_room(&s->rx));
        put32(r + 24, s->tx.count);
        put32(r + 28, ATH_SOCKET_BUFFER);
        s->events = 0;
        s->flags |= STACK_KNOWS;
    }
    return (int32_t)n;
}

/* athanor.net_push(handle, socket, ptr, len, flags): bytes for the socket's app. */
int32_t ath_abi_net_push(void *vmctx, uint32_t handle, uint32_t number, uint32_t ptr,
                         uint32_t len, uint32_t flags)
{
    struct ath_task *task = ath_caller(vmctx);
    struct socket *s;
    int32_t error = net_handle(task, handle);
    if (error || (error = stack_socket(number, &s)))
        return error;
    if (flags & ~PUSH_END)
        return ath_refuse(ATH_E_INVALID);
    const uint8_t *bytes = ath_user_memory(vmctx, ptr, len);
    if (!bytes)
        return ath_refuse(ATH_E_FAULT);
    if (s->state == LISTENING)
        return ath_refuse(ATH_E_TYPE);
    if (s->state == DATAGRAM) {
        if (len < DATAGRAM_HEADER || len - DATAGRAM_HEADER > 0xffff ||
            len > ATH_SOCKET_BUFFER || flags)
            return ath_refuse(ATH_E_INVALID);
        uint8_t header[DATAGRAM_HEADER];
        memcpy(header, bytes, DATAGRAM_HEADER);                 /* read once */
        uint32_t size = len - DATAGRAM_HEADER;
        header[6] = (uint8_t)size;
        header[7] = (uint8_t)(size >> 8);
        if (ring_room(&s->rx) < len)
            return ATH_E_AGAIN;
        ring_write(&s->rx, header, DATAGRAM_HEADER);
        ring_write(&s->rx, bytes + DATAGRAM_HEADER, size);
        wake_owner(s);
        return (int32_t)len;
    }
    if (s->flags & (APP_CLOSED | APP_SHUT_READ))
        return (int32_t)len;                /* nobody will read: taken and dropped */
    uint32_t n = ATH_MIN(len, ring_room(&s->rx));
    ring_write(&s->rx, bytes, n);
    if ((flags & PUSH_END) && n == len)
        s->flags |= PEER_CLOSED;
    if (n || (flags & PUSH_END))
        wake_owner(s);
    return (int32_t)n;
}

/* athanor.net_pull(handle, socket, out, capacity): bytes the socket's app sent. */
int32_t ath_abi_net_pull(void *vmctx, uint32_t handle, uint32_t number, uint32_t out,
                         uint32_t capacity)
{
    struct ath_task *task = ath_caller(vmctx);
    struct socket *s;
    int32_t error = net_handle(task, handle);
    if (error || (error = stack_socket(number, &s)))
        return error;
    uint8_t *buffer = ath_user_memory(vmctx, out, capacity);
    if (!buffer)
        return ath_refuse(ATH_E_FAULT);
    if (s->state == LISTENING)
        return ath_refuse(ATH_E_TYPE);
    if (s->state == DATAGRAM) {
        if (!s->tx.count)
            return 0;
        uint32_t size = DATAGRAM_HEADER + datagram_length(&s->tx);
        if (size > capacity)
            return ATH_E_SMALL;
        ring_read(&s->tx, buffer, size);
        wake_owner(s);
        return (int32_t)size;
    }
    uint32_t n = ATH_MIN(capacity, s->tx.count);
    ring_read(&s->tx, buffer, n);
    if (n)
        wake_owner(s);
    return (int32_t)n;
}

/*
 * athanor.net_control(handle, socket, op, address, port):
 *   1 ACCEPTED   socket is a listener; a connection from address:port came: a new socket
 *                (its number), or FULL when its app has ATH_SOCKET_BACKLOG waiting or no
 *                socket is free (the stack refuses the connection)
 *   2 CONNECTED  the connection asked for stands; port: its local port
 *   3 ERROR      address is a WASI errno (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EADDRINUSE...)
 *                that the app's calls report from now; the stream has ended
 *   4 RELEASE    the stack keeps nothing for it any more (after a close, an error, an abort)
 */
int32_t ath_abi_net_control(void *vmctx, uint32_t handle, uint32_t number, uint32_t op,
                            uint32_t address, uint32_t port)
{
    struct ath_task *task = ath_caller(vmctx);
    struct socket *s;
    int32_t error = net_handle(task, handle);
    if (error || (error = stack_socket(number, &s)))
        return error;
    switch (op) {
    case CONTROL_ACCEPTED: {
        if (s->state != LISTENING)
            return ath_refuse(ATH_E_TYPE);
        if (port == 0 || port > 0xffff)
            return ath_refuse(ATH_E_INVALID);
        if ((s->flags & APP_CLOSED) || s->pending >= ATH_SOCKET_BACKLOG)
            return ATH_E_FULL;
        struct socket *c = socket_new(STREAM, s->owner);
        if (!c)
            return ATH_E_FULL;
        c->flags = CONNECTED | PENDING | STACK_KNOWS;
        c->listener = number & 0xffff;
        c->sequence = accept_sequence++;
        c->local_port = s->local_port;
        c->remote_address = address;
        c->remote_port = (uint16_t)port;
        s->pending++;
        wake_owner(s);
        return (int32_t)number_of(c);
    }
    case CONTROL_CONNECTED:
        if (s->state != STREAM || !(s->flags & CONNECTING) || port > 0xffff)
            return ath_refuse(ATH_E_INVALID);
        s->flags = (s->flags & ~CONNECTING) | CONNECTED;
        s->local_port = (uint16_t)port;
        if (s->tx.count)
            post(s, EVENT_SEND);
        wake_owner(s);
        return 0;
    case CONTROL_ERROR:
        if (address == 0 || address > 0xffff)
            return ath_refuse(ATH_E_INVALID);
        s->error = (int32_t)address;
        s->flags = (s->flags & ~CONNECTING) | PEER_CLOSED;
        wake_owner(s);
        return 0;
    case CONTROL_RELEASE:
        s->flags = (s->flags & ~(STACK_KNOWS | CONNECTING)) | STACK_GONE | PEER_CLOSED;
        s->events = 0;
        if ((s->flags & APP_CLOSED) || (s->flags & PENDING))
            socket_free(s);
        else
            wake_owner(s);
        prune_dirty();
        return 0;
    default:
        return ath_refuse(ATH_E_INVALID);
    }
}
