/*
 * The code buffer the single-pass back ends emit into: bytes, labels and the uses of labels
 * not yet bound. What is target-neutral lives here; how a use is encoded (a rel32, a64's imm19,
 * a table entry) is the target's, which alk_code_resolve asks through a callback.
 *
 * Labels are small integers (1..; 0 means none). A use before its label is bound is recorded
 * (alk_code_use_label) and patched by alk_code_resolve. Allocation failure is sticky: `failed`
 * is set and further emission is dropped (the caller reports ALK-E090); a use whose distance
 * does not fit its field sets `out_of_range` (the back end chose the wrong form, or retries
 * with a longer one).
 */
#ifndef ALK_CODE_H
#define ALK_CODE_H

#include "alk_internal.h"

/* A use of a label: `kind` and `addend` mean what the target's patch callback says. */
typedef struct alk_fixup {
    uint32_t at;        /* where the field (or the instruction holding it) is */
    uint32_t label;
    int32_t addend;
    uint8_t kind;
} alk_fixup;

typedef struct alk_code {
    const alk_allocator *allocator;
    uint8_t *bytes;
    uint32_t size, capacity;
    uint32_t *label_position;  /* UINT32_MAX: not bound yet */
    uint32_t label_count, label_capacity;
    alk_fixup *fixups;
    uint32_t fixup_count, fixup_capacity;
    bool failed;
    bool out_of_range;
} alk_code;

#define ALK_CODE_UNBOUND UINT32_MAX

void alk_code_init(alk_code *code, const alk_allocator *allocator);
void alk_code_free(alk_code *code);
uint32_t alk_code_new_label(alk_code *code);
void alk_code_bind(alk_code *code, uint32_t label);
bool alk_code_is_bound(const alk_code *code, uint32_t label);
/* Records a use of `label` at the current position (nothing is emitted). */
void alk_code_use_label(alk_code *code, uint32_t label, uint8_t kind, int32_t addend);
/* Writes `label_position` (the bound label's position) into the use `fixup`; false when it
 * does not fit its field. */
typedef bool (*alk_code_patcher)(alk_code *code, const alk_fixup *fixup, uint32_t label_position);
/* Patches every recorded use, then forgets them; false if a used label was never bound (an
 * internal bug) or a distance does not fit (out_of_range set). */
bool alk_code_resolve(alk_code *code, alk_code_patcher patch);

void alk_code_byte_slow(alk_code *code, uint8_t byte);
static inline void alk_code_byte(alk_code *code, uint8_t byte)
{
    if (code->size < code->capacity)
        code->bytes[code->size++] = byte;
    else
        alk_code_byte_slow(code, byte);
}
void alk_code_u32_slow(alk_code *code, uint32_t value);
/* Four bytes, little-endian (an A64 instruction word, an x86-64 rel32 or imm32). */
static inline void alk_code_u32(alk_code *code, uint32_t value)
{
    if (code->capacity - code->size >= 4) {
        uint8_t *p = code->bytes + code->size;
        p[0] = (uint8_t)value;
        p[1] = (uint8_t)(value >> 8);
        p[2] = (uint8_t)(value >> 16);
        p[3] = (uint8_t)(value >> 24);
        code->size += 4;
        return;
    }
    alk_code_u32_slow(code, value);
}
/* Makes room for `bytes` more without reallocating (a size hint; failure is sticky). */
void alk_code_reserve(alk_code *code, uint32_t bytes);
/* Pads with `fill` bytes to a multiple of `alignment`. */
void alk_code_align(alk_code *code, uint32_t alignment, uint8_t fill);
static inline uint32_t alk_code_position(const alk_code *code)
{
    return code->size;
}
uint32_t alk_code_read_u32(const alk_code *code, uint32_t at);
void alk_code_patch_u32(alk_code *code, uint32_t at, uint32_t value);

#endif
