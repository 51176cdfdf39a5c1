/*
 * From machine code back to Wasm instructions, for modules that carry source lines
 * (alk_compile_options.source_lines): object.c turns the marks into the object's `lines`
 * section, and a backtrace names the file and line of every frame. Shared by the single-pass
 * back ends, which record into it as they emit (traps.c).
 *
 * A mark says "the code of the Wasm instruction at module offset W starts here"; it covers the
 * code up to the next mark. The single pass emits an instruction's code while it compiles it
 * (operands materialised lazily may land in a later instruction's code, which is where they
 * run). A trap goes through a stub after the function's body; with one stub per kind that stub
 * would not say which instruction jumped to it, so here every trapping instruction gets stubs
 * of its own (a site: a label, a trap kind and the instruction), each marked with that
 * instruction: the trap's return address then names it. The cost, a stub per trapping
 * instruction, is paid only by modules built with line information (clang -g).
 */
#include "compile.h"

typedef struct trap_site {
    uint32_t label;
    uint32_t kind;
    uint32_t wasm;
} trap_site;

struct alk_lines {
    const alk_allocator *allocator;
    alk_pc *marks;                 /* ascending code offsets, within the chunk */
    uint32_t mark_count, mark_capacity;
    trap_site *sites;              /* of the function being compiled */
    uint32_t site_count, site_capacity;
    bool failed;
};

alk_lines *alk_lines_new(const alk_allocator *allocator)
{
    alk_lines *lines = allocator->alloc(allocator->user, sizeof *lines);
    if (lines)
        *lines = (alk_lines){ .allocator = allocator };
    return lines;
}

void alk_lines_free(alk_lines *lines)
{
    if (!lines)
        return;
    const alk_allocator *a = lines->allocator;
    a->free(a->user, lines->marks);
    a->free(a->user, lines->sites);
    a->free(a->user, lines);
}

/* Makes room for one more element of `size` bytes in *array (count, capacity). */
static bool grow(alk_lines *lines, void **array, uint32_t count, uint32_t *capacity, size_t size)
{
    if (count < *capacity)
        return true;
    uint32_t fresh_capacity = *capacity ? *capacity * 2 : 256;
    void *fresh = lines->allocator->alloc(lines->allocator->user, fresh_capacity * size);
    if (!fresh) {
        lines->failed = true;
        return false;
    }
    if (*array) {
        alk_memcpy(fresh, *array, count * size);
        lines->allocator->free(lines->allocator->user, *array);
    }
    *array = fresh;
    *capacity = fresh_capacity;
    return true;
}

bool alk_lines_mark(alk_lines *lines, uint32_t position, uint32_t wasm)
{
    if (lines->mark_count && lines->marks[lines->mark_count - 1].code == position) {
        lines->marks[lines->mark_count - 1].wasm = wasm;    /* the last one emitted nothing */
        return true;
    }
    if (lines->mark_count && lines->marks[lines->mark_count - 1].wasm == wasm)
        return true;
    if (!grow(lines, (void **)&lines->marks, lines->mark_count, &lines->mark_capacity,
              sizeof *lines->marks))
        return false;
    lines->marks[lines->mark_count++] = (alk_pc){ position, wasm };
    return true;
}

uint32_t alk_lines_site(const alk_lines *lines, uint32_t kind, uint32_t wasm)
{
    for (uint32_t i = lines->site_count; i-- > 0 && lines->sites[i].wasm == wasm;)
        if (lines->sites[i].kind == kind)
            return lines->sites[i].label;
    return 0;
}

bool alk_lines_add_site(alk_lines *lines, uint32_t label, uint32_t kind, uint32_t wasm)
{
    if (!grow(lines, (void **)&lines->sites, lines->site_count, &lines->site_capacity,
              sizeof *lines->sites))
        return false;
    lines->sites[lines->site_count++] = (trap_site){ label, kind, wasm };
    return true;
}

uint32_t alk_lines_site_count(const alk_lines *lines)
{
    return lines->site_count;
}

void alk_lines_site_at(const alk_lines *lines, uint32_t i, uint32_t *label, uint32_t *kind,
                       uint32_t *wasm)
{
    *label = lines->sites[i].label;
    *kind = lines->sites[i].kind;
    *wasm = lines->sites[i].wasm;
}

void alk_lines_clear_sites(alk_lines *lines)
{
    lines->site_count = 0;
}

void alk_lines_truncate(alk_lines *lines, uint32_t position)
{
    while (lines->mark_count && lines->marks[lines->mark_count - 1].code >= position)
        lines->mark_count--;
    lines->site_count = 0;
}

bool alk_lines_append(const alk_lines *lines, uint32_t base, alk_pc **out, uint32_t *count,
                      const alk_allocator *allocator)
{
    if (!lines || lines->mark_count == 0)
        return !lines || !lines->failed;
    if (lines->failed)
        return false;
    alk_pc *fresh = allocator->alloc(allocator->user,
                                     ((size_t)*count + lines->mark_count) * sizeof *fresh);
    if (!fresh)
        return false;
    if (*out) {
        alk_memcpy(fresh, *out, *count * sizeof *fresh);
        allocator->free(allocator->user, *out);
    }
    for (uint32_t i = 0; i < lines->mark_count; i++)
        fresh[*count + i] = (alk_pc){ base + lines->marks[i].code, lines->marks[i].wasm };
    *out = fresh;
    *count += lines->mark_count;
    return true;
}
