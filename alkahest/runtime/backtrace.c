/*
 * Backtraces of traps, shared by the hosted runtime (alkahest run) and the Athanor kernel: the
 * walk over the rbp chain of Wasm frames, what each frame's code offset is (function, name,
 * Wasm offset, source file and line from the object's `lines` section), and the one line of
 * text both print per frame.
 */
#include "alkahest_runtime.h"

#define HOST_FRAMES_MAX 4       /* frames of a host function (and its callees) skipped at most */

static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

alk_str alk_object_function_name(const alk_object *o, uint32_t function)
{
    alk_str none = { "", 0 };
    if (function >= o->function_count)
        return none;
    if (function >= o->imported_function_count) {
        alk_str name = alk_object_function_at(o, function - o->imported_function_count).name;
        if (name.length)
            return name;
    }
    for (uint32_t i = 0; i < alk_object_count(o, ALK_SECTION_EXPORTS); i++) {
        alk_object_export e = alk_object_export_at(o, i);
        if (e.kind == 0 && e.index == function)
            return e.name;
    }
    return none;
}

/* The defined function whose code holds `offset` (functions are in ascending order). */
static bool function_at(const alk_object *o, uint32_t offset, uint32_t *defined,
                        alk_object_function *out)
{
    uint32_t low = 0, high = alk_object_count(o, ALK_SECTION_FUNCTIONS);
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        alk_object_function f = alk_object_function_at(o, middle);
        if (offset < f.offset) {
            high = middle;
        } else if (offset - f.offset >= f.size) {
            low = middle + 1;
        } else {
            *defined = middle;
            *out = f;
            return true;
        }
    }
    return false;
}

bool alk_frame_describe(const alk_object *o, uint32_t offset, alk_frame_info *out)
{
    *out = (alk_frame_info){ UINT32_MAX, { "", 0 }, 0, UINT32_MAX, { "", 0 }, 0 };
    uint32_t defined;
    alk_object_function f;
    if (!function_at(o, offset, &defined, &f))
        return false;
    out->function = o->imported_function_count + defined;
    out->name = alk_object_function_name(o, out->function);
    out->function_offset = offset - f.offset;
    /* lines: the last record at or before the offset, within this function */
    const alk_section_view *lines = &o->sections[ALK_SECTION_LINES];
    uint32_t low = 0, high = lines->count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (u32(lines->data + 16 * middle) <= offset)
            low = middle + 1;
        else
            high = middle;
    }
    if (low > 0) {
        const uint8_t *r = lines->data + 16 * (low - 1);
        if (u32(r) >= f.offset && u32(r + 12)) {    /* code of no line: a record of several */
            out->wasm_offset = u32(r + 4);
            out->file = alk_object_string(o, u32(r + 8));
            out->line = u32(r + 12);
        }
    }
    return true;
}

/* ---- One line of text, without a C library ------------------------------------------------- */
typedef struct text {
    char *out;
    uint32_t size, length;
} text;

static void put(text *t, const char *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, t->length++)
        if (t->length + 1 < t->size)
            t->out[t->length] = s[i];
}

static void put_c(text *t, const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    put(t, s, n);
}

static void put_number(text *t, uint64_t value, unsigned base)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value);
    if (base == 16)
        put_c(t, "0x");
    while (n)
        put(t, &digits[--n], 1);
}

uint32_t alk_frame_format(const alk_frame_info *f, uint32_t depth, char *out, uint32_t size)
{
    text t = { out, size, 0 };
    put_c(&t, "#");
    put_number(&t, depth, 10);
    put_c(&t, " ");
    if (f->function == UINT32_MAX) {
        put_c(&t, "?");
    } else if (f->name.length) {
        put(&t, f->name.bytes, f->name.length);
    } else {
        put_c(&t, "function ");
        put_number(&t, f->function, 10);
    }
    if (f->line) {
        put_c(&t, " at ");
        put(&t, f->file.bytes, f->file.length);
        put_c(&t, ":");
        put_number(&t, f->line, 10);
    } else if (f->function != UINT32_MAX) {
        put_c(&t, "+");
        put_number(&t, f->function_offset, 16);
    }
    if (f->wasm_offset != UINT32_MAX) {
        put_c(&t, " (wasm ");
        put_number(&t, f->wasm_offset, 16);
        put_c(&t, ")");
    }
    if (size)
        out[t.length < size ? t.length : size - 1] = 0;
    return t.length < size ? t.length : (size ? size - 1 : 0);
}

/* ---- The walk ------------------------------------------------------------------------------ */
static bool readable(uintptr_t frame, uintptr_t low, uintptr_t high)
{
    return frame % 8 == 0 && frame >= low && high >= 16 && frame <= high - 16;
}

uint32_t alk_backtrace(const alk_object *o, const void *code, uintptr_t pc, uintptr_t rbp,
                       uintptr_t stack_low, uintptr_t stack_high, uint32_t max_frames,
                       alk_frame_visitor visit, void *user)
{
    uintptr_t start = (uintptr_t)code, size = o->sections[ALK_SECTION_CODE].size;
#define IN_CODE(address) ((address) >= start && (address) - start < size)
    uint32_t depth = 0;
    bool from_host = !IN_CODE(pc);
    /* A host function that trapped (an import, a builtin): climb to its caller in the code. */
    for (uint32_t skipped = 0; !IN_CODE(pc) && skipped < HOST_FRAMES_MAX; skipped++) {
        if (!readable(rbp, stack_low, stack_high))
            return 0;
        const uintptr_t *frame = (const uintptr_t *)rbp;
        pc = frame[1] - 1;                  /* within the call instruction */
        if (frame[0] <= rbp)
            return 0;
        rbp = frame[0];
    }
    if (!IN_CODE(pc))
        return 0;
    while (depth < max_frames) {
        visit(user, depth, (uint32_t)(pc - start), depth == 0 && from_host);
        depth++;
        if (!readable(rbp, stack_low, stack_high))
            break;
        const uintptr_t *frame = (const uintptr_t *)rbp;
        uintptr_t return_address = frame[1];
        if (!IN_CODE(return_address - 1) || frame[0] <= rbp)
            break;                          /* the entry trampoline called this one */
        pc = return_address - 1;
        rbp = frame[0];
    }
#undef IN_CODE
    return depth;
}
