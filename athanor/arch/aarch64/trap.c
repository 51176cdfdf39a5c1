/*
 * Exception handling: ath_trap is called by vectors.S for synchronous exceptions, FIQs and
 * SErrors; ath_arch_irq for IRQs (gic.c routes them).
 *
 * Order, as on x86-64: detect nesting, give the fault hook its chance (resume if it says so),
 * else print the report and fail with ATH_FAIL_PANIC. The report:
 *
 *   [athanor] exception: synchronous, EC 0x25 (data abort), esr 0x96000045 [write translation level 1]
 *   [athanor]   pc 0x...  in module NAME+0x1c
 *   [athanor]   far 0x...
 *   [athanor]   sp 0x...  pstate 0x...
 *   [athanor]   x0 ... (all general registers)
 *   [athanor]   backtrace: ...
 */
#include "aarch64.h"
#include "frame.inc"

_Static_assert(sizeof(struct ath_trap_frame) == FRAME_SIZE, "frame.inc");
_Static_assert(__builtin_offsetof(struct ath_trap_frame, sp) == FRAME_SP, "frame.inc");
_Static_assert(__builtin_offsetof(struct ath_trap_frame, pc) == FRAME_PC, "frame.inc");
_Static_assert(__builtin_offsetof(struct ath_trap_frame, esr) == FRAME_ESR, "frame.inc");
_Static_assert(__builtin_offsetof(struct ath_trap_frame, source) == FRAME_SOURCE, "frame.inc");
_Static_assert(__builtin_offsetof(struct ath_trap_frame, fp_record) == FRAME_FP_RECORD, "frame.inc");

/* Exception classes (ESR_EL1 bits 31:26). */
#define EC_UNKNOWN          0x00    /* udf, and any undefined instruction */
#define EC_FP               0x07    /* FP/SIMD access trapped (CPACR) */
#define EC_ILLEGAL_STATE    0x0e
#define EC_SVC              0x15
#define EC_INSTRUCTION_ABORT_EL0 0x20
#define EC_INSTRUCTION_ABORT 0x21
#define EC_PC_ALIGNMENT     0x22
#define EC_DATA_ABORT_EL0   0x24
#define EC_DATA_ABORT       0x25
#define EC_SP_ALIGNMENT     0x26
#define EC_FP_EXCEPTION     0x2c
#define EC_SERROR           0x2f
#define EC_BRK              0x3c
#define ESR_WNR             (1u << 6)   /* data abort: a write */
#define ESR_CM              (1u << 8)   /* data abort: a cache maintenance instruction */

static unsigned trap_depth;
static uint64_t outer_esr, outer_pc;

bool (*ath_fault_hook)(struct ath_trap_frame *frame);

static unsigned exception_class(const struct ath_trap_frame *f) { return (unsigned)(f->esr >> 26) & 0x3f; }
static bool synchronous(const struct ath_trap_frame *f) { return (f->source & 3) == 0; }
static bool is_abort(const struct ath_trap_frame *f)
{
    unsigned ec = exception_class(f);
    return synchronous(f) && (ec == EC_DATA_ABORT || ec == EC_INSTRUCTION_ABORT ||
                              ec == EC_DATA_ABORT_EL0 || ec == EC_INSTRUCTION_ABORT_EL0);
}

static const char *class_name(const struct ath_trap_frame *f)
{
    switch (f->source & 3) {
    case 1: return "IRQ";
    case 2: return "FIQ";
    case 3: return "SError";
    }
    switch (exception_class(f)) {
    case EC_UNKNOWN: return "undefined instruction";
    case EC_FP: return "FP/SIMD access";
    case EC_ILLEGAL_STATE: return "illegal execution state";
    case EC_SVC: return "SVC";
    case EC_INSTRUCTION_ABORT: case EC_INSTRUCTION_ABORT_EL0: return "instruction abort";
    case EC_PC_ALIGNMENT: return "pc alignment";
    case EC_DATA_ABORT: case EC_DATA_ABORT_EL0: return "data abort";
    case EC_SP_ALIGNMENT: return "sp alignment";
    case EC_FP_EXCEPTION: return "floating-point exception";
    case EC_SERROR: return "SError";
    case EC_BRK: return "breakpoint (brk)";
    }
    return "other";
}

enum ath_trap_kind ath_trap_kind(const struct ath_trap_frame *f)
{
    if (!synchronous(f))
        return ATH_TRAP_OTHER;
    if (is_abort(f))
        return ATH_TRAP_PAGE_FAULT;
    switch (exception_class(f)) {
    case EC_UNKNOWN: return ATH_TRAP_INVALID_OPCODE;
    case EC_BRK: return ATH_TRAP_BREAKPOINT;
    case EC_PC_ALIGNMENT: case EC_SP_ALIGNMENT: return ATH_TRAP_PROTECTION;
    case EC_FP_EXCEPTION: return ATH_TRAP_FLOATING_POINT;
    }
    return ATH_TRAP_OTHER;
}

uintptr_t ath_trap_pc(const struct ath_trap_frame *f) { return f->pc; }
uintptr_t ath_trap_sp(const struct ath_trap_frame *f) { return f->sp; }
uintptr_t ath_trap_fault_address(const struct ath_trap_frame *f) { return is_abort(f) ? f->far : 0; }
bool ath_trap_fault_was_write(const struct ath_trap_frame *f)
{
    unsigned ec = exception_class(f);
    return is_abort(f) && (ec == EC_DATA_ABORT || ec == EC_DATA_ABORT_EL0) &&
           (f->esr & ESR_WNR) && !(f->esr & ESR_CM);
}

/* PSTATE.M: EL1 on SP_EL1 (EL1h) or on SP_EL0 (EL1t), interrupt masks kept. */
#define PSTATE_MODE_MASK 0xfu
#define PSTATE_EL1T 0x4u
#define PSTATE_EL1H 0x5u

void ath_trap_resume_longjmp(struct ath_trap_frame *f, const struct ath_jmp_buf *buf, int value)
{
    for (unsigned i = 0; i < 10; i++)
        f->x[19 + i] = buf->x19_x28[i];
    f->x[29] = buf->fp;
    f->x[30] = buf->lr;
    f->sp = buf->sp;
    f->pc = buf->lr;
    f->x[0] = value == 0 ? 1 : (uint64_t)(unsigned)value;
    f->pstate = (f->pstate & ~(uint64_t)PSTATE_MODE_MASK) | (buf->spsel ? PSTATE_EL1H : PSTATE_EL1T);
}

uintptr_t ath_arch_trap_vmctx(const struct ath_trap_frame *f) { return f->x[28]; }

void ath_arch_trap_redirect(struct ath_trap_frame *f, uintptr_t kstack_top,
                            void (*target)(void *vmctx, uint32_t code, uintptr_t pc), uint32_t code)
{
    /* As a kernel call's entry leaves the kernel stack (kcall.S): the interrupted sp and a
     * return address (none: target never returns) at the top; the target runs there, on
     * SP_EL1 (EL1h). Those two words overlap the end of this frame (fp_record, pad), which the
     * exit path does not read. */
    uint64_t *top = (uint64_t *)kstack_top;
    top[-2] = f->sp;
    top[-1] = 0;
    f->sp = (uint64_t)(uintptr_t)&top[-2];
    f->x[0] = f->x[28];
    f->x[1] = code;
    f->x[2] = f->pc;
    f->x[30] = 0;
    f->pc = (uint64_t)(uintptr_t)target;
    f->pstate = (f->pstate & ~(uint64_t)PSTATE_MODE_MASK) | PSTATE_EL1H;
}

uintptr_t ath_arch_kcall_return_address(uintptr_t kstack_top, uintptr_t stack_bottom,
                                        uintptr_t stack_top)
{
    const uint64_t *top = (const uint64_t *)kstack_top;
    if (top[-2] < stack_bottom || top[-2] > stack_top)
        return 0;
    return (uintptr_t)top[-1];
}

/* udf #0: 00 00 00 00 */
bool ath_arch_is_trap_instruction(const uint8_t *pc, const uint8_t *end)
{
    return end - pc >= 4 && ((uintptr_t)pc & 3) == 0 && *(const uint32_t *)pc == 0;
}

void ath_arch_fill_trap_instructions(uint8_t *code, size_t size)
{
    memset(code, 0, size);
    /* The code is about to be executed: clean to the point of unification, drop the
     * instruction cache's copy. */
    for (size_t i = 0; i < size; i += 64)
        __asm__ volatile("dc cvau, %0" : : "r"(code + i) : "memory");
    __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" : : : "memory");
}

static void print_abort_detail(const struct ath_trap_frame *f)
{
    static const char *const kinds[] = { "address size", "translation", "access flag", "permission" };
    unsigned status = f->esr & 0x3f;
    if (status < 16)
        ath_kprintf(" [%s%s level %u]", ath_trap_fault_was_write(f) ? "write " : "",
                    kinds[status >> 2], status & 3);
}

static void print_report(const struct ath_trap_frame *f)
{
    ath_kprintf("[athanor] exception: %s", class_name(f));
    if (synchronous(f)) {
        ath_kprintf(", EC 0x%x, esr 0x%lx", exception_class(f), f->esr);
        if (is_abort(f))
            print_abort_detail(f);
    }
    ath_kprintf("\n[athanor]   pc 0x%016lx", f->pc);
    ath_fault_describe_address(f->pc);
    ath_kprintf("\n");
    /* A fault at a callee's first instructions leaves the interesting code in the link
     * register. */
    if (!ath_code_region_find(f->pc) && ath_code_region_find(f->x[30])) {
        ath_kprintf("[athanor]   return address 0x%016lx", f->x[30]);
        ath_fault_describe_address(f->x[30]);
        ath_kprintf("\n");
    }
    if (is_abort(f)) {
        ath_kprintf("[athanor]   far 0x%016lx", f->far);
        if (f->far < ATH_PAGE_SIZE)
            ath_kprintf(" (null pointer)");
        ath_fault_describe_address(f->far);
        ath_kprintf("\n");
        const struct ath_kstack *k = ath_fault_guard_stack(f->far);
        if (k)
            ath_kprintf("[athanor]   stack overflow: guard page of the %s [0x%lx, 0x%lx)\n",
                        k->name, k->guard, k->guard + ATH_PAGE_SIZE);
        uintptr_t base;
        size_t size;
        if (ath_vm_reservation_of(f->far, &base, &size))
            ath_kprintf("[athanor]   inside reservation [0x%lx, 0x%lx) at +0x%lx, not mapped there\n",
                        base, base + size, f->far - base);
    }
    ath_kprintf("[athanor]   sp 0x%016lx  pstate 0x%lx\n", f->sp, f->pstate);
    for (unsigned i = 0; i < 31; i += 4) {
        ath_kprintf("[athanor]  ");
        for (unsigned j = i; j < i + 4 && j < 31; j++)
            ath_kprintf(" x%-2u 0x%016lx", j, f->x[j]);
        ath_kprintf("\n");
    }
    ath_fault_print_backtrace(f->x[29]);
    ath_kprintf("[athanor]   (reported from the %s)\n", ath_fault_current_stack_name());
}

/* An exception taken with SP_EL1 too near its stack's bottom, on the overflow stack
 * (vectors.S): reported as what it was, with the stack it ran out of, then a panic. */
static ATH_NORETURN void stack_overflow(struct ath_trap_frame *f)
{
    f->sp = sysreg_read(tpidrro_el0);
    f->source = 4;                      /* as taken: EL1 on SP_EL1, synchronous or not */
    uintptr_t bottom = sysreg_read(tpidr_el0) - STACK_MARGIN;
    const struct ath_kstack *k = ath_fault_guard_stack(bottom - 1);
    ath_kprintf("[athanor] kernel stack overflow: an exception was taken with sp 0x%lx, less than "
                "%u bytes above the bottom (0x%lx) of the %s\n", f->sp, STACK_MARGIN, bottom,
                k ? k->name : "kernel stack");
    print_report(f);
    ath_fail(ATH_FAIL_PANIC);
}

void ath_trap(struct ath_trap_frame *f)
{
    if (f->source == SOURCE_OVERFLOW)
        stack_overflow(f);
    if (++trap_depth > 1) {
        ath_kprintf("[athanor] nested exception: %s (esr 0x%lx) at pc 0x%lx", class_name(f), f->esr, f->pc);
        if (is_abort(f))
            ath_kprintf(" far 0x%lx", f->far);
        ath_kprintf(" while handling esr 0x%lx from pc 0x%lx\n", outer_esr, outer_pc);
        ath_fail(ATH_FAIL_PANIC);
    }
    outer_esr = f->esr;
    outer_pc = f->pc;

    if (synchronous(f) && ath_fault_hook && !ath_is_panicking() && ath_fault_hook(f)) {
        trap_depth--;
        return;
    }
    if (ath_is_panicking()) {
        ath_kprintf("[athanor] exception during panic: %s at pc 0x%lx\n", class_name(f), f->pc);
        ath_arch_exit(ATH_FAIL_PANIC);
    }
    print_report(f);
    ath_fail(ATH_FAIL_PANIC);
}
