/*
 * JSON (RFC 8259) reader: recursive descent over a cursor and an end pointer, one function per
 * grammar rule. Nesting is limited so that hostile input cannot exhaust the C stack.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH 64

typedef struct parser {
    const char *cursor, *start, *end;
    char *error;
    size_t error_size;
    bool failed;
} parser;

static void fail(parser *p, const char *what)
{
    if (p->failed)
        return;
    p->failed = true;
    unsigned line = 1;
    for (const char *c = p->start; c < p->cursor && c < p->end; c++)
        line += *c == '\n';
    snprintf(p->error, p->error_size, "line %u: %s", line, what);
}

static void skip_space(parser *p)
{
    while (p->cursor < p->end &&
           (*p->cursor == ' ' || *p->cursor == '\t' || *p->cursor == '\n' || *p->cursor == '\r'))
        p->cursor++;
}

static bool accept(parser *p, char c)
{
    skip_space(p);
    if (p->cursor < p->end && *p->cursor == c) {
        p->cursor++;
        return true;
    }
    return false;
}

static bool accept_word(parser *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - p->cursor) >= n && !memcmp(p->cursor, word, n)) {
        p->cursor += n;
        return true;
    }
    return false;
}

/* A growing byte buffer for decoded strings. */
typedef struct bytes {
    char *data;
    size_t size, capacity;
} bytes;

static bool put(bytes *b, char c)
{
    if (b->size + 1 >= b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 32;
        char *bigger = realloc(b->data, capacity);
        if (!bigger)
            return false;
        b->data = bigger;
        b->capacity = capacity;
    }
    b->data[b->size++] = c;
    return true;
}

static bool put_utf8(bytes *b, uint32_t code)
{
    if (code < 0x80)
        return put(b, (char)code);
    if (code < 0x800)
        return put(b, (char)(0xC0 | code >> 6)) && put(b, (char)(0x80 | (code & 0x3F)));
    if (code < 0x10000)
        return put(b, (char)(0xE0 | code >> 12)) && put(b, (char)(0x80 | ((code >> 6) & 0x3F))) &&
               put(b, (char)(0x80 | (code & 0x3F)));
    return put(b, (char)(0xF0 | code >> 18)) && put(b, (char)(0x80 | ((code >> 12) & 0x3F))) &&
           put(b, (char)(0x80 | ((code >> 6) & 0x3F))) && put(b, (char)(0x80 | (code & 0x3F)));
}

static bool hex4(parser *p, uint32_t *out)
{
    if (p->end - p->cursor < 4)
        return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *p->cursor++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return false;
    }
    *out = v;
    return true;
}

/* string = '"' { char | escape } '"' ; the opening quote is already consumed */
static char *parse_string(parser *p, size_t *length)
{
    bytes b = { 0 };
    for (;;) {
        if (p->cursor >= p->end) {
            fail(p, "unterminated string");
            break;
        }
        char c = *p->cursor++;
        if (c == '"') {
            if (!put(&b, 0))
                break;
            *length = b.size - 1;
            return b.data;
        }
        if ((unsigned char)c < 0x20) {
            fail(p, "control character in string");
            break;
        }
        if (c != '\\') {
            if (!put(&b, c))
                break;
            continue;
        }
        if (p->cursor >= p->end) {
            fail(p, "unterminated escape");
            break;
        }
        char e = *p->cursor++;
        bool ok = true;
        switch (e) {
        case '"': case '\\': case '/': ok = put(&b, e); break;
        case 'b': ok = put(&b, '\b'); break;
        case 'f': ok = put(&b, '\f'); break;
        case 'n': ok = put(&b, '\n'); break;
        case 'r': ok = put(&b, '\r'); break;
        case 't': ok = put(&b, '\t'); break;
        case 'u': {
            uint32_t code;
            if (!hex4(p, &code)) {
                fail(p, "bad \\u escape");
                ok = false;
                break;
            }
            if (code >= 0xD800 && code < 0xDC00 && accept_word(p, "\\u")) {
                uint32_t low;
                if (!hex4(p, &low) || low < 0xDC00 || low > 0xDFFF) {
                    fail(p, "bad surrogate pair");
                    ok = false;
                    break;
                }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            }
            ok = put_utf8(&b, code);
            break;
        }
        default:
            fail(p, "unknown escape");
            ok = false;
        }
        if (!ok)
            break;
    }
    if (!p->failed)
        fail(p, "out of memory");
    free(b.data);
    return NULL;
}

static bool parse_value(parser *p, alk_json *out, int depth);

/* Appends one slot to an array's or object's items. */
static alk_json *new_item(parser *p, alk_json *container, size_t *capacity)
{
    if (container->count == *capacity) {
        size_t fresh = *capacity ? *capacity * 2 : 8;
        alk_json *items = realloc(container->items, fresh * sizeof *items);
        if (!items) {
            fail(p, "out of memory");
            return NULL;
        }
        container->items = items;
        if (container->kind == ALK_JSON_OBJECT) {
            char **keys = realloc(container->keys, fresh * sizeof *keys);
            if (!keys) {
                fail(p, "out of memory");
                return NULL;
            }
            container->keys = keys;
        }
        *capacity = fresh;
    }
    alk_json *item = &container->items[container->count];
    memset(item, 0, sizeof *item);
    return item;
}

/* array = '[' [ value { ',' value } ] ']' */
static bool parse_array(parser *p, alk_json *out, int depth)
{
    size_t capacity = 0;
    out->kind = ALK_JSON_ARRAY;
    if (accept(p, ']'))
        return true;
    do {
        alk_json *item = new_item(p, out, &capacity);
        if (!item)
            return false;
        out->count++;
        if (!parse_value(p, item, depth + 1))
            return false;
    } while (accept(p, ','));
    if (!accept(p, ']')) {
        fail(p, "expected ',' or ']'");
        return false;
    }
    return true;
}

/* object = '{' [ string ':' value { ',' string ':' value } ] '}' */
static bool parse_object(parser *p, alk_json *out, int depth)
{
    size_t capacity = 0;
    out->kind = ALK_JSON_OBJECT;
    if (accept(p, '}'))
        return true;
    do {
        if (!accept(p, '"')) {
            fail(p, "expected a key");
            return false;
        }
        size_t length;
        char *key = parse_string(p, &length);
        if (!key)
            return false;
        alk_json *item = new_item(p, out, &capacity);
        if (!item) {
            free(key);
            return false;
        }
        out->keys[out->count++] = key;
        if (!accept(p, ':')) {
            fail(p, "expected ':'");
            return false;
        }
        if (!parse_value(p, item, depth + 1))
            return false;
    } while (accept(p, ','));
    if (!accept(p, '}')) {
        fail(p, "expected ',' or '}'");
        return false;
    }
    return true;
}

/* number = [ '-' ] digits [ '.' digits ] [ ( 'e' | 'E' ) [ '+' | '-' ] digits ] */
static bool parse_number(parser *p, alk_json *out)
{
    const char *start = p->cursor;
    if (p->cursor < p->end && *p->cursor == '-')
        p->cursor++;
    const char *digits = p->cursor;
    while (p->cursor < p->end && *p->cursor && strchr("0123456789.eE+-", *p->cursor))
        p->cursor++;
    if (p->cursor == digits) {
        fail(p, "expected a value");
        return false;
    }
    out->kind = ALK_JSON_NUMBER;
    out->length = (size_t)(p->cursor - start);
    out->text = malloc(out->length + 1);
    if (!out->text) {
        fail(p, "out of memory");
        return false;
    }
    memcpy(out->text, start, out->length);
    out->text[out->length] = 0;
    return true;
}

/* value = object | array | string | number | 'true' | 'false' | 'null' */
static bool parse_value(parser *p, alk_json *out, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(p, "nested too deeply");
        return false;
    }
    skip_space(p);
    if (accept(p, '{'))
        return parse_object(p, out, depth);
    if (accept(p, '['))
        return parse_array(p, out, depth);
    if (accept(p, '"')) {
        out->kind = ALK_JSON_STRING;
        out->text = parse_string(p, &out->length);
        return out->text != NULL;
    }
    if (accept_word(p, "true") || accept_word(p, "false")) {
        out->kind = ALK_JSON_BOOL;
        out->boolean = p->cursor[-1] == 'e' && p->cursor[-2] == 'u';
        return true;
    }
    if (accept_word(p, "null")) {
        out->kind = ALK_JSON_NULL;
        return true;
    }
    return parse_number(p, out);
}

static void free_value(alk_json *v)
{
    for (size_t i = 0; i < v->count; i++) {
        free_value(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
}

alk_json *alk_json_parse(const char *text, size_t length, char *error, size_t error_size)
{
    parser p = { text, text, text + length, error, error_size, false };
    alk_json *root = calloc(1, sizeof *root);
    if (!root) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (parse_value(&p, root, 0)) {
        skip_space(&p);
        if (p.cursor == p.end)
            return root;
        fail(&p, "text after the document");
    }
    alk_json_free(root);
    return NULL;
}

void alk_json_free(alk_json *root)
{
    if (!root)
        return;
    free_value(root);
    free(root);
}

const alk_json *alk_json_member(const alk_json *object, const char *key)
{
    if (!object || object->kind != ALK_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (!strcmp(object->keys[i], key))
            return &object->items[i];
    return NULL;
}

const char *alk_json_string(const alk_json *object, const char *key)
{
    const alk_json *v = alk_json_member(object, key);
    return v && v->kind == ALK_JSON_STRING ? v->text : NULL;
}
