/*
 * libFuzzer target over the front end: alk_decode + alk_validate on arbitrary bytes.
 *
 * Besides the sanitizers' checks (ASan, UBSan, LeakSanitizer), it asserts the contracts:
 *   - memory stays linear in the input: live bytes never exceed LIMIT(size);
 *   - a failure returns its code in diag too, with a terminated message, and no module;
 *   - a validated module re-reads with alk_read_instr() from end to end without an error,
 *     as the compiler will;
 *   - out-of-memory at any allocation is reported as ALK-E090 and leaks nothing (a second
 *     run fails the n-th allocation, n picked from the input).
 *
 * Build: make -C alkahest fuzz. Run: see alkahest/fuzz/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alk_internal.h"

#define LIMIT(size) ((size_t)(size) * 64 + ((size_t)16 << 20))

typedef struct budget {
    size_t live, limit;
    unsigned long allocations, fail_at; /* fail_at 0: never */
} budget;

typedef struct header {
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned */
} header;

static void *budget_alloc(void *user, size_t size)
{
    budget *b = user;
    b->allocations++;
    if (b->fail_at && b->allocations >= b->fail_at)
        return NULL;
    if (size > b->limit - b->live) {
        fprintf(stderr, "fuzz: %zu live bytes + %zu exceed the limit %zu\n", b->live, size,
                b->limit);
        abort();
    }
    header *h = malloc(sizeof(header) + size);
    if (!h)
        return NULL;
    h->size = size;
    b->live += size;
    return h + 1;
}

static void budget_free(void *user, void *ptr)
{
    budget *b = user;
    if (!ptr)
        return;
    header *h = (header *)ptr - 1;
    b->live -= h->size;
    free(h);
}

static void check(int condition, const char *what)
{
    if (!condition) {
        fprintf(stderr, "fuzz: contract broken: %s\n", what);
        abort();
    }
}

/* A validated module's bodies decode from end to end, each ending exactly at its end. */
static void reread_bodies(const alk_module *module)
{
    for (uint32_t i = module->imported_function_count; i < module->function_count; i++) {
        const alk_function *function = &module->functions[i];
        alk_reader r = {module->bytes, module->bytes + function->code_offset,
                        module->bytes + function->body_end};
        alk_instr instr;
        alk_diag diag;
        while (r.cursor < r.end)
            check(alk_read_instr(&r, &instr, &diag) == ALK_OK, "validated body re-reads");
        check(instr.op == ALK_OP_END, "a body ends with end");
    }
}

static int run(const uint8_t *data, size_t size, unsigned long fail_at, unsigned long *count)
{
    budget b = {0, LIMIT(size), 0, fail_at};
    alk_allocator allocator = {budget_alloc, budget_free, &b};
    alk_module *module = NULL;
    alk_diag diag;
    char line[512];
    int code = alk_decode(data, size, &allocator, &module, &diag);
    if (code == ALK_OK) {
        check(module != NULL, "decode gives a module");
        code = alk_validate(module, &diag);
        if (code == ALK_OK) {
            check(module->validated, "validated is set");
            reread_bodies(module);
        }
        alk_module_free(module);
    } else {
        check(module == NULL, "a failed decode gives no module");
    }
    if (code != ALK_OK) {
        check(diag.code == code, "diag carries the code");
        check(memchr(diag.message, '\0', sizeof diag.message) != NULL, "message terminated");
        check(strcmp(alk_diag_code_name(code), "ALK-E???") != 0, "code is in the table");
        check(fail_at || code != ALK_E_OUT_OF_MEMORY, "out of memory only when made to");
        alk_diag_format(&diag, line, sizeof line);
    }
    check(b.live == 0, "everything allocated is freed");
    *count = b.allocations;
    return code;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned long allocations, reached;
    run(data, size, 0, &allocations);
    if (allocations > 1) {
        unsigned long hash = 5381;
        for (size_t i = 0; i < size && i < 64; i++)
            hash = hash * 33 + data[i];
        unsigned long fail_at = 1 + hash % allocations;
        int code = run(data, size, fail_at, &reached);
        if (reached >= fail_at)
            check(code == ALK_E_OUT_OF_MEMORY, "a failed allocation is reported as out of memory");
    }
    return 0;
}
