/*
 * Tasks and the scheduler. Every module runs as one task on its own native stack (with an
 * unmapped guard page below it), in the one address space, in ring 0: a switch is a stack
 * switch (arch/<arch>/switch.S), nothing more.
 *
 * Scheduling is round robin over the tasks in module order (drivers first). A task runs until
 * it blocks (a channel, an IRQ line, a deadline), yields, ends, or the tick finds it has used
 * its slice while it was in module code: only module code is preempted, so kernel code never
 * is, and kernel state needs no locks. What interrupt handlers touch (a task's state, a
 * deadline, an IRQ count) is touched elsewhere only with interrupts off, or for a task's state
 * only from blocked to ready, as they do. When nothing is ready
 * the CPU halts in the scheduler's own context (the boot stack) until an interrupt.
 *
 * The appliance ends with exit code 0 when every app has finished and no driver is ready to
 * run (drivers serve apps; they do not keep an appliance alive); an appliance of drivers only
 * ends when all of them have. When tasks are blocked and nothing could ever wake them (no
 * deadline, no IRQ line waited on), that is a deadlock: the appliance fails.
 */
#include "kernel.h"

static struct ath_task tasks[ATH_TASKS_MAX];
static uint32_t task_count;
static struct ath_task *current;            /* NULL: the scheduler's own context */
static uint64_t scheduler_sp;
static uint32_t last_run;                   /* where the round robin goes on from */
static volatile uint64_t ticks;
static volatile bool need_resched;          /* a task was woken while another ran */
static volatile uint64_t next_deadline;     /* earliest deadline of a blocked task (0: none) */

struct ath_task *ath_task_current(void) { return current; }
uint64_t ath_sched_ticks(void) { return ticks; }
struct ath_task *ath_task_at(uint32_t index) { return index < task_count ? &tasks[index] : NULL; }
uint32_t ath_task_count(void) { return task_count; }

void ath_task_set_count(uint32_t count)
{
    ath_assert(count <= ATH_TASKS_MAX);
    task_count = count;
    last_run = count ? count - 1 : 0;      /* the round robin starts with task 0 */
}

/* A stack of `size` bytes with an unmapped guard page below it, in a reservation of its own
 * (so unmapped gaps part it from every other stack and every linear memory, vm.c). */
static void stack_new(struct ath_kstack *stack, const char *name, size_t size)
{
    size = ATH_ALIGN_UP(size, ATH_PAGE_SIZE);
    uintptr_t base = ath_vm_reserve(size + ATH_PAGE_SIZE);
    if (!base || ath_vm_map_fresh(base + ATH_PAGE_SIZE, size, ATH_VM_READ | ATH_VM_WRITE)) {
        ath_kprintf("[athanor] boot error: no memory for the %lu KiB %s\n",
                    (unsigned long)(size >> 10), name);
        ath_fail(ATH_FAIL_BOOT);
    }
    stack->name = name;
    stack->guard = base;
    stack->bottom = base + ATH_PAGE_SIZE;
    stack->top = stack->bottom + size;
    ath_fault_add_stack(stack);
}

void ath_task_init(struct ath_task *task, uint32_t index, const char *name, size_t stack_size)
{
    task->index = index;
    ath_snprintf(task->stack_names[0], sizeof task->stack_names[0], "stack of %s", name);
    ath_snprintf(task->stack_names[1], sizeof task->stack_names[1], "kernel stack of %s", name);
    stack_new(&task->stack, task->stack_names[0], stack_size);
    stack_new(&task->kstack, task->stack_names[1], ATH_TASK_KSTACK_SIZE);
    task->state = ATH_TASK_NEW;
}

void ath_task_start(struct ath_task *task, void (*entry)(void *))
{
    uint64_t state = ath_arch_irq_save();
    task->sp = ath_arch_stack_init(task->stack.top, entry, task);
    task->deadline = 0;
    task->wait_send = task->wait_receive = 0;
    task->wait_irqs = 0;
    task->wait_sockets = task->wait_net = false;
    task->state = ATH_TASK_READY;
    ath_arch_irq_restore(state);
}

/* ---- Switching (interrupts off) -------------------------------------------------------------- */
static void switch_to(struct ath_task *next)
{
    struct ath_task *prev = current;
    if (next == prev)
        return;
    uint64_t *save = prev ? &prev->sp : &scheduler_sp;
    uint64_t to = next ? next->sp : scheduler_sp;
    uint64_t now = ath_arch_cycles();
    current = next;
    need_resched = false;
    if (prev)
        prev->cpu_cycles += now - prev->switched_in;
    if (next) {
        next->state = ATH_TASK_RUNNING;
        next->slice_start = ticks;
        next->switched_in = now;
        last_run = next->index;
    }
    ath_trace(ATH_TRACE_SWITCH, next ? next->index : ATH_TRACE_IDLE,
              prev ? prev->index : ATH_TRACE_IDLE, 0);
    ath_arch_use_kernel_stack(next ? &next->kstack : NULL);
    ath_arch_switch(save, to);
}

/* The next ready task after `after` in round-robin order (after itself last), or NULL. */
static struct ath_task *pick(uint32_t after)
{
    for (uint32_t i = 1; i <= task_count; i++) {
        struct ath_task *t = &tasks[(after + i) % task_count];
        if (t->state == ATH_TASK_READY)
            return t;
    }
    return NULL;
}

/* The running task has left the RUNNING state (ready, blocked or done): run the next one, or
 * the scheduler if there is none. Returns when this task runs again. */
static void reschedule(void)
{
    struct ath_task *next = pick(current->index);
    if (next == current) {
        current->state = ATH_TASK_RUNNING;
        current->slice_start = ticks;
        return;
    }
    switch_to(next);
}

/* Wakes the tasks whose deadline has passed; recomputes the earliest one left. */
static void wake_expired(uint64_t now)
{
    uint64_t earliest = 0;
    for (uint32_t i = 0; i < task_count; i++) {
        struct ath_task *t = &tasks[i];
        if (t->state != ATH_TASK_BLOCKED || !t->deadline)
            continue;
        if (t->deadline <= now) {
            t->state = ATH_TASK_READY;
            need_resched = true;
        } else if (!earliest || t->deadline < earliest) {
            earliest = t->deadline;
        }
    }
    next_deadline = earliest;
}

void ath_sched_block(uint64_t deadline)
{
    uint64_t state = ath_arch_irq_save();
    ath_assert(current && current->state == ATH_TASK_RUNNING);
    current->deadline = deadline;
    if (deadline && (!next_deadline || deadline < next_deadline))
        next_deadline = deadline;
    current->state = ATH_TASK_BLOCKED;
    reschedule();
    current->deadline = 0;
    ath_arch_irq_restore(state);
}

/* Only ever BLOCKED -> READY, which an interrupt handler may do too: no need to keep them
 * out (kernel code is never preempted, so nothing runs between the test and the store but an
 * interrupt handler doing the same). */
void ath_task_wake(struct ath_task *task)
{
    if (task->state == ATH_TASK_BLOCKED) {
        task->state = ATH_TASK_READY;
        if (task != current)
            need_resched = true;
    }
}

void ath_sched_yield(void)
{
    uint64_t state = ath_arch_irq_save();
    current->state = ATH_TASK_READY;
    reschedule();
    ath_arch_irq_restore(state);
}

void ath_sched_preempt_point(void)
{
    if (!current)
        return;
    if (!need_resched && ticks - current->slice_start < ATH_SLICE_TICKS)
        return;
    ath_sched_yield();
}

void ath_task_exit(void)
{
    ath_arch_irq_save();
    current->state = ATH_TASK_DONE;
    reschedule();
    ath_panic("a finished task was switched to");
}

void ath_task_stop(struct ath_task *task)
{
    uint64_t state = ath_arch_irq_save();
    ath_assert(task != current);
    task->state = ATH_TASK_NEW;
    task->deadline = 0;
    task->wait_send = task->wait_receive = 0;
    task->wait_irqs = 0;
    task->wait_sockets = task->wait_net = false;
    ath_arch_irq_restore(state);
}

uint64_t ath_task_cpu_ns(const struct ath_task *task)
{
    uint64_t state = ath_arch_irq_save();
    uint64_t cycles = task->cpu_cycles;
    if (task == current)
        cycles += ath_arch_cycles() - task->switched_in;
    ath_arch_irq_restore(state);
    return ath_cycles_to_ns(cycles);
}

/* ---- The tick ---------------------------------------------------------------------------------- */
/* True if the interrupted code is module code, the only code that may be switched away from in
 * the middle (kernel code holds kernel state; it waits for the next tick or switch). */
static bool preemptible(const struct ath_trap_frame *frame)
{
    return current && current->state == ATH_TASK_RUNNING &&
           ath_code_region_find(ath_trap_pc(frame)) != NULL;
}

/* Interrupts off. Switches away from the interrupted task if it may be. */
static void maybe_preempt(struct ath_trap_frame *frame)
{
    if (!preemptible(frame))
        return;
    if (!need_resched && ticks - current->slice_start < ATH_SLICE_TICKS)
        return;
    struct ath_task *next = pick(current->index);
    if (!next)
        return;
    current->state = ATH_TASK_READY;
    switch_to(next);
}

void ath_sched_tick(struct ath_trap_frame *frame)
{
    ticks++;
    if (next_deadline && next_deadline <= ath_clock_ns())
        wake_expired(ath_clock_ns());
    maybe_preempt(frame);
}

void ath_sched_interrupted(struct ath_trap_frame *frame)
{
    maybe_preempt(frame);
}

/* ---- The scheduler's loop ----------------------------------------------------------------------- */
static bool apps_finished(void)
{
    bool any_app = false, apps_done = true, all_done = true;
    for (uint32_t i = 0; i < task_count; i++) {
        bool done = tasks[i].state == ATH_TASK_DONE;
        all_done &= done;
        if (tasks[i].record.kind == ATH_MODULE_APP) {
            any_app = true;
            apps_done &= done;
        }
    }
    return any_app ? apps_done : all_done;
}

/* Nothing is ready: can anything still happen? A deadline or an IRQ line someone waits for. */
static bool could_wake(void)
{
    for (uint32_t i = 0; i < task_count; i++)
        if (tasks[i].state == ATH_TASK_BLOCKED && (tasks[i].deadline || tasks[i].wait_irqs))
            return true;
    return false;
}

static ATH_NORETURN void deadlock(void)
{
    ath_kprintf("[athanor] deadlock: every module is blocked and nothing can wake one:");
    for (uint32_t i = 0; i < task_count; i++)
        if (tasks[i].state == ATH_TASK_BLOCKED)
            ath_kprintf(" %s", tasks[i].record.name);
    ath_kprintf("\n");
    ath_fail(ATH_FAIL_APPLIANCE);
}

void ath_sched_run(void)
{
    ath_arch_irq_save();
    for (;;) {
        wake_expired(ath_clock_ns());
        struct ath_task *next = pick(last_run);
        if (next) {
            switch_to(next);            /* back here when nothing is ready */
            continue;
        }
        if (apps_finished())
            ath_exit(0);
        if (!could_wake())
            deadlock();
        ath_arch_idle();
    }
}
