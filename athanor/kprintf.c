/*
 * Formatted output: ath_kprintf to the console, ath_snprintf to a buffer,
 * both through one formatter writing to a sink. No locking: one CPU,
 * interrupts off.
 *
 * Conversions: %d %i %u %x %X %p %c %s %%; length l, ll, z; flags '-'
 * (left-justify) and '0' (zero-pad); width as digits or '*'; precision as
 * .digits or .* (minimum digits for integers, maximum bytes for %s).
 */
#include "kernel.h"

struct sink {
    char *buf;          /* NULL: the console */
    size_t size;
    size_t length;      /* bytes produced so far, stored or not */
};

/* The last byte the console got: a kernel line ("[athanor] ...") that would continue a line a
 * module left unfinished starts a line of its own, so the host tells the two apart. */
static char console_last = '\n';

static void console_put(char c)
{
    console_last = c;
    ath_arch_console_putc(c);
}

static void emit(struct sink *s, char c)
{
    if (!s->buf)
        console_put(c);
    else if (s->length + 1 < s->size)
        s->buf[s->length] = c;
    s->length++;
}

static void emit_repeat(struct sink *s, char c, int n)
{
    for (; n > 0; n--)
        emit(s, c);
}

struct spec {
    bool left, zero;
    int width;
    int precision;      /* -1: none */
};

/* Writes body (n bytes) with an optional sign/prefix, padded per spec. */
static void emit_field(struct sink *s, const struct spec *sp, const char *prefix, const char *body, int n,
                       int min_digits)
{
    int prefix_len = (int)strlen(prefix);
    int zeros = min_digits > n ? min_digits - n : 0;
    int total = prefix_len + zeros + n;
    int pad = sp->width > total ? sp->width - total : 0;
    if (sp->zero && !sp->left && sp->precision < 0) {
        zeros += pad;
        pad = 0;
    }
    if (!sp->left)
        emit_repeat(s, ' ', pad);
    for (int i = 0; i < prefix_len; i++)
        emit(s, prefix[i]);
    emit_repeat(s, '0', zeros);
    for (int i = 0; i < n; i++)
        emit(s, body[i]);
    if (sp->left)
        emit_repeat(s, ' ', pad);
}

static void emit_number(struct sink *s, const struct spec *sp, uint64_t value, unsigned base, bool upper,
                        const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = digits[value % base];
        value /= base;
    } while (value);
    int min_digits = sp->precision >= 0 ? sp->precision : 0;
    emit_field(s, sp, prefix, tmp + sizeof tmp - n, n, min_digits);
}

static int parse_int(const char **fmt)
{
    int v = 0;
    while (**fmt >= '0' && **fmt <= '9')
        v = v * 10 + (*(*fmt)++ - '0');
    return v;
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(s, *fmt);
            continue;
        }
        fmt++;
        struct spec sp = { false, false, 0, -1 };
        for (;; fmt++) {
            if (*fmt == '-')
                sp.left = true;
            else if (*fmt == '0')
                sp.zero = true;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = true;
                sp.width = -sp.width;
            }
            fmt++;
        } else {
            sp.width = parse_int(&fmt);
        }
        if (*fmt == '.') {
            fmt++;
            if (*fmt == '*') {
                sp.precision = va_arg(ap, int);
                fmt++;
            } else {
                sp.precision = parse_int(&fmt);
            }
            if (sp.precision < 0)
                sp.precision = -1;
        }
        int longs = 0;
        bool size_t_arg = false;
        while (*fmt == 'l') {
            longs++;
            fmt++;
        }
        if (*fmt == 'z') {
            size_t_arg = true;
            fmt++;
        }

        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = size_t_arg ? (int64_t)va_arg(ap, size_t)
                      : longs ? (int64_t)va_arg(ap, long) : (int64_t)va_arg(ap, int);
            uint64_t magnitude = v < 0 ? -(uint64_t)v : (uint64_t)v;
            emit_number(s, &sp, magnitude, 10, false, v < 0 ? "-" : "");
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = size_t_arg ? va_arg(ap, size_t)
                       : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            emit_number(s, &sp, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', "");
            break;
        }
        case 'p': {
            uint64_t v = (uintptr_t)va_arg(ap, void *);
            struct spec ps = sp;
            if (ps.precision < 0)
                ps.precision = 16;
            emit_number(s, &ps, v, 16, false, "0x");
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            emit_field(s, &sp, "", &c, 1, 0);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            size_t n = sp.precision >= 0 ? strnlen(str, (size_t)sp.precision) : strlen(str);
            emit_field(s, &sp, "", str, (int)n, 0);
            break;
        }
        case '%':
            emit(s, '%');
            break;
        case '\0':
            return;
        default:        /* unknown conversion: show it as written */
            emit(s, '%');
            emit(s, *fmt);
            break;
        }
    }
}

void ath_vkprintf(const char *fmt, va_list ap)
{
    struct sink s = { NULL, 0, 0 };
    if (fmt[0] == '[' && console_last != '\n')
        console_put('\n');
    format(&s, fmt, ap);
}

void ath_kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ath_vkprintf(fmt, ap);
    va_end(ap);
}

int ath_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    char dummy;
    struct sink s = { size ? buf : &dummy, size, 0 };
    format(&s, fmt, ap);
    if (size)
        buf[ATH_MIN(s.length, size - 1)] = '\0';
    return (int)s.length;
}

int ath_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = ath_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void ath_console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        console_put(s[i]);
}
