/*
 * The trace: a ring of the last ATH_TRACE_EVENTS kernel events (module start, trap, restart,
 * channel send and receive, IRQ, context switch), each with a timestamp, the CPU, the event
 * and its payload. Lock-free: a writer claims a slot with one fetch-and-add instruction and
 * publishes it by writing its sequence number last, so an interrupt handler may record while
 * other code does, and a reader skips a slot caught half-written. (One CPU: the add needs to be
 * atomic only with respect to interrupts; a second CPU would need the locked form.) The kernel prints the last ATH_TRACE_PRINT
 * events on a panic or an appliance failure, and when a module with the `trace` grant asks.
 */
#include "kernel.h"
#include "kernel_abi.h"

struct event {
    uint64_t sequence;                 /* n + 1 once slot n % size holds event n; 0 while written */
    uint64_t cycles;
    uint16_t cpu, event;
    uint32_t task;
    uint64_t a, b;
};

static struct event ring[ATH_TRACE_EVENTS];
static uint64_t next;                  /* events ever recorded */
static uint64_t origin;

_Static_assert((ATH_TRACE_EVENTS & (ATH_TRACE_EVENTS - 1)) == 0, "a power of two");

static void on_failure(enum ath_failure failure)
{
    if (failure == ATH_FAIL_PANIC || failure == ATH_FAIL_APPLIANCE)
        ath_trace_print(ATH_TRACE_PRINT);
}

void ath_trace_init(void)
{
    origin = ath_arch_cycles();
    ath_failure_hook = on_failure;
}

void ath_trace(enum ath_trace_event event, uint32_t task, uint64_t a, uint64_t b)
{
    uint64_t n = ath_arch_fetch_add_local(&next, 1);
    struct event *e = &ring[n & (ATH_TRACE_EVENTS - 1)];
    __atomic_store_n(&e->sequence, 0, __ATOMIC_RELAXED);
    e->cycles = ath_arch_cycles();
    e->cpu = 0;
    e->event = (uint16_t)event;
    e->task = task;
    e->a = a;
    e->b = b;
    __atomic_store_n(&e->sequence, n + 1, __ATOMIC_RELEASE);
}

int32_t ath_refuse(int32_t error)
{
    struct ath_task *task = ath_task_current();
    ath_trace(ATH_TRACE_REFUSED, task ? task->index : ATH_TRACE_IDLE, (uint64_t)(int64_t)error, 0);
    return error;
}

static const char *error_name(int64_t error)
{
    switch (error) {
#define NAME(value, text) case value: return text;
        ATH_ABI_ERRORS(NAME)
#undef NAME
    default:
        return "?";
    }
}

static const char *task_name(uint32_t index)
{
    if (index == ATH_TRACE_IDLE)
        return "(scheduler)";
    struct ath_task *t = ath_task_at(index);
    return t ? t->record.name : "?";
}

static void print_event(const struct event *e)
{
    uint64_t ns = ath_cycles_to_ns(e->cycles - origin);
    ath_kprintf("[athanor]   %6lu.%03lu us cpu%u ", (unsigned long)(ns / 1000),
                (unsigned long)(ns % 1000), e->cpu);
    const char *who = task_name(e->task);
    switch (e->event) {
    case ATH_TRACE_START:
        ath_kprintf("start    %s (restarts %lu)\n", who, (unsigned long)e->a);
        break;
    case ATH_TRACE_TRAP:
        ath_kprintf("trap     %s: %s\n", who, ath_trap_name((uint32_t)e->a));
        break;
    case ATH_TRACE_RESTART:
        ath_kprintf("restart  %s in %lu ns\n", who, (unsigned long)e->a);
        break;
    case ATH_TRACE_EXIT:
        ath_kprintf("return   %s\n", who);
        break;
    case ATH_TRACE_SEND:
    case ATH_TRACE_RECEIVE:
        ath_kprintf("%s %s: channel %s, %lu message%s\n",
                    e->event == ATH_TRACE_SEND ? "send    " : "receive ", who,
                    e->a < ath_channel_count() ? ath_channel_name((uint32_t)e->a) : "?",
                    (unsigned long)e->b, e->b == 1 ? "" : "s");
        break;
    case ATH_TRACE_IRQ:
        ath_kprintf("irq      line %lu for %s\n", (unsigned long)e->a, who);
        break;
    case ATH_TRACE_SWITCH:
        ath_kprintf("switch   %s -> %s\n", task_name((uint32_t)e->a), who);
        break;
    case ATH_TRACE_REFUSED:
        ath_kprintf("refused  %s: %s\n", who, error_name((int64_t)e->a));
        break;
    case ATH_TRACE_ESCALATE:
        ath_kprintf("budget   supervisor #%u spent (%lu restarts)\n", e->task, (unsigned long)e->a);
        break;
    default:
        ath_kprintf("event %u\n", e->event);
    }
}

void ath_trace_print(unsigned count)
{
    uint64_t last = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
    if (last == 0)
        return;
    if (count > ATH_TRACE_EVENTS)
        count = ATH_TRACE_EVENTS;
    uint64_t first = last > count ? last - count : 0;
    ath_kprintf("[athanor] trace: the last %lu of %lu events\n", (unsigned long)(last - first),
                (unsigned long)last);
    for (uint64_t n = first; n < last; n++) {
        struct event copy = ring[n & (ATH_TRACE_EVENTS - 1)];
        if (__atomic_load_n(&ring[n & (ATH_TRACE_EVENTS - 1)].sequence, __ATOMIC_ACQUIRE) != n + 1 ||
            copy.sequence != n + 1)
            continue;                   /* overwritten or being written */
        print_event(&copy);
    }
}
