/*
 * SIMD (v128) instructions. Filled in by the SIMD step.
 */
#include "llvm_tier.h"

bool opt_simd_instr(opt_function *f, const alk_instr *in)
{
    (void)f;
    (void)in;
    return false;
}
