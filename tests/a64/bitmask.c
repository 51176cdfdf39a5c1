/*
 * a64_bitmask (alkahest/src/aarch64/asm.c) against the architecture's own decoding
 * (DecodeBitMasks, Arm ARM shared pseudocode): every encoding of a logical immediate, for 32-
 * and 64-bit operations, must come back from its value, and values with none must get none.
 * Built and run by tests/test_a64_encoder.py; exits 1 on any mismatch.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
bool a64_bitmask(uint64_t imm, bool sf, uint32_t *encoding);
/* the reference: brute force over every encoding, expanded (DecodeBitMasks) */
static bool expand(uint32_t n, uint32_t immr, uint32_t imms, bool sf, uint64_t *out) {
    uint32_t combined = n << 6 | (~imms & 0x3f);
    int len = -1; for (int i = 6; i >= 0; i--) if (combined & (1u << i)) { len = i; break; }
    if (len < 1) return false;
    if (!sf && n) return false;
    unsigned size = 1u << len; uint32_t levels = size - 1;
    uint32_t s = imms & levels, r = immr & levels;
    if (s == levels) return false;
    uint64_t run = (s + 1 == 64) ? UINT64_MAX : ((1ull << (s + 1)) - 1);
    uint64_t emask = size == 64 ? UINT64_MAX : (1ull << size) - 1;
    uint64_t e = r ? (((run >> r) | (run << (size - r))) & emask) : run;
    uint64_t v = 0; for (unsigned i = 0; i < 64; i += size) v |= e << i;
    if (!sf) v &= 0xffffffffu;
    *out = v; return true;
}
int main(void) {
    long checked = 0, bad = 0;
    for (int sf = 0; sf < 2; sf++)
    for (uint32_t n = 0; n < 2; n++) for (uint32_t r = 0; r < 64; r++) for (uint32_t s = 0; s < 64; s++) {
        uint64_t v; if (!expand(n, r, s, sf, &v)) continue;
        uint32_t enc; checked++;
        if (!a64_bitmask(v, sf, &enc)) { bad++; printf("missed %llx\n", (unsigned long long)v); continue; }
        uint64_t back; if (!expand(enc >> 12, (enc >> 6) & 63, enc & 63, sf, &back) || back != v) { bad++; printf("wrong %llx\n", (unsigned long long)v); }
    }
    /* and some values that must not encode */
    uint64_t no[] = {0, ~0ull, 0x55, 0x12345678, 0xfff1, 0x8000000000000001ull + 2};
    for (unsigned i = 0; i < sizeof no / sizeof no[0]; i++) { uint32_t e; if (a64_bitmask(no[i], true, &e)) { uint64_t b; expand(e>>12,(e>>6)&63,e&63,true,&b); if (b != no[i]) {bad++; printf("false %llx\n",(unsigned long long)no[i]);} } }
    printf("%ld encodings checked, %ld bad\n", checked, bad);
    return bad != 0;
}
