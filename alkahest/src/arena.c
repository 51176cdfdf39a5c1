/*
 * Arena: bump allocation over blocks taken from the allocator hook, all freed at once with the
 * module. Requests larger than a quarter block get a block of their own, linked behind the
 * current one so that the current block keeps serving small requests.
 *
 *   arena -> [block | used ......... free ] -> [big block] -> [older block] -> NULL
 */
#include "alk_internal.h"

#define ALK_ARENA_BLOCK_SIZE (64u * 1024u)
#define ALK_ARENA_ALIGN 16u

typedef struct alk_arena_block {
    struct alk_arena_block *next;
    uint8_t *cursor; /* next free byte, aligned */
    uint8_t *end;
} alk_arena_block;

struct alk_arena {
    alk_allocator allocator;
    alk_arena_block *head;
};

static uint8_t *align_up(uint8_t *p)
{
    uintptr_t value = (uintptr_t)p;
    value = (value + ALK_ARENA_ALIGN - 1) & ~(uintptr_t)(ALK_ARENA_ALIGN - 1);
    return (uint8_t *)value;
}

struct alk_arena *alk_arena_new(const alk_allocator *allocator)
{
    struct alk_arena *arena = allocator->alloc(allocator->user, sizeof *arena);
    if (!arena)
        return NULL;
    arena->allocator = *allocator;
    arena->head = NULL;
    return arena;
}

static alk_arena_block *new_block(struct alk_arena *arena, size_t payload)
{
    if (payload > SIZE_MAX - sizeof(alk_arena_block) - ALK_ARENA_ALIGN)
        return NULL;
    size_t total = sizeof(alk_arena_block) + ALK_ARENA_ALIGN + payload;
    alk_arena_block *block = arena->allocator.alloc(arena->allocator.user, total);
    if (!block)
        return NULL;
    block->cursor = align_up((uint8_t *)(block + 1));
    block->end = (uint8_t *)block + total;
    return block;
}

void *alk_arena_alloc(struct alk_arena *arena, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - ALK_ARENA_ALIGN)
        return NULL;
    size = (size + ALK_ARENA_ALIGN - 1) & ~(size_t)(ALK_ARENA_ALIGN - 1);

    alk_arena_block *head = arena->head;
    if (head && (size_t)(head->end - head->cursor) >= size) {
        void *p = head->cursor;
        head->cursor += size;
        return p;
    }
    if (size > ALK_ARENA_BLOCK_SIZE / 4) {
        alk_arena_block *big = new_block(arena, size);
        if (!big)
            return NULL;
        if (head) {
            big->next = head->next;
            head->next = big;
        } else {
            big->next = NULL;
            arena->head = big;
        }
        void *p = big->cursor;
        big->cursor = big->end;
        return p;
    }
    alk_arena_block *block = new_block(arena, ALK_ARENA_BLOCK_SIZE);
    if (!block)
        return NULL;
    block->next = head;
    arena->head = block;
    void *p = block->cursor;
    block->cursor += size;
    return p;
}

void alk_arena_free(struct alk_arena *arena)
{
    if (!arena)
        return;
    alk_arena_block *block = arena->head;
    while (block) {
        alk_arena_block *next = block->next;
        arena->allocator.free(arena->allocator.user, block);
        block = next;
    }
    arena->allocator.free(arena->allocator.user, arena);
}
