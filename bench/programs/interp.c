/* A branchy interpreter loop: a small stack-machine bytecode with switch dispatch, running a
 * program (assembled below, with labels) that sums the primes below N by trial division. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { PUSH, LOAD, STORE, ADD, MUL, MOD, LT, JZ, JMP, HALT };
enum { N, CANDIDATE, DIVISOR, SUM, IS_PRIME };

static int32_t code[256];
static int32_t length;
static int32_t labels[16];
static int32_t fixups[16][2];   /* (position, label) */
static int32_t fixup_count;

static void emit(int32_t word) { code[length++] = word; }
static void op(int32_t opcode, int32_t operand) { emit(opcode); emit(operand); }
static void jump(int32_t opcode, int32_t label)
{
    emit(opcode);
    fixups[fixup_count][0] = length;
    fixups[fixup_count++][1] = label;
    emit(0);
}
static void label(int32_t which) { labels[which] = length; }

static void assemble(void)
{
    enum { OUTER, INNER, NOT_PRIME, NEXT, DONE, AFTER_INNER };
    op(PUSH, 2); op(STORE, CANDIDATE);
    op(PUSH, 0); op(STORE, SUM);
    label(OUTER);
    op(LOAD, CANDIDATE); op(LOAD, N); emit(LT); jump(JZ, DONE);
    op(PUSH, 1); op(STORE, IS_PRIME);
    op(PUSH, 2); op(STORE, DIVISOR);
    label(INNER);                                   /* while divisor * divisor <= candidate */
    op(LOAD, DIVISOR); op(LOAD, DIVISOR); emit(MUL);
    op(LOAD, CANDIDATE); op(PUSH, 1); emit(ADD); emit(LT); jump(JZ, AFTER_INNER);
    op(LOAD, CANDIDATE); op(LOAD, DIVISOR); emit(MOD); jump(JZ, NOT_PRIME);
    op(LOAD, DIVISOR); op(PUSH, 1); emit(ADD); op(STORE, DIVISOR);
    jump(JMP, INNER);
    label(NOT_PRIME);
    op(PUSH, 0); op(STORE, IS_PRIME);
    label(AFTER_INNER);
    op(LOAD, IS_PRIME); jump(JZ, NEXT);
    op(LOAD, SUM); op(LOAD, CANDIDATE); emit(ADD); op(STORE, SUM);
    label(NEXT);
    op(LOAD, CANDIDATE); op(PUSH, 1); emit(ADD); op(STORE, CANDIDATE);
    jump(JMP, OUTER);
    label(DONE);
    emit(HALT);
    for (int32_t i = 0; i < fixup_count; i++)
        code[fixups[i][0]] = labels[fixups[i][1]];
}

static int64_t run(int64_t n)
{
    int64_t stack[64], locals[8] = { n };
    int32_t sp = 0, pc = 0;
    for (;;) {
        switch (code[pc++]) {
        case PUSH: stack[sp++] = code[pc++]; break;
        case LOAD: stack[sp++] = locals[code[pc++]]; break;
        case STORE: locals[code[pc++]] = stack[--sp]; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case MOD: sp--; stack[sp - 1] %= stack[sp]; break;
        case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case JZ: { int32_t target = code[pc++]; if (!stack[--sp]) pc = target; break; }
        case JMP: pc = code[pc]; break;
        case HALT: return locals[SUM];
        default: return -1;
        }
    }
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoi(argv[1]) : 200000;
    assemble();
    printf("sum of primes below %lld = %lld\n", (long long)n, (long long)run(n));
    return 0;
}
