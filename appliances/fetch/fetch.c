/*
 * fetch: an HTTP client appliance, the outbound path of Azoth's sockets. It resolves a name
 * with one DNS query (UDP, a `udp` grant naming the server), connects to the address it got
 * (TCP, a `tcp-connect` grant naming it), sends GET and reads the response to its end.
 *
 * Ordinary C against wasi-libc, plus Azoth's socket extension for what WASI preview1 lacks
 * (appliances/include/azoth_socket.h: sock_open, sock_connect, sock_send_to, sock_recv_from,
 * in WasmEdge's shape); wasi-libc's own send, recv, poll and close work on what they open.
 *
 *   fetch [--dns A.B.C.D[:PORT]] [--tries N] [--try-forbidden A.B.C.D:PORT] http://HOST[:PORT]/PATH
 *
 * HOST is a name (asked of --dns, default 10.0.2.3, QEMU's user networking's server) or an
 * address. --try-forbidden first tries to connect where no grant allows, and says what the
 * kernel answered. Prints the status line, the body's length and its FNV-1a 64 hash; exits 0
 * for a 200, else 1.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../include/azoth_socket.h"

#define RESPONSE_MAX (1u << 20)

static bool parse_address(const char *text, uint8_t out[4], unsigned *port)
{
    unsigned a, b, c, d, p = 0;
    int n = 0;
    if (sscanf(text, "%u.%u.%u.%u%n", &a, &b, &c, &d, &n) != 4 || a > 255 || b > 255 ||
        c > 255 || d > 255)
        return false;
    if (text[n] == ':') {
        if (sscanf(text + n + 1, "%u", &p) != 1 || p == 0 || p > 65535)
            return false;
    } else if (text[n]) {
        return false;
    }
    out[0] = (uint8_t)a, out[1] = (uint8_t)b, out[2] = (uint8_t)c, out[3] = (uint8_t)d;
    if (port && p)
        *port = p;
    return true;
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* A DNS query for NAME's A record (RFC 1035): header, one question. */
static size_t dns_query(const char *name, uint16_t id, uint8_t *out, size_t capacity)
{
    size_t at = 12;
    memset(out, 0, 12);
    out[0] = (uint8_t)(id >> 8), out[1] = (uint8_t)id;
    out[2] = 0x01;                      /* recursion desired */
    out[5] = 1;                         /* one question */
    for (const char *label = name; *label;) {
        size_t length = strcspn(label, ".");
        if (length == 0 || length > 63 || at + length + 6 > capacity)
            return 0;
        out[at++] = (uint8_t)length;
        memcpy(out + at, label, length);
        at += length;
        label += length + (label[length] == '.');
    }
    out[at++] = 0;
    out[at++] = 0, out[at++] = 1;       /* type A */
    out[at++] = 0, out[at++] = 1;       /* class IN */
    return at;
}

/* Skips a (possibly compressed) name; the offset after it, or 0 when malformed. */
static size_t skip_name(const uint8_t *m, size_t length, size_t at)
{
    while (at < length) {
        if ((m[at] & 0xc0) == 0xc0)
            return at + 2 <= length ? at + 2 : 0;
        if (m[at] == 0)
            return at + 1;
        at += 1u + m[at];
    }
    return 0;
}

/* The first A record of an answer to query ID; false when there is none. */
static bool dns_answer(const uint8_t *m, size_t length, uint16_t id, uint8_t address[4])
{
    if (length < 12 || (m[0] << 8 | m[1]) != id || !(m[2] & 0x80) || (m[3] & 0x0f))
        return false;
    unsigned questions = m[4] << 8 | m[5], answers = m[6] << 8 | m[7];
    size_t at = 12;
    for (unsigned i = 0; i < questions; i++) {
        if (!(at = skip_name(m, length, at)) || at + 4 > length)
            return false;
        at += 4;
    }
    for (unsigned i = 0; i < answers; i++) {
        if (!(at = skip_name(m, length, at)) || at + 10 > length)
            return false;
        unsigned type = m[at] << 8 | m[at + 1], rdlength = m[at + 8] << 8 | m[at + 9];
        at += 10;
        if (at + rdlength > length)
            return false;
        if (type == 1 && rdlength == 4) {
            memcpy(address, m + at, 4);
            return true;
        }
        at += rdlength;
    }
    return false;
}

static bool resolve(const char *name, const uint8_t server[4], unsigned port, int tries,
                    uint8_t address[4])
{
    int32_t fd;
    int32_t e = azoth_sock_open(AZOTH_AF_INET, AZOTH_SOCK_DGRAM, &fd);
    if (e) {
        printf("fetch: sock_open (datagram): %s\n", strerror(e));
        return false;
    }
    uint8_t query[512], answer[512];
    uint16_t id = (uint16_t)(0x4a00 | (time(NULL) & 0xff));
    size_t length = dns_query(name, id, query, sizeof query);
    if (!length) {
        printf("fetch: %s is not a name DNS can ask for\n", name);
        return false;
    }
    azoth_address to = { (uint8_t *)server, 4 };
    bool found = false;
    for (int attempt = 0; attempt < tries && !found; attempt++) {
        azoth_ciovec out = { query, (uint32_t)length };
        uint32_t sent;
        if ((e = azoth_sock_send_to(fd, &out, 1, &to, (int32_t)port, 0, &sent))) {
            printf("fetch: sock_send_to %u.%u.%u.%u:%u: %s\n", server[0], server[1], server[2],
                   server[3], port, strerror(e));
            break;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 1000) != 1)
            continue;                   /* lost: ask again */
        uint8_t from_bytes[4];
        azoth_address from = { from_bytes, 4 };
        azoth_iovec in = { answer, sizeof answer };
        uint32_t received, from_port;
        uint16_t flags;
        if ((e = azoth_sock_recv_from(fd, &in, 1, &from, &from_port, 0, &received, &flags))) {
            printf("fetch: sock_recv_from: %s\n", strerror(e));
            break;
        }
        found = !memcmp(from_bytes, server, 4) && from_port == port &&
                dns_answer(answer, received, id, address);
    }
    close(fd);
    return found;
}

static int32_t connect_to(const uint8_t address[4], unsigned port)
{
    int32_t fd;
    int32_t e = azoth_sock_open(AZOTH_AF_INET, AZOTH_SOCK_STREAM, &fd);
    if (e) {
        errno = e;
        return -1;
    }
    azoth_address to = { (uint8_t *)address, 4 };
    if ((e = azoth_sock_connect(fd, &to, (int32_t)port))) {
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    uint8_t server[4] = { 10, 0, 2, 3 }, forbidden[4], address[4];
    unsigned server_port = 53, forbidden_port = 0, port = 80;
    int tries = 3;
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dns") && i + 1 < argc) {
            if (!parse_address(argv[++i], server, &server_port))
                return printf("fetch: --dns: expected A.B.C.D[:PORT]\n"), 2;
        } else if (!strcmp(argv[i], "--tries") && i + 1 < argc) {
            tries = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--try-forbidden") && i + 1 < argc) {
            if (!parse_address(argv[++i], forbidden, &forbidden_port) || !forbidden_port)
                return printf("fetch: --try-forbidden: expected A.B.C.D:PORT\n"), 2;
        } else if (!url && !strncmp(argv[i], "http://", 7)) {
            url = argv[i];
        } else {
            return printf("fetch: usage: fetch [--dns A.B.C.D[:PORT]] [--tries N] "
                          "[--try-forbidden A.B.C.D:PORT] http://HOST[:PORT]/PATH\n"), 2;
        }
    }
    if (!url)
        return printf("fetch: no URL\n"), 2;
    char host[256];
    const char *rest = url + 7, *path = strchr(rest, '/');
    size_t host_length = path ? (size_t)(path - rest) : strlen(rest);
    if (host_length == 0 || host_length >= sizeof host)
        return printf("fetch: bad URL %s\n", url), 2;
    memcpy(host, rest, host_length);
    host[host_length] = 0;
    path = path ? path : "/";
    char *colon = strchr(host, ':');
    if (colon) {
        *colon = 0;
        port = (unsigned)atoi(colon + 1);
    }

    if (forbidden_port) {
        int32_t fd = connect_to(forbidden, forbidden_port);
        printf("fetch: connect %u.%u.%u.%u:%u: %s\n", forbidden[0], forbidden[1], forbidden[2],
               forbidden[3], forbidden_port, fd < 0 ? strerror(errno) : "connected");
        if (fd >= 0)
            close(fd);
    }

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (!parse_address(host, address, NULL)) {
        if (!resolve(host, server, server_port, tries, address)) {
            printf("fetch: cannot resolve %s\n", host);
            return 1;
        }
        printf("fetch: %s is %u.%u.%u.%u (DNS, %ld ms)\n", host, address[0], address[1],
               address[2], address[3], elapsed_ms(&start));
    }
    int32_t fd = connect_to(address, port);
    if (fd < 0) {
        printf("fetch: connect %u.%u.%u.%u:%u: %s\n", address[0], address[1], address[2],
               address[3], port, strerror(errno));
        return 1;
    }
    char request[1024];
    int length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n"
                          "User-Agent: azoth-fetch\r\nConnection: close\r\n\r\n", path, host);
    for (int sent = 0; sent < length;) {
        ssize_t n = send(fd, request + sent, (size_t)(length - sent), 0);
        if (n <= 0) {
            printf("fetch: send: %s\n", strerror(errno));
            return 1;
        }
        sent += (int)n;
    }
    static char response[RESPONSE_MAX];
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(fd, response + total, RESPONSE_MAX - total, 0);
        if (n < 0) {
            printf("fetch: recv: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0 || (total += (size_t)n) == RESPONSE_MAX)
            break;
    }
    close(fd);
    char *body = NULL;
    for (size_t i = 0; i + 4 <= total && !body; i++)
        if (!memcmp(response + i, "\r\n\r\n", 4))
            body = response + i + 4;
    if (!body) {
        printf("fetch: no HTTP response (%zu bytes)\n", total);
        return 1;
    }
    size_t body_length = total - (size_t)(body - response);
    uint64_t hash = 0xcbf29ce484222325u;
    for (size_t i = 0; i < body_length; i++)
        hash = (hash ^ (uint8_t)body[i]) * 0x100000001b3u;
    char *end = strstr(response, "\r\n");
    *end = 0;
    printf("fetch: %s, %zu bytes, fnv1a64 %016llx (%ld ms)\n", response, body_length,
           (unsigned long long)hash, elapsed_ms(&start));
    return strstr(response, " 200 ") ? 0 : 1;
}
