/*
 * Exception handling: ath_trap is called by vectors.S for vectors 0..31.
 *
 * Order: record CR2, detect nesting, give the fault hook its chance
 * (resume if it says so), else print the report and fail with
 * ATH_FAIL_PANIC. The report:
 *
 *   [athanor] exception: vector 14 (page fault #PF), error 0x2 [write not-present]
 *   [athanor]   rip 0x...  in module NAME+0x1c
 *   [athanor]   cr2 0x...
 *   [athanor]   rsp 0x...  rflags 0x...  cs 0x8  ss 0x10
 *   [athanor]   rax ... (all general registers)
 *   [athanor]   backtrace: ...
 *
 * Exceptions cannot interleave except as nesting (one CPU, interrupts off),
 * so a depth counter is the whole of the nesting check.
 */
#include "kernel.h"
#include "x86.h"

static const char *const vector_names[32] = {
    "divide error #DE", "debug #DB", "NMI", "breakpoint #BP",
    "overflow #OF", "bound range #BR", "invalid opcode #UD", "device not available #NM",
    "double fault #DF", "coprocessor segment overrun", "invalid TSS #TS", "segment not present #NP",
    "stack fault #SS", "general protection #GP", "page fault #PF", "reserved 15",
    "x87 floating point #MF", "alignment check #AC", "machine check #MC", "SIMD floating point #XM",
    "virtualization #VE", "control protection #CP", "reserved 22", "reserved 23",
    "reserved 24", "reserved 25", "reserved 26", "reserved 27",
    "hypervisor injection #HV", "VMM communication #VC", "security #SX", "reserved 31",
};

static unsigned trap_depth;
static uint64_t outer_vector;
static uint64_t outer_rip;

bool (*ath_fault_hook)(struct ath_trap_frame *frame);

static const char *vector_name(uint64_t vector)
{
    return vector < 32 ? vector_names[vector] : "unknown";
}

enum ath_trap_kind ath_trap_kind(const struct ath_trap_frame *f)
{
    switch (f->vector) {
    case 0: return ATH_TRAP_DIVIDE;
    case 3: return ATH_TRAP_BREAKPOINT;
    case 6: return ATH_TRAP_INVALID_OPCODE;
    case 12: case 13: return ATH_TRAP_PROTECTION;
    case 14: return ATH_TRAP_PAGE_FAULT;
    case 16: case 19: return ATH_TRAP_FLOATING_POINT;
    default: return ATH_TRAP_OTHER;
    }
}

uintptr_t ath_trap_pc(const struct ath_trap_frame *f) { return f->rip; }
uintptr_t ath_trap_sp(const struct ath_trap_frame *f) { return f->rsp; }
uintptr_t ath_trap_fault_address(const struct ath_trap_frame *f) { return f->vector == 14 ? f->cr2 : 0; }
bool ath_trap_fault_was_write(const struct ath_trap_frame *f) { return f->vector == 14 && (f->error & X86_PF_WRITE); }

void ath_trap_resume_longjmp(struct ath_trap_frame *f, const struct ath_jmp_buf *buf, int value)
{
    f->rbx = buf->rbx;
    f->rbp = buf->rbp;
    f->r12 = buf->r12;
    f->r13 = buf->r13;
    f->r14 = buf->r14;
    f->r15 = buf->r15;
    f->rsp = buf->rsp;
    f->rip = buf->rip;
    f->rax = value == 0 ? 1 : (uint64_t)(unsigned)value;
    f->rflags &= ~X86_RFLAGS_DF;    /* C code expects the direction flag clear */
}

uintptr_t ath_arch_trap_vmctx(const struct ath_trap_frame *f) { return f->r15; }

void ath_arch_trap_redirect(struct ath_trap_frame *f, uintptr_t kstack_top,
                            void (*target)(void *vmctx, uint32_t code, uintptr_t pc), uint32_t code)
{
    /* As a kernel call's entry leaves the kernel stack (kcall.S): the interrupted rsp at the
     * top, then a return address (none: target never returns) at a call's alignment. */
    uint64_t *top = (uint64_t *)kstack_top;
    top[-1] = f->rsp;
    top[-3] = 0;
    f->rsp = (uint64_t)(uintptr_t)&top[-3];
    f->rdi = f->r15;
    f->rsi = code;
    f->rdx = f->rip;
    f->rip = (uint64_t)(uintptr_t)target;
}

/* ud2: 0f 0b */
bool ath_arch_is_trap_instruction(const uint8_t *pc, const uint8_t *end)
{
    return end - pc >= 2 && pc[0] == 0x0f && pc[1] == 0x0b;
}

void ath_arch_fill_trap_instructions(uint8_t *code, size_t size)
{
    for (size_t i = 0; i + 2 <= size; i += 2) {
        code[i] = 0x0f;
        code[i + 1] = 0x0b;
    }
}

uintptr_t ath_arch_kcall_return_address(uintptr_t kstack_top, uintptr_t stack_bottom,
                                        uintptr_t stack_top)
{
    /* kcall.S saved the module's rsp at the top; [rsp] is the return address its call pushed. */
    uint64_t module_sp = ((const uint64_t *)kstack_top)[-1];
    if (module_sp < stack_bottom || module_sp > stack_top - 8)
        return 0;
    return (uintptr_t)*(const uint64_t *)(uintptr_t)module_sp;
}

static void print_page_fault_detail(const struct ath_trap_frame *f)
{
    ath_kprintf("[athanor]   cr2 0x%016lx", f->cr2);
    if (f->cr2 < ATH_PAGE_SIZE)
        ath_kprintf(" (null pointer)");
    ath_fault_describe_address(f->cr2);
    ath_kprintf("\n");

    const struct ath_kstack *k = ath_fault_guard_stack(f->cr2);
    if (k)
        ath_kprintf("[athanor]   stack overflow: guard page of the %s [0x%lx, 0x%lx)\n",
                    k->name, k->guard, k->guard + ATH_PAGE_SIZE);
    uintptr_t base;
    size_t size;
    if (ath_vm_reservation_of(f->cr2, &base, &size))
        ath_kprintf("[athanor]   inside reservation [0x%lx, 0x%lx) at +0x%lx, not mapped there\n",
                    base, base + size, f->cr2 - base);
}

static void print_error_code(const struct ath_trap_frame *f)
{
    ath_kprintf(", error 0x%lx", f->error);
    if (f->vector == 14) {
        ath_kprintf(" [%s %s%s%s]",
                    (f->error & X86_PF_FETCH) ? "fetch" : (f->error & X86_PF_WRITE) ? "write" : "read",
                    (f->error & X86_PF_PRESENT) ? "protection" : "not-present",
                    (f->error & X86_PF_RSVD) ? " reserved-bit" : "",
                    (f->error & X86_PF_USER) ? " user" : "");
    }
    ath_kprintf("\n");
}

static void print_report(const struct ath_trap_frame *f)
{
    ath_kprintf("[athanor] exception: vector %lu (%s)", f->vector, vector_name(f->vector));
    print_error_code(f);

    ath_kprintf("[athanor]   rip 0x%016lx", f->rip);
    ath_fault_describe_address(f->rip);
    ath_kprintf("\n");
    /* A fault at a callee's first instructions (or in a kernel function a
     * module called) leaves the interesting code one return address up. */
    if (!ath_code_region_find(f->rip) && ath_fault_readable_u64(f->rsp)) {
        uint64_t ret = *(uint64_t *)f->rsp;
        if (ath_code_region_find(ret)) {
            ath_kprintf("[athanor]   return address 0x%016lx", ret);
            ath_fault_describe_address(ret);
            ath_kprintf("\n");
        }
    }
    if (f->vector == 14)
        print_page_fault_detail(f);
    ath_kprintf("[athanor]   rsp 0x%016lx  rflags 0x%lx  cs 0x%lx  ss 0x%lx\n",
                f->rsp, f->rflags, f->cs, f->ss);
    ath_kprintf("[athanor]   rax 0x%016lx  rbx 0x%016lx  rcx 0x%016lx  rdx 0x%016lx\n",
                f->rax, f->rbx, f->rcx, f->rdx);
    ath_kprintf("[athanor]   rsi 0x%016lx  rdi 0x%016lx  rbp 0x%016lx  r8  0x%016lx\n",
                f->rsi, f->rdi, f->rbp, f->r8);
    ath_kprintf("[athanor]   r9  0x%016lx  r10 0x%016lx  r11 0x%016lx  r12 0x%016lx\n",
                f->r9, f->r10, f->r11, f->r12);
    ath_kprintf("[athanor]   r13 0x%016lx  r14 0x%016lx  r15 0x%016lx\n", f->r13, f->r14, f->r15);
    ath_fault_print_backtrace(f->rbp);
    ath_kprintf("[athanor]   (reported from the %s)\n", ath_fault_current_stack_name());
}

void ath_trap(struct ath_trap_frame *f)
{
    if (f->vector == 14)
        f->cr2 = x86_read_cr2();

    if (++trap_depth > 1) {
        ath_kprintf("[athanor] nested exception: vector %lu (%s) at rip 0x%lx",
                    f->vector, vector_name(f->vector), f->rip);
        if (f->vector == 14)
            ath_kprintf(" cr2 0x%lx", f->cr2);
        ath_kprintf(" while handling vector %lu (%s) from rip 0x%lx\n",
                    outer_vector, vector_name(outer_vector), outer_rip);
        ath_fail(ATH_FAIL_PANIC);
    }
    outer_vector = f->vector;
    outer_rip = f->rip;

    bool resumable = f->vector != 2 && f->vector != 8 && f->vector != 18;
    if (resumable && ath_fault_hook && !ath_is_panicking() && ath_fault_hook(f)) {
        trap_depth--;
        return;
    }
    if (ath_is_panicking()) {
        /* A fault while printing a panic: keep it short. */
        ath_kprintf("[athanor] exception during panic: vector %lu at rip 0x%lx\n", f->vector, f->rip);
        ath_arch_exit(ATH_FAIL_PANIC);
    }
    print_report(f);
    ath_fail(ATH_FAIL_PANIC);
}
