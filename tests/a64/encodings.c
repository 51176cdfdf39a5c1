/*
 * One of every instruction form the AArch64 back end emits (alkahest/src/aarch64/asm.c), in a
 * buffer written to stdout: tests/test_a64_encoder.py disassembles it with binutils'
 * aarch64-linux-gnu-objdump and compares each line with what is written here after `//`
 * (LABEL: the address the label is bound to).
 */
#include <stdio.h>
#include <stdlib.h>

#include "aarch64/asm.h"

static void *grab(void *user, size_t n) { (void)user; return malloc(n); }
static void drop(void *user, void *p) { (void)user; free(p); }

int main(void)
{
    alk_allocator allocator = { grab, drop, NULL };
    alk_code code, *c = &code;
    alk_code_init(c, &allocator);
    a64_mov_imm(c, true, 0, 0);                         // mov x0, #0x0
    a64_mov_imm(c, true, 1, 0x1234);                    // mov x1, #0x1234
    a64_mov_imm(c, true, 2, 0x12340000);                // mov x2, #0x12340000
    a64_mov_imm(c, true, 3, 0xffffffffffff1234ull);     // mov x3, #0xffffffffffff1234
    a64_mov_imm(c, true, 4, 0x00ff00ff00ff00ffull);     // mov x4, #0xff00ff00ff00ff
    a64_mov_imm(c, false, 6, 0xfffffffe);               // mov w6, #0xfffffffe
    a64_mov_imm(c, false, 6, 0xffffffff);               // mov w6, #0xffffffff
    a64_mov_imm(c, true, 6, ~0ull);                     // mov x6, #0xffffffffffffffff
    a64_mov_imm(c, true, 7, 0x8000000000000000ull);     // mov x7, #0x8000000000000000
    a64_mov(c, true, 8, 9);                             // mov x8, x9
    a64_mov_sp(c, 29, 31);                              // mov x29, sp
    a64_addsub_imm(c, true, A64_SUB, true, 31, 3, 12, false);   // cmp x3, #0xc
    a64_addsub(c, false, A64_SUB, false, 1, 2, 3);      // sub w1, w2, w3
    a64_addsub_uxtw(c, A64_ADD, 16, 27, 5);             // add x16, x27, w5, uxtw
    a64_addsub_sp(c, A64_SUB, 16, 31, 16);              // sub x16, sp, x16
    a64_cmp_imm(c, true, 4, -5);                        // cmn x4, #0x5
    a64_logic_imm(c, true, A64_AND, 1, 2, 0xff);        // and x1, x2, #0xff
    a64_logic_imm(c, false, A64_EOR, 1, 2, 0x80000000); // eor w1, w2, #0x80000000
    a64_logic(c, true, A64_EOR, 1, 2, 3);               // eor x1, x2, x3
    a64_mvn(c, false, 3, 4);                            // mvn w3, w4
    a64_shift_reg(c, true, A64_ROR, 1, 2, 3);           // ror x1, x2, x3
    a64_shift_imm(c, false, A64_LSL, 1, 2, 5);          // lsl w1, w2, #5
    a64_shift_imm(c, true, A64_LSR, 1, 2, 5);           // lsr x1, x2, #5
    a64_shift_imm(c, true, A64_ASR, 1, 2, 63);          // asr x1, x2, #63
    a64_shift_imm(c, false, A64_ROR, 1, 2, 7);          // ror w1, w2, #7
    a64_mul(c, true, 1, 2, 3);                          // mul x1, x2, x3
    a64_msub(c, false, 1, 2, 3, 4);                     // msub w1, w2, w3, w4
    a64_div(c, true, true, 1, 2, 3);                    // sdiv x1, x2, x3
    a64_div(c, false, false, 1, 2, 3);                  // udiv w1, w2, w3
    a64_umulh(c, 1, 2, 16);                             // umulh x1, x2, x16
    a64_clz(c, true, 1, 2);                             // clz x1, x2
    a64_rbit(c, false, 1, 2);                           // rbit w1, w2
    a64_sign_extend(c, true, 1, 2, 4);                  // sxtw x1, w2
    a64_sign_extend(c, false, 1, 2, 1);                 // sxtb w1, w2
    a64_sign_extend(c, true, 1, 2, 2);                  // sxth x1, w2
    a64_ccmp_imm(c, false, 3, 1, 0, A64_EQ);            // ccmp w3, #0x1, #0x0, eq
    a64_csel(c, true, A64_NE, 1, 2, 3);                 // csel x1, x2, x3, ne
    a64_cset(c, 4, A64_HI);                             // cset w4, hi
    a64_bfxil_low(c, true, 17, 16, 63);                 // bfxil x17, x16, #0, #63
    a64_load(c, false, 1, 27, 8, 4, false);             // ldr w1, [x27, #8]
    a64_load(c, true, 1, 31, 32760, 8, false);          // ldr x1, [sp, #32760]
    a64_load(c, true, 1, 29, -16, 8, false);            // ldur x1, [x29, #-16]
    a64_load(c, false, 1, 2, 3, 1, true);               // ldrsb w1, [x2, #3]
    a64_load(c, true, 1, 2, 6, 2, true);                // ldrsh x1, [x2, #6]
    a64_load(c, true, 1, 2, 4, 4, true);                // ldrsw x1, [x2, #4]
    a64_store(c, 2, 3, 4, 10);                          // strh w3, [x4, #10]
    a64_store(c, 8, 31, 31, 8);                         // str xzr, [sp, #8]
    a64_load_index(c, false, 1, 27, 5, true, 4, false); // ldr w1, [x27, w5, uxtw]
    a64_load_index(c, false, 1, 27, 5, true, 2, false); // ldrh w1, [x27, w5, uxtw]
    a64_store_index(c, 1, 1, 27, 5, true);              // strb w1, [x27, w5, uxtw]
    a64_load_entry(c, 8, 8, 5);                         // ldr x8, [x8, w5, uxtw #3]
    a64_store_entry(c, 3, 16, 5);                       // str x3, [x16, w5, uxtw #3]
    a64_load_word_entry(c, 17, 16, 3);                  // ldrsw x17, [x16, w3, uxtw #2]
    a64_fload(c, 4, 1, 31, 8);                          // ldr s1, [sp, #8]
    a64_fstore(c, 8, 2, 29, -8);                        // stur d2, [x29, #-8]
    a64_fload_index(c, 8, 3, 27, 5, true);              // ldr d3, [x27, w5, uxtw]
    a64_stp(c, false, 29, 30, 31, -16, true);           // stp x29, x30, [sp, #-16]!
    a64_ldp(c, false, 29, 30, 31, 16, true);            // ldp x29, x30, [sp], #16
    a64_stp(c, true, 9, 8, 29, -32, false);             // stp d9, d8, [x29, #-32]
    a64_zero_pair_post(c, 16);                          // stp xzr, xzr, [x16], #16
    a64_br(c, 16);                                      // br x16
    a64_blr(c, 17);                                     // blr x17
    a64_ret(c);                                         // ret
    a64_udf(c);                                         // udf #0
    a64_fop2(c, 8, A64_FADD, 0, 1, 2);                  // fadd d0, d1, d2
    a64_fop2(c, 4, A64_FMIN, 0, 1, 2);                  // fmin s0, s1, s2
    a64_fop2(c, 8, A64_FMAX, 0, 1, 2);                  // fmax d0, d1, d2
    a64_fop1(c, 8, A64_FSQRT, 0, 1);                    // fsqrt d0, d1
    a64_fop1(c, 8, A64_FCVT_TO_S, 0, 1);                // fcvt s0, d1
    a64_fop1(c, 4, A64_FCVT_TO_D, 0, 1);                // fcvt d0, s1
    a64_fop1(c, 4, A64_FRINTN, 0, 1);                   // frintn s0, s1
    a64_fop1(c, 8, A64_FRINTM, 0, 1);                   // frintm d0, d1
    a64_fop1(c, 8, A64_FNEG, 0, 1);                     // fneg d0, d1
    a64_fop1(c, 4, A64_FABS, 0, 1);                     // fabs s0, s1
    a64_fcmp(c, 4, 1, 2);                               // fcmp s1, s2
    a64_fcsel(c, 8, A64_GT, 0, 1, 2);                   // fcsel d0, d1, d2, gt
    a64_fmov_to_fp(c, 4, 1, 2);                         // fmov s1, w2
    a64_fmov_from_fp(c, 8, 1, 2);                       // fmov x1, d2
    a64_int_to_fp(c, 8, true, true, 0, 1);              // scvtf d0, x1
    a64_int_to_fp(c, 4, false, false, 0, 1);            // ucvtf s0, w1
    a64_fp_to_int(c, 8, false, true, 0, 1);             // fcvtzs w0, d1
    a64_fp_to_int(c, 4, true, false, 0, 1);             // fcvtzu x0, s1
    a64_fmov_bits(c, 8, 0, 0x3ff0000000000000ull);      // fmov d0, #1.000000000000000000e+00
    a64_fmov_bits(c, 4, 0, 0xc1000000u);                // fmov s0, #-8.000000000000000000e+00
    a64_fmov_bits(c, 4, 0, 0);                          // fmov d0, xzr
    a64_popcount(c, 31);                                // cnt v31.8b, v31.8b
                                                        // addv b31, v31.8b
    uint32_t label = alk_code_new_label(c);
    alk_code_bind(c, label);
    a64_b(c, label);                                    // b LABEL
    a64_bcond(c, A64_LT, label);                        // b.lt LABEL
    a64_cbz(c, false, true, 5, label);                  // cbnz w5, LABEL
    a64_adr(c, 16, label);                              // adr x16, LABEL
    if (!a64_resolve(c))
        return 1;
    fwrite(c->bytes, 1, c->size, stdout);
    alk_code_free(c);
    return 0;
}
