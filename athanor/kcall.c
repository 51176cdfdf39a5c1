/*
 * Kernel calls: the one way compiled code enters the kernel. Every kernel function a module
 * may call — the kernel ABI's imports (athanor.* and WASI, abi.c), the runtime's builtins and
 * the trap handler (wasm.c) — is reached through an entry (arch/<arch>/kcall.S) that leaves
 * the module's stack for the running task's kernel stack, calls the function with the same
 * arguments, and comes back. So kernel code never runs on a stack whose depth a module chose,
 * and a kernel function's frames never share a stack with Wasm frames (docs/runtime.md,
 * "Stacks").
 *
 * A kernel call is registered once, at boot, with the Wasm parameter types of the function
 * (after the vmctx): they say how many of its arguments the calling convention passes on the
 * stack (docs/abi.md), which the entry copies.
 */
#include "kernel.h"

/* Read by kcall.S: keep the layout (16 bytes: target, stack words). */
struct ath_kcall {
    const void *target;
    uint64_t stack_words;
};
_Static_assert(sizeof(struct ath_kcall) == 16, "kcall.S indexes ath_kcalls by 16 bytes");

struct ath_kcall ath_kcalls[ATH_KCALLS_MAX];
static unsigned kcall_count;

/* Arguments the C convention of docs/abi.md passes on the stack: integers after the vmctx and
 * the registers left, floats after their registers. */
static uint64_t stack_words(const char *params)
{
    unsigned integers = 1, floats = 0;          /* the vmctx */
    uint64_t words = 0;
    for (const char *p = params; *p; p++) {
        if (alk_letter_is_float(*p) ? floats++ >= ATH_ARCH_FLOAT_ARGUMENT_REGISTERS
                                    : integers++ >= ATH_ARCH_INTEGER_ARGUMENT_REGISTERS)
            words++;
    }
    return words;
}

const void *ath_kcall_entry(const void *target, const char *params)
{
    uint64_t words = stack_words(params);
    for (unsigned i = 0; i < kcall_count; i++)
        if (ath_kcalls[i].target == target && ath_kcalls[i].stack_words == words)
            return ath_arch_kcall_stubs + ATH_ARCH_KCALL_STUB_SIZE * i;
    if (kcall_count == ATH_KCALLS_MAX)
        ath_panic("more than %d kernel calls (ATH_KCALLS_MAX)", ATH_KCALLS_MAX);
    ath_kcalls[kcall_count] = (struct ath_kcall){ target, words };
    return ath_arch_kcall_stubs + ATH_ARCH_KCALL_STUB_SIZE * kcall_count++;
}

uintptr_t ath_kcall_return_address(void)
{
    const struct ath_task *task = ath_task_current();
    ath_assert(task);
    return ath_arch_kcall_return_address(task->kstack.top, task->stack.bottom, task->stack.top);
}
