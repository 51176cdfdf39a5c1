/*
 * Freestanding helpers: the few libc routines the core needs. memcpy and memset go to the
 * compiler's builtins, which call the environment's memcpy/memset (libc when hosted; the kernel
 * brings its own): byte loops cost a tenth of the compile time on large modules.
 */
#include "alk_internal.h"

void *alk_memcpy(void *dst, const void *src, size_t n)
{
    return __builtin_memcpy(dst, src, n);
}

void *alk_memset(void *dst, int value, size_t n)
{
    return __builtin_memset(dst, value, n);
}

int alk_memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}

size_t alk_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* ---- alk_vsnprintf: %s %d %u %x %c %% with l/ll, and %.*s ---------------------------------- */

typedef struct output {
    char *buf;
    size_t size;   /* capacity including the terminator */
    size_t length; /* characters produced so far, written or not */
} output;

static void put(output *out, char c)
{
    if (out->length + 1 < out->size)
        out->buf[out->length] = c;
    out->length++;
}

static void put_string(output *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(out, s[i]);
}

static void put_unsigned(output *out, unsigned long long value, unsigned base)
{
    char digits[24];
    size_t n = 0;
    do {
        unsigned d = (unsigned)(value % base);
        digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        value /= base;
    } while (value);
    while (n)
        put(out, digits[--n]);
}

int alk_vsnprintf(char *buf, size_t size, const char *format, va_list args)
{
    output out = {buf, size, 0};
    for (const char *p = format; *p; p++) {
        if (*p != '%') {
            put(&out, *p);
            continue;
        }
        p++;
        if (p[0] == '.' && p[1] == '*' && p[2] == 's') {
            int n = va_arg(args, int);
            const char *s = va_arg(args, const char *);
            put_string(&out, s, n > 0 ? (size_t)n : 0);
            p += 2;
            continue;
        }
        int longs = 0;
        while (*p == 'l' && longs < 2) {
            longs++;
            p++;
        }
        switch (*p) {
        case 'd': {
            long long v = longs == 2 ? va_arg(args, long long)
                        : longs == 1 ? va_arg(args, long) : va_arg(args, int);
            unsigned long long magnitude = (unsigned long long)v;
            if (v < 0) {
                put(&out, '-');
                magnitude = 0 - magnitude;
            }
            put_unsigned(&out, magnitude, 10);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = longs == 2 ? va_arg(args, unsigned long long)
                                 : longs == 1 ? va_arg(args, unsigned long)
                                              : va_arg(args, unsigned);
            put_unsigned(&out, v, *p == 'x' ? 16 : 10);
            break;
        }
        case 's': {
            const char *s = va_arg(args, const char *);
            put_string(&out, s ? s : "(null)", alk_strlen(s ? s : "(null)"));
            break;
        }
        case 'c':
            put(&out, (char)va_arg(args, int));
            break;
        case '%':
            put(&out, '%');
            break;
        default: /* unsupported: show it rather than guess */
            put(&out, '%');
            if (!*p)
                p--;
            else
                put(&out, *p);
            break;
        }
    }
    if (size)
        buf[out.length < size ? out.length : size - 1] = '\0';
    return out.length > 0x7fffffff ? 0x7fffffff : (int)out.length;
}

int alk_snprintf(char *buf, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = alk_vsnprintf(buf, size, format, args);
    va_end(args);
    return n;
}
