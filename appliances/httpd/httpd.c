/*
 * httpd: a small HTTP/1.1 static file server, written as an ordinary C program. One process,
 * many connections through poll(); keep-alive (HTTP/1.1 by default, HTTP/1.0 when asked) and
 * pipelined requests; GET and HEAD; 404, 405, 400 and 414; a content type from each file's
 * extension. The files are the appliance's [[file]]s under --root (default /www); "/" and any
 * path ending in "/" serve its index.html.
 *
 * On Azoth it is an app granted tcp-listen:80 and files: its listening socket is descriptor 4
 * (the first socket it holds), made by the kernel, and its connections come through WASI's
 * sock_accept, sock_recv, sock_send and poll_oneoff (wasi-libc's accept, recv, send, poll). The
 * same source builds natively (bench/linux_guest: the Linux guest it is measured against),
 * where it makes its own listening socket on --port.
 *
 *   httpd [--root DIR] [--port N] [--quiet]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#ifndef __wasi__
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#endif

#define MAX_CONNECTIONS 200
#define REQUEST_MAX 8192
#define HEADER_MAX 512
#define CACHE_ENTRIES 128
#define CACHE_FILE_MAX (4u << 20)          /* larger files are read each time */
#define PATH_MAX_BYTES 1024

struct file {
    char path[PATH_MAX_BYTES + 256];       /* as handle_request's full path: --root, then it */
    char *data;
    size_t size;
    bool missing;
};

struct connection {
    int fd;
    char in[REQUEST_MAX];
    size_t in_length;
    char header[HEADER_MAX];
    size_t header_length, header_sent;
    const char *body;                      /* the response's body (the cache's bytes) */
    size_t body_length, body_sent;
    char *owned;                           /* a body read for this response only */
    bool close_after;                      /* close once the response is out */
    bool http10;                           /* HTTP/1.0: keep-alive is said, when kept */
};

static struct connection connections[MAX_CONNECTIONS];
static struct pollfd polls[MAX_CONNECTIONS + 1];
static struct file cache[CACHE_ENTRIES];
static unsigned cache_count;
static const char *root = "/www";
static bool quiet;
static unsigned long requests, reported;

static const struct { const char *extension, *type; } TYPES[] = {
    { "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
    { "css", "text/css" }, { "js", "text/javascript" }, { "json", "application/json" },
    { "txt", "text/plain; charset=utf-8" }, { "xml", "application/xml" },
    { "svg", "image/svg+xml" }, { "png", "image/png" }, { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" }, { "gif", "image/gif" }, { "ico", "image/x-icon" },
    { "webp", "image/webp" }, { "wasm", "application/wasm" }, { "pdf", "application/pdf" },
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
            if (!strcasecmp(dot + 1, TYPES[i].extension))
                return TYPES[i].type;
    return "application/octet-stream";
}

/* The whole file, or NULL (missing, a directory, unreadable); *owned when not cached. */
static const char *read_file(const char *path, size_t *size, char **owned)
{
    *owned = NULL;
    for (unsigned i = 0; i < cache_count; i++) {
        if (!strcmp(cache[i].path, path)) {
            *size = cache[i].size;
            return cache[i].missing ? NULL : cache[i].data;
        }
    }
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *data = NULL;
    bool ok = f && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    if (ok) {
        data = malloc(st.st_size ? (size_t)st.st_size : 1);
        ok = data && fread(data, 1, (size_t)st.st_size, f) == (size_t)st.st_size;
        *size = (size_t)st.st_size;
    }
    if (f)
        fclose(f);
    if (!ok) {
        free(data);
        data = NULL;
    }
    if (cache_count < CACHE_ENTRIES && (!ok || *size <= CACHE_FILE_MAX)) {
        struct file *c = &cache[cache_count++];
        snprintf(c->path, sizeof c->path, "%s", path);
        c->data = data;
        c->size = ok ? *size : 0;
        c->missing = !ok;
        return data;
    }
    *owned = data;
    return data;
}

/* %XX decoding; false for a malformed escape or a NUL. */
static bool decode(const char *in, size_t length, char *out, size_t capacity)
{
    size_t n = 0;
    for (size_t i = 0; i < length; i++) {
        char c = in[i];
        if (c == '?' || c == '#')
            break;
        if (c == '%') {
            unsigned value;
            if (i + 2 >= length)
                return false;
            if (sscanf(in + i + 1, "%2x", &value) != 1 || value == 0)
                return false;
            c = (char)value;
            i += 2;
        }
        if (n + 1 >= capacity)
            return false;
        out[n++] = c;
    }
    out[n] = 0;
    return true;
}

static void respond(struct connection *c, int status, const char *reason, const char *type,
                    const char *body, size_t length, bool head, char *owned)
{
    c->header_length = (size_t)snprintf(c->header, sizeof c->header,
        "HTTP/1.1 %d %s\r\nServer: azoth-httpd\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
        "%s\r\n", status, reason, type, length, c->close_after ? "Connection: close\r\n" :
        c->http10 ? "Connection: keep-alive\r\n" : "");
    c->header_sent = 0;
    c->body = head ? NULL : body;
    c->body_length = head ? 0 : length;
    c->body_sent = 0;
    if (head)
        free(owned);
    else
        c->owned = owned;
}

static void error_page(struct connection *c, int status, const char *reason, bool head)
{
    static char text[128];
    int n = snprintf(text, sizeof text, "%d %s\n", status, reason);
    respond(c, status, reason, "text/plain; charset=utf-8", text, (size_t)n, head, NULL);
}

static bool has_token(const char *headers, size_t length, const char *name, const char *token)
{
    size_t name_length = strlen(name);
    for (const char *line = headers; line < headers + length;) {
        const char *end = memchr(line, '\n', (size_t)(headers + length - line));
        if (!end)
            break;
        if ((size_t)(end - line) > name_length && !strncasecmp(line, name, name_length) &&
            line[name_length] == ':') {
            char value[128];
            size_t n = (size_t)(end - line) - name_length - 1;
            if (n >= sizeof value)
                n = sizeof value - 1;
            memcpy(value, line + name_length + 1, n);
            value[n] = 0;
            for (char *p = value; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            if (strstr(value, token))
                return true;
        }
        line = end + 1;
    }
    return false;
}

/* One complete request at the start of c->in ([0, length)): its response is made. */
static void handle_request(struct connection *c, size_t length)
{
    requests++;
    const char *line_end = memchr(c->in, '\n', length);
    char method[16], target[PATH_MAX_BYTES], version[16];
    char format[32];
    snprintf(format, sizeof format, "%%15s %%%ds %%15s", PATH_MAX_BYTES - 1);
    char line[PATH_MAX_BYTES + 64];
    size_t line_length = line_end ? (size_t)(line_end - c->in) : 0;
    if (!line_end || line_length >= sizeof line) {
        c->close_after = true;
        error_page(c, 414, "URI Too Long", false);
        return;
    }
    memcpy(line, c->in, line_length);
    line[line_length] = 0;
    if (sscanf(line, format, method, target, version) != 3 || strncmp(version, "HTTP/1.", 7)) {
        c->close_after = true;
        error_page(c, 400, "Bad Request", false);
        return;
    }
    const char *headers = line_end + 1;
    size_t headers_length = length - (size_t)(headers - c->in);
    bool http10 = !strcmp(version, "HTTP/1.0");
    c->http10 = http10;
    c->close_after = http10 ? !has_token(headers, headers_length, "connection", "keep-alive")
                            : has_token(headers, headers_length, "connection", "close");
    bool head = !strcmp(method, "HEAD");
    if (!head && strcmp(method, "GET")) {
        error_page(c, 405, "Method Not Allowed", false);
        return;
    }
    char path[PATH_MAX_BYTES], full[PATH_MAX_BYTES + 256];
    if (target[0] != '/' || !decode(target, strlen(target), path, sizeof path) ||
        strstr(path, "/../") || !strcmp(path + (strlen(path) >= 3 ? strlen(path) - 3 : 0), "/..")) {
        error_page(c, 400, "Bad Request", head);
        return;
    }
    snprintf(full, sizeof full, "%s%s%s", root, path,
             path[strlen(path) - 1] == '/' ? "index.html" : "");
    size_t size = 0;
    char *owned;
    const char *data = read_file(full, &size, &owned);
    if (!data) {
        error_page(c, 404, "Not Found", head);
        return;
    }
    respond(c, 200, "OK", content_type(full), data, size, head, owned);
}

static void drop(struct connection *c)
{
    close(c->fd);
    free(c->owned);
    c->owned = NULL;
    c->fd = -1;
}

/* Sends what it can of the response; false when the connection is gone. */
static bool flush_response(struct connection *c)
{
    while (c->header_sent < c->header_length || c->body_sent < c->body_length) {
        ssize_t n;
        if (c->header_sent < c->header_length)
            n = send(c->fd, c->header + c->header_sent, c->header_length - c->header_sent, 0);
        else
            n = send(c->fd, c->body + c->body_sent, c->body_length - c->body_sent, 0);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        if (c->header_sent < c->header_length)
            c->header_sent += (size_t)n;
        else
            c->body_sent += (size_t)n;
    }
    free(c->owned);
    c->owned = NULL;
    c->header_length = c->header_sent = c->body_length = c->body_sent = 0;
    return !c->close_after;
}

static bool response_pending(const struct connection *c)
{
    return c->header_sent < c->header_length || c->body_sent < c->body_length;
}

/* Requests waiting in the buffer are answered one at a time, in order (pipelining). */
static bool serve(struct connection *c)
{
    while (!response_pending(c)) {
        char *end = NULL;
        for (size_t i = 3; i < c->in_length && !end; i++)
            if (c->in[i] == '\n' && c->in[i - 1] == '\r' && c->in[i - 2] == '\n' &&
                c->in[i - 3] == '\r')
                end = c->in + i + 1;
        if (!end) {
            if (c->in_length == sizeof c->in) {
                c->close_after = true;
                error_page(c, 431, "Request Header Fields Too Large", false);
                c->in_length = 0;
                return flush_response(c);
            }
            return true;
        }
        size_t length = (size_t)(end - c->in);
        handle_request(c, length);
        memmove(c->in, end, c->in_length - length);
        c->in_length -= length;
        if (!flush_response(c))
            return false;
    }
    return true;
}

static bool readable(struct connection *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_length, sizeof c->in - c->in_length, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return false;
    if (n > 0)
        c->in_length += (size_t)n;
    return serve(c);
}

static int listening_socket(int port)
{
#ifdef __wasi__
    (void)port;
    for (int fd = 3; fd < 64; fd++) {       /* the first socket the kernel gave us */
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
            return fd;
    }
    return -1;
#else
    int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) || listen(fd, 128))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return fd;
#endif
}

int main(int argc, char **argv)
{
    int port = 80;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quiet"))
            quiet = true;
    }
    int listener = listening_socket(port);
    if (listener < 0) {
        printf("httpd: no listening socket (grant tcp-listen:80)\n");
        return 1;
    }
    fcntl(listener, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        connections[i].fd = -1;
    printf("httpd: serving %s on port %d\n", root, port);
    fflush(stdout);
    for (;;) {
        int count = 0, which[MAX_CONNECTIONS];
        polls[count++] = (struct pollfd){ .fd = listener, .events = POLLIN };
        for (int i = 0; i < MAX_CONNECTIONS; i++) {
            if (connections[i].fd < 0)
                continue;
            which[count - 1] = i;
            polls[count++] = (struct pollfd){ .fd = connections[i].fd,
                .events = response_pending(&connections[i]) ? POLLOUT : POLLIN };
        }
        if (poll(polls, (nfds_t)count, -1) < 0)
            continue;
        for (int k = 1; k < count; k++) {
            struct connection *c = &connections[which[k - 1]];
            if (!polls[k].revents)
                continue;
            bool alive = response_pending(c) ? flush_response(c) && serve(c) : readable(c);
            if (!alive || (polls[k].revents & (POLLERR | POLLNVAL)))
                drop(c);
        }
        if (polls[0].revents & POLLIN) {
            for (;;) {
                int fd = accept(listener, NULL, NULL);
                if (fd < 0)
                    break;
                int slot = -1;
                for (int i = 0; i < MAX_CONNECTIONS && slot < 0; i++)
                    if (connections[i].fd < 0)
                        slot = i;
                if (slot < 0) {
                    close(fd);
                    continue;
                }
                fcntl(fd, F_SETFL, O_NONBLOCK);
#ifndef __wasi__
                int on = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
#endif
                connections[slot] = (struct connection){ .fd = fd };
            }
        }
        if (!quiet && requests >= reported + 10000) {
            reported = requests - requests % 10000;
            printf("httpd: %lu requests\n", reported);
            fflush(stdout);
        }
    }
}
