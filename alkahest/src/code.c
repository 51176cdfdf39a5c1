/*
 * The code buffer of the single-pass back ends (code.h): growth, labels, and the resolution
 * of label uses through the target's patch callback.
 */
#include "code.h"

static bool grow(alk_code *c, void **array, uint32_t *capacity, uint32_t needed, size_t element)
{
    if (needed <= *capacity)
        return true;
    uint32_t new_capacity = *capacity ? *capacity : 64;
    while (new_capacity < needed) {
        if (new_capacity > UINT32_MAX / 2) {
            c->failed = true;
            return false;
        }
        new_capacity *= 2;
    }
    void *fresh = c->allocator->alloc(c->allocator->user, (size_t)new_capacity * element);
    if (!fresh) {
        c->failed = true;
        return false;
    }
    if (*array) {
        alk_memcpy(fresh, *array, (size_t)*capacity * element);
        c->allocator->free(c->allocator->user, *array);
    }
    *array = fresh;
    *capacity = new_capacity;
    return true;
}

void alk_code_init(alk_code *c, const alk_allocator *allocator)
{
    alk_memset(c, 0, sizeof *c);
    c->allocator = allocator;
    c->label_count = 1; /* label 0 means "none" */
}

void alk_code_free(alk_code *c)
{
    c->allocator->free(c->allocator->user, c->bytes);
    c->allocator->free(c->allocator->user, c->label_position);
    c->allocator->free(c->allocator->user, c->fixups);
    c->bytes = NULL;
    c->label_position = NULL;
    c->fixups = NULL;
}

void alk_code_byte_slow(alk_code *c, uint8_t byte)
{
    if (c->size == c->capacity &&
        !grow(c, (void **)&c->bytes, &c->capacity, c->size + 1, 1))
        return;
    c->bytes[c->size++] = byte;
}

void alk_code_u32_slow(alk_code *c, uint32_t value)
{
    if (c->capacity - c->size < 4 &&
        !grow(c, (void **)&c->bytes, &c->capacity, c->size + 4, 1))
        return;
    alk_code_u32(c, value);
}

void alk_code_reserve(alk_code *c, uint32_t bytes)
{
    if (bytes > UINT32_MAX - c->size)
        return;
    grow(c, (void **)&c->bytes, &c->capacity, c->size + bytes, 1);
}

void alk_code_align(alk_code *c, uint32_t alignment, uint8_t fill)
{
    while (c->size % alignment && !c->failed)
        alk_code_byte(c, fill);
}

uint32_t alk_code_read_u32(const alk_code *c, uint32_t at)
{
    const uint8_t *p = c->bytes + at;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void alk_code_patch_u32(alk_code *c, uint32_t at, uint32_t value)
{
    if (c->failed || at + 4 > c->size)
        return;
    for (int i = 0; i < 4; i++)
        c->bytes[at + i] = (uint8_t)(value >> (8 * i));
}

uint32_t alk_code_new_label(alk_code *c)
{
    if (!grow(c, (void **)&c->label_position, &c->label_capacity, c->label_count + 1,
              sizeof(uint32_t)))
        return 0;
    c->label_position[c->label_count] = ALK_CODE_UNBOUND;
    return c->label_count++;
}

void alk_code_bind(alk_code *c, uint32_t label)
{
    if (label && label < c->label_count)
        c->label_position[label] = c->size;
}

bool alk_code_is_bound(const alk_code *c, uint32_t label)
{
    return label && label < c->label_count && c->label_position[label] != ALK_CODE_UNBOUND;
}

void alk_code_use_label(alk_code *c, uint32_t label, uint8_t kind, int32_t addend)
{
    if (!grow(c, (void **)&c->fixups, &c->fixup_capacity, c->fixup_count + 1, sizeof(alk_fixup)))
        return;
    c->fixups[c->fixup_count++] = (alk_fixup){ c->size, label, addend, kind };
}

bool alk_code_resolve(alk_code *c, alk_code_patcher patch)
{
    if (c->failed)
        return false;
    for (uint32_t i = 0; i < c->fixup_count; i++) {
        const alk_fixup *f = &c->fixups[i];
        if (!f->label || f->label >= c->label_count ||
            c->label_position[f->label] == ALK_CODE_UNBOUND)
            return false;
        if (!patch(c, f, c->label_position[f->label])) {
            c->out_of_range = true;
            return false;
        }
    }
    c->fixup_count = 0;
    return true;
}
