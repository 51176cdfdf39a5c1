/*
 * A small JSON reader for the CLI (hosted C): enough for wast2json's output. Parses a whole
 * document into a tree; strings are decoded (escapes, \u surrogate pairs to UTF-8) and keep
 * their length, since Wasm names may contain NUL. Numbers keep their text: the caller decides
 * how to read them.
 */
#ifndef ALK_JSON_H
#define ALK_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum alk_json_kind {
    ALK_JSON_NULL,
    ALK_JSON_BOOL,
    ALK_JSON_NUMBER,
    ALK_JSON_STRING,
    ALK_JSON_ARRAY,
    ALK_JSON_OBJECT,
} alk_json_kind;

typedef struct alk_json {
    alk_json_kind kind;
    bool boolean;
    char *text;               /* string (decoded, NUL-terminated) or number (as written) */
    size_t length;            /* bytes of text, not counting the terminator */
    size_t count;             /* array elements or object members */
    struct alk_json *items;   /* the elements, or the members' values */
    char **keys;              /* object members' keys (decoded, NUL-terminated) */
} alk_json;

/* Parses text[0..length). Returns the root, or NULL with a message ("line 3: expected ','")
 * in error. */
alk_json *alk_json_parse(const char *text, size_t length, char *error, size_t error_size);
void alk_json_free(alk_json *root);

/* Member `key` of an object, or NULL (also when `object` is NULL or not an object). */
const alk_json *alk_json_member(const alk_json *object, const char *key);
/* The text of member `key` when it is a string, else NULL. */
const char *alk_json_string(const alk_json *object, const char *key);

#endif
