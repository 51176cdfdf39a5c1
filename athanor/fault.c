/*
 * What the kernel knows about code when something faults: the registered
 * code regions (each module's code, named) and the stacks (the kernel's own and the tasks').
 * The exception handler (arch/<arch>/trap.c) asks here to name an address.
 */
#include "kernel.h"

static struct ath_code_region regions[ATH_CODE_REGIONS_MAX];
static unsigned region_count;

int ath_code_region_add(uintptr_t start, uintptr_t end, const char *name)
{
    if (end <= start || !name)
        return ATH_ERR_INVALID;
    for (unsigned i = 0; i < region_count; i++)
        if (start < regions[i].end && end > regions[i].start)
            return ATH_ERR_INVALID;     /* regions never overlap */
    if (region_count == ATH_CODE_REGIONS_MAX)
        return ATH_ERR_FULL;
    struct ath_code_region *r = &regions[region_count++];
    r->start = start;
    r->end = end;
    ath_strlcpy(r->name, name, sizeof r->name);
    return ATH_OK;
}

int ath_code_region_remove(uintptr_t start)
{
    for (unsigned i = 0; i < region_count; i++) {
        if (regions[i].start == start) {
            regions[i] = regions[--region_count];
            return ATH_OK;
        }
    }
    return ATH_ERR_NOT_FOUND;
}

const struct ath_code_region *ath_code_region_find(uintptr_t addr)
{
    for (unsigned i = 0; i < region_count; i++)
        if (addr >= regions[i].start && addr < regions[i].end)
            return &regions[i];
    return NULL;
}

void ath_fault_describe_address(uintptr_t addr)
{
    const struct ath_code_region *r = ath_code_region_find(addr);
    if (r)
        ath_kprintf(" in module %s+0x%lx", r->name, addr - r->start);
    else if (addr >= (uintptr_t)__kernel_start && addr < (uintptr_t)__text_end)
        ath_kprintf(" in kernel");
}

static const struct ath_kstack *task_stacks[2 * ATH_TASKS_MAX];
static unsigned task_stack_count;

void ath_fault_add_stack(const struct ath_kstack *stack)
{
    if (task_stack_count < ATH_ARRAY_SIZE(task_stacks))
        task_stacks[task_stack_count++] = stack;
}

static bool in_guard(const struct ath_kstack *k, uintptr_t addr)
{
    return addr >= k->guard && addr < k->guard + ATH_PAGE_SIZE;
}

const struct ath_kstack *ath_fault_guard_stack(uintptr_t addr)
{
    unsigned count;
    const struct ath_kstack *k = ath_arch_kstacks(&count);
    for (unsigned i = 0; i < count; i++)
        if (in_guard(&k[i], addr))
            return &k[i];
    for (unsigned i = 0; i < task_stack_count; i++)
        if (in_guard(task_stacks[i], addr))
            return task_stacks[i];
    return NULL;
}

bool ath_fault_readable_u64(uintptr_t addr)
{
    uint64_t phys;
    unsigned flags;
    size_t page_size;
    if (addr & 7)
        return false;
    return ath_arch_translate(addr, &phys, &flags, &page_size);
}

void ath_fault_print_backtrace(uintptr_t fp)
{
    ath_kprintf("[athanor]   backtrace:");
    for (int i = 0; i < ATH_BACKTRACE_MAX && fp && ath_fault_readable_u64(fp) &&
                    ath_fault_readable_u64(fp + 8); i++) {
        uint64_t next = ((uint64_t *)fp)[0];
        uint64_t ret = ((uint64_t *)fp)[1];
        if (!ret)
            break;
        ath_kprintf(" 0x%lx", ret);
        if (next <= fp)
            break;
        fp = next;
    }
    ath_kprintf("\n");
}

static bool on(const struct ath_kstack *k, uintptr_t addr)
{
    return addr >= k->bottom && addr < k->top;
}

const char *ath_fault_current_stack_name(void)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    unsigned count;
    const struct ath_kstack *k = ath_arch_kstacks(&count);
    for (unsigned i = 0; i < count; i++)
        if (on(&k[i], here))
            return k[i].name;
    for (unsigned i = 0; i < task_stack_count; i++)
        if (on(task_stacks[i], here))
            return task_stacks[i]->name;
    return "an unknown stack";
}
