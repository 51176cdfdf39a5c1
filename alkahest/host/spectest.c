/*
 * The `spectest` host module that the official testsuite imports: print functions, four
 * globals, a table and a memory (the reference interpreter's spectest.ml defines them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

static void print(void *vmctx) { (void)vmctx; }
static void print_i32(void *vmctx, uint32_t x) { (void)vmctx; printf("%" PRIu32 " : i32\n", x); }
static void print_i64(void *vmctx, uint64_t x) { (void)vmctx; printf("%" PRIu64 " : i64\n", x); }
static void print_f32(void *vmctx, float x) { (void)vmctx; printf("%g : f32\n", (double)x); }
static void print_f64(void *vmctx, double x) { (void)vmctx; printf("%g : f64\n", x); }
static void print_i32_f32(void *vmctx, uint32_t x, float y)
{
    (void)vmctx;
    printf("%" PRIu32 " : i32\n%g : f32\n", x, (double)y);
}
static void print_f64_f64(void *vmctx, double x, double y)
{
    (void)vmctx;
    printf("%g : f64\n%g : f64\n", x, y);
}

static const struct {
    const char *name;
    const void *code;
    const char *signature;
} functions[] = {
    { "print", (const void *)print, ":" },
    { "print_i32", (const void *)print_i32, "i:" },
    { "print_i64", (const void *)print_i64, "I:" },
    { "print_f32", (const void *)print_f32, "f:" },
    { "print_f64", (const void *)print_f64, "F:" },
    { "print_i32_f32", (const void *)print_i32_f32, "if:" },
    { "print_f64_f64", (const void *)print_f64_f64, "FF:" },
};

static uint8_t global_slots[4][16] __attribute__((aligned(16)));
static alk_table *table;
static alk_memory *memory;

static bool named(const char *want, const char *field, uint32_t length)
{
    return strlen(want) == length && !memcmp(want, field, length);
}

bool alk_spectest_resolve(const char *field, uint32_t length, uint32_t kind, alk_extern *out)
{
    const alk_platform *p = &alk_host_platform;
    memset(out, 0, sizeof *out);
    out->kind = (uint8_t)kind;
    if (kind == 0) {
        for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
            if (named(functions[i].name, field, length)) {
                out->as.function.code = functions[i].code;
                out->as.function.vmctx = NULL;
                out->as.function.type_id = p->type_id(p->user, functions[i].signature,
                                                      (uint32_t)strlen(functions[i].signature));
                return true;
            }
        }
        return false;
    }
    if (kind == 3) {
        static const struct { const char *name; uint8_t type; uint64_t bits; } globals[] = {
            { "global_i32", 0x7f, 666 },
            { "global_i64", 0x7e, 666 },
            { "global_f32", 0x7d, 0x4426a666 },
            { "global_f64", 0x7c, 0x4084d4cccccccccdull },
        };
        for (int i = 0; i < 4; i++) {
            if (named(globals[i].name, field, length)) {
                memcpy(global_slots[i], &globals[i].bits, 8);
                out->as.global.slot = global_slots[i];
                out->as.global.type = globals[i].type;
                out->as.global.is_mutable = 0;
                return true;
            }
        }
        return false;
    }
    if (kind == 1 && named("table", field, length)) {
        if (!table)
            table = alk_table_new(p, 0x70, 10, true, 20);
        out->as.table = table;
        return table != NULL;
    }
    if (kind == 2 && named("memory", field, length)) {
        if (!memory) {
            memory = calloc(1, sizeof *memory);
            if (!memory)
                return false;
            /* Reserved for guard mode, so that modules of either bounds mode may import it. */
            memory->max_pages = 2;
            memory->has_max = true;
            memory->declared_max = 2;
            memory->guard = true;
            memory->reserved = ALK_GUARD_RESERVATION;
            if (p->memory_map(p->user, memory, memory->reserved, 65536)) {
                free(memory);
                memory = NULL;
                return false;
            }
            memory->size = 65536;
        }
        out->as.memory = memory;
        return true;
    }
    return false;
}
