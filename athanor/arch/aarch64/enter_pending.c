/*
 * Stand-in for Alkahest's AArch64 entry trampoline (alkahest/runtime/enter_aarch64.S, issue
 * 14), linked only while the runtime has none: the kernel builds, boots, runs its self-tests
 * and verifies images, and refuses to run module code. The Makefile drops this file as soon
 * as the trampoline exists.
 */
#include "kernel.h"
#include "alkahest_runtime.h"

struct alk_call;
uint32_t alk_enter(alk_entry_frame *frame, struct alk_call *call);

uint32_t alk_enter(alk_entry_frame *frame, struct alk_call *call)
{
    (void)frame;
    (void)call;
    ath_kprintf("[athanor] boot error: this kernel cannot run module code on AArch64 yet "
                "(Alkahest's AArch64 entry, issue 14)\n");
    ath_fail(ATH_FAIL_BOOT);
}

void alk_unwind(alk_entry_frame *frame, uint32_t code)
{
    (void)frame;
    (void)code;
    ath_panic("alk_unwind without alk_enter");
}
