/*
 * The byte reader: LEB128 integers, fixed-width floats, byte vectors and UTF-8 names. Every read
 * checks the cursor against the end first, and a failed read leaves the cursor where it was.
 *
 * LEB128 (binary/values.rst): an N-bit integer takes at most ceil(N/7) bytes. In that last
 * permitted byte the bits beyond N must be zero (unsigned) or copies of bit N-1 (signed):
 *
 *     u32, 5th byte:  0 0 0 0 d d d d      s32, 5th byte:  s s s s d d d   (d: data, s: sign)
 *                     ^ continuation bit must be clear, else "integer representation too long"
 */
#include "alk_internal.h"

/* Reads an LEB128 of `bits` (32, 33 or 64) bits; signed values come back sign-extended. */
static int read_leb(alk_reader *reader, unsigned bits, bool is_signed, uint64_t *value)
{
    const uint8_t *p = reader->cursor;
    const unsigned max_bytes = (bits + 6) / 7;
    uint64_t result = 0;
    unsigned shift = 0;
    for (unsigned i = 0;; i++) {
        if (p >= reader->end)
            return ALK_E_UNEXPECTED_END_OF_SECTION;
        uint8_t byte = *p++;
        if (i == max_bytes - 1) {
            if (byte & 0x80)
                return ALK_E_INTEGER_TOO_LONG;
            unsigned used = bits - shift; /* data bits left for this byte: 1..7 */
            if (is_signed) {
                uint8_t mask = (uint8_t)(0x7f & ~((1u << (used - 1)) - 1));
                if ((byte & mask) != 0 && (byte & mask) != mask)
                    return ALK_E_INTEGER_TOO_LARGE;
            } else if (used < 7 && (byte >> used) != 0) {
                return ALK_E_INTEGER_TOO_LARGE;
            }
            result |= (uint64_t)(byte & 0x7f) << shift;
            shift += 7;
            break;
        }
        result |= (uint64_t)(byte & 0x7f) << shift;
        shift += 7;
        if (!(byte & 0x80))
            break;
    }
    if (is_signed && shift < 64 && ((result >> (shift - 1)) & 1))
        result |= ~(uint64_t)0 << shift;
    reader->cursor = p;
    *value = result;
    return ALK_OK;
}

int alk_read_u8(alk_reader *reader, uint8_t *value)
{
    if (reader->cursor >= reader->end)
        return ALK_E_UNEXPECTED_END_OF_SECTION;
    *value = *reader->cursor++;
    return ALK_OK;
}

/* With five bytes in reach the common encodings need no per-byte bounds check. */
int alk_read_u32_slow(alk_reader *reader, uint32_t *value)
{
    const uint8_t *p = reader->cursor;
    if (reader->end - p >= 5) {
        uint32_t result = p[0] & 0x7fu;
        for (int i = 1; i < 4; i++) {
            if (!(p[i - 1] & 0x80)) {
                reader->cursor = p + i;
                *value = result;
                return ALK_OK;
            }
            result |= (uint32_t)(p[i] & 0x7f) << (7 * i);
        }
        if (!(p[3] & 0x80)) {
            reader->cursor = p + 4;
            *value = result;
            return ALK_OK;
        }
        if (p[4] & 0x80)
            return ALK_E_INTEGER_TOO_LONG;
        if (p[4] & 0x70)
            return ALK_E_INTEGER_TOO_LARGE;
        reader->cursor = p + 5;
        *value = result | (uint32_t)p[4] << 28;
        return ALK_OK;
    }
    uint64_t v;
    int code = read_leb(reader, 32, false, &v);
    if (code == ALK_OK)
        *value = (uint32_t)v;
    return code;
}

int alk_read_s32_slow(alk_reader *reader, int32_t *value)
{
    const uint8_t *p = reader->cursor;
    if (reader->end - p >= 5) {
        uint32_t result = p[0] & 0x7fu;
        for (int i = 1; i < 5; i++) {
            if (!(p[i - 1] & 0x80)) { /* last byte: bit 6 is the sign */
                if (p[i - 1] & 0x40)
                    result |= ~0u << (7 * i);
                reader->cursor = p + i;
                *value = (int32_t)result;
                return ALK_OK;
            }
            if (i < 4)
                result |= (uint32_t)(p[i] & 0x7f) << (7 * i);
        }
        uint8_t last = p[4];
        if (last & 0x80)
            return ALK_E_INTEGER_TOO_LONG;
        if ((last & 0x78) != 0 && (last & 0x78) != 0x78)
            return ALK_E_INTEGER_TOO_LARGE;
        reader->cursor = p + 5;
        *value = (int32_t)(result | (uint32_t)last << 28);
        return ALK_OK;
    }
    uint64_t v;
    int code = read_leb(reader, 32, true, &v);
    if (code == ALK_OK)
        *value = (int32_t)(uint32_t)v;
    return code;
}

int alk_read_s33(alk_reader *reader, int64_t *value)
{
    uint64_t v;
    int code = read_leb(reader, 33, true, &v);
    if (code == ALK_OK)
        *value = (int64_t)v;
    return code;
}

int alk_read_s64(alk_reader *reader, int64_t *value)
{
    uint64_t v;
    int code = read_leb(reader, 64, true, &v);
    if (code == ALK_OK)
        *value = (int64_t)v;
    return code;
}

int alk_read_fixed32(alk_reader *reader, uint32_t *value)
{
    const uint8_t *p = reader->cursor;
    if (reader->end - p < 4)
        return ALK_E_UNEXPECTED_END_OF_SECTION;
    *value = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    reader->cursor = p + 4;
    return ALK_OK;
}

int alk_read_fixed64(alk_reader *reader, uint64_t *value)
{
    const uint8_t *p = reader->cursor;
    if (reader->end - p < 8)
        return ALK_E_UNEXPECTED_END_OF_SECTION;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    *value = v;
    reader->cursor = p + 8;
    return ALK_OK;
}

int alk_read_bytes(alk_reader *reader, uint32_t length, const uint8_t **bytes)
{
    if ((size_t)(reader->end - reader->cursor) < length)
        return ALK_E_UNEXPECTED_END_OF_SECTION;
    *bytes = reader->cursor;
    reader->cursor += length;
    return ALK_OK;
}

int alk_read_name(alk_reader *reader, alk_name *name)
{
    alk_reader r = *reader;
    uint32_t length;
    int code = alk_read_u32(&r, &length);
    if (code != ALK_OK)
        return code;
    if ((size_t)(r.end - r.cursor) < length)
        return ALK_E_LENGTH_OUT_OF_BOUNDS;
    if (!alk_utf8_valid(r.cursor, length))
        return ALK_E_MALFORMED_UTF8;
    name->bytes = r.cursor;
    name->length = length;
    reader->cursor = r.cursor + length;
    return ALK_OK;
}

/* Well-formed UTF-8 (Unicode 3.9, table 3-7): no overlong forms, no surrogates, <= U+10FFFF. */
bool alk_utf8_valid(const uint8_t *bytes, size_t length)
{
    size_t i = 0;
    while (i < length) {
        uint8_t c = bytes[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (length - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            uint8_t continuation = bytes[i + k];
            if ((continuation & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (continuation & 0x3f);
        }
        if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            return false;
        if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
            return false;
        i += n;
    }
    return true;
}
