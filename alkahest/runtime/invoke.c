/*
 * Calling compiled code from C: lays the arguments out per the calling convention of
 * docs/abi.md (System V or AAPCS64 with the callee's vmctx first) and enters through the
 * target's entry trampoline (enter_x86_64.S, enter_aarch64.S), which saves what a trap must
 * restore.
 */
#include <stddef.h>

#include "enter.h"
#include "runtime.h"

/* Parameters passed in registers: integer class (after the vmctx), float class. */
#if defined(__aarch64__)
#define GPR_ARGUMENTS 7         /* x1..x7 */
#else
#define GPR_ARGUMENTS 5         /* rsi rdx rcx r8 r9 */
#endif
#define FPR_ARGUMENTS 8

/* What the trampoline reads and writes, at enter.h's offsets. */
typedef struct alk_call {
    const void *code;
    void *vmctx;
    uint64_t fprs[16];          /* 8 registers, two words each (a v128 fills both) */
    uint64_t gprs[7];
    const uint64_t *stack;
    uint64_t stack_count;       /* words */
    uint64_t extra_results;     /* words */
    uint64_t float_result[2];   /* out */
    uint64_t int_result;        /* out */
    uint64_t *extra_out;
} alk_call;

_Static_assert(offsetof(alk_call, code) == ALK_CALL_CODE, "enter.h");
_Static_assert(offsetof(alk_call, vmctx) == ALK_CALL_VMCTX, "enter.h");
_Static_assert(offsetof(alk_call, gprs) == ALK_CALL_GPRS, "enter.h");
_Static_assert(offsetof(alk_call, fprs) == ALK_CALL_FPRS, "enter.h");
_Static_assert(offsetof(alk_call, stack) == ALK_CALL_STACK, "enter.h");
_Static_assert(offsetof(alk_call, stack_count) == ALK_CALL_STACK_COUNT, "enter.h");
_Static_assert(offsetof(alk_call, extra_results) == ALK_CALL_EXTRA_RESULTS, "enter.h");
_Static_assert(offsetof(alk_call, int_result) == ALK_CALL_INT_RESULT, "enter.h");
_Static_assert(offsetof(alk_call, float_result) == ALK_CALL_FLOAT_RESULT, "enter.h");
_Static_assert(offsetof(alk_call, extra_out) == ALK_CALL_EXTRA_OUT, "enter.h");
_Static_assert(sizeof(alk_entry_frame) == 8 * ALK_FRAME_WORDS &&
               ALK_ENTRY_FRAME_SP == ALK_FRAME_SP_WORD, "enter.h");

uint32_t alk_enter(alk_entry_frame *frame, alk_call *call);

#define MAX_STACK_VALUES 1024


uint32_t alk_invoke_ref(const alk_function_ref *ref, const char *sig, uint32_t length,
                        const uint64_t *args, uint64_t *results, alk_entry_frame *frame)
{
    alk_call call = { .code = ref->code, .vmctx = ref->vmctx };
    uint64_t stack[MAX_STACK_VALUES];
    uint64_t extra[MAX_STACK_VALUES];
    uint32_t gprs = 0, fprs = 0, i = 0, arg = 0;
    for (; i < length && sig[i] != ':'; i++) {
        char letter = sig[i];
        unsigned words = alk_letter_words(letter);
        if (alk_letter_in_fpr(letter) && fprs < FPR_ARGUMENTS) {
            call.fprs[2 * fprs] = args[arg];
            call.fprs[2 * fprs + 1] = words == 2 ? args[arg + 1] : 0;
            fprs++;
        } else if (!alk_letter_in_fpr(letter) && gprs < GPR_ARGUMENTS) {
            call.gprs[gprs++] = args[arg];
        } else {
            /* 8 bytes each on the stack; a v128 16 bytes, 16-aligned (the stack pointer is at the call) */
            if (words == 2 && call.stack_count % 2)
                stack[call.stack_count++] = 0;
            if (call.stack_count + words > MAX_STACK_VALUES)
                return ALK_TRAP_STACK_EXHAUSTED;
            for (unsigned w = 0; w < words; w++)
                stack[call.stack_count++] = args[arg + w];
        }
        arg += words;
    }
    const char *result_types = sig + i + 1;
    uint32_t result_count = i < length ? length - i - 1 : 0;
    call.stack = stack;
    for (uint32_t r = 1; r < result_count; r++)
        call.extra_results += alk_letter_words(result_types[r]);
    if (call.extra_results > MAX_STACK_VALUES)
        return ALK_TRAP_STACK_EXHAUSTED;
    call.extra_out = extra;
    uint32_t code = alk_enter(frame, &call);
    if (code)
        return code;
    uint32_t out = 0, from = 0;
    for (uint32_t r = 0; r < result_count; r++) {
        char letter = result_types[r];
        unsigned words = alk_letter_words(letter);
        for (unsigned w = 0; w < words; w++) {
            if (r == 0)
                results[out + w] = alk_letter_in_fpr(letter) ? call.float_result[w] : call.int_result;
            else
                results[out + w] = extra[from++];
        }
        if (alk_letter_bytes(letter) == 4)
            results[out] &= UINT32_MAX;
        out += words;
    }
    return 0;
}

uint32_t alk_invoke(alk_instance *inst, uint32_t function, const uint64_t *args,
                    uint64_t *results, alk_entry_frame *frame)
{
    uint32_t type = alk_object_function_type(inst->object, function);
    alk_str sig = alk_object_type(inst->object, type);
    return alk_invoke_ref(rt_function_ref(inst, function), sig.bytes, sig.length, args, results,
                          frame);
}
