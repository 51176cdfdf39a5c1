/*
 * The kernel heap: power-of-two size classes carved from pages for small blocks, whole page
 * runs for large ones. Every block has a 16-byte header naming its class (or page count), so
 * ath_free needs no size; a corrupted header panics rather than freeing wrongly.
 */
#include "kernel.h"

#define HEADER 16
#define SMALLEST_SHIFT 5                  /* 32 bytes */
#define CLASS_COUNT 7                     /* 32 .. 2048 */
#define LARGE_CLASS 0xffu
#define MAGIC 0xa7a0u

struct header {
    uint16_t magic;
    uint8_t size_class;
    uint8_t reserved[5];
    uint64_t pages;                       /* large blocks */
};

struct free_block {
    struct free_block *next;
};

static struct free_block *free_lists[CLASS_COUNT];

static int class_of(size_t total)
{
    for (int c = 0; c < CLASS_COUNT; c++)
        if (total <= (size_t)1 << (SMALLEST_SHIFT + c))
            return c;
    return -1;
}

static bool refill(int c)
{
    uint64_t page = ath_page_alloc();
    if (!page)
        return false;
    size_t block = (size_t)1 << (SMALLEST_SHIFT + c);
    for (size_t at = 0; at + block <= ATH_PAGE_SIZE; at += block) {
        struct free_block *f = (struct free_block *)(uintptr_t)(page + at);
        f->next = free_lists[c];
        free_lists[c] = f;
    }
    return true;
}

void *ath_alloc(size_t size)
{
    if (size > (1ull << 40))
        return NULL;
    size_t total = size + HEADER;
    int c = class_of(total);
    struct header *h;
    if (c >= 0) {
        if (!free_lists[c] && !refill(c))
            return NULL;
        h = (struct header *)free_lists[c];
        free_lists[c] = free_lists[c]->next;
        h->size_class = (uint8_t)c;
        h->pages = 0;
    } else {
        uint64_t pages = (total + ATH_PAGE_SIZE - 1) / ATH_PAGE_SIZE;
        uint64_t first = ath_page_alloc_contiguous((size_t)pages);
        if (!first)
            return NULL;
        h = (struct header *)(uintptr_t)first;
        h->size_class = LARGE_CLASS;
        h->pages = pages;
    }
    h->magic = MAGIC;
    return (uint8_t *)h + HEADER;
}

void ath_free(void *ptr)
{
    if (!ptr)
        return;
    struct header *h = (struct header *)((uint8_t *)ptr - HEADER);
    if (h->magic != MAGIC)
        ath_panic("ath_free: %p is not a heap block (or it was freed twice)", ptr);
    h->magic = 0;
    if (h->size_class == LARGE_CLASS) {
        ath_page_free_contiguous((uint64_t)(uintptr_t)h, (size_t)h->pages);
        return;
    }
    if (h->size_class >= CLASS_COUNT)
        ath_panic("ath_free: corrupted heap header at %p", (void *)h);
    struct free_block *f = (struct free_block *)h;
    int c = h->size_class;
    f->next = free_lists[c];
    free_lists[c] = f;
}
