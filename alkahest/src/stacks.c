/*
 * The operand stack and the control stack of the single-pass back ends (singlepass.h): their
 * storage, and the blocks' types; and constant folding. What a value's register or a block's
 * label means is the target's.
 */
#include "singlepass.h"

bool alk_fold_binary(alk_opcode op, bool wide, uint64_t a, uint64_t b, uint64_t *out)
{
    unsigned bits = wide ? 64 : 32;
    uint64_t mask = wide ? UINT64_MAX : UINT32_MAX;
    a &= mask;
    b &= mask;
    uint64_t r;
    switch (op) {
    case ALK_OP_I32_ADD: case ALK_OP_I64_ADD: r = a + b; break;
    case ALK_OP_I32_SUB: case ALK_OP_I64_SUB: r = a - b; break;
    case ALK_OP_I32_MUL: case ALK_OP_I64_MUL: r = a * b; break;
    case ALK_OP_I32_AND: case ALK_OP_I64_AND: r = a & b; break;
    case ALK_OP_I32_OR:  case ALK_OP_I64_OR:  r = a | b; break;
    case ALK_OP_I32_XOR: case ALK_OP_I64_XOR: r = a ^ b; break;
    case ALK_OP_I32_SHL: case ALK_OP_I64_SHL: r = a << (b & (bits - 1)); break;
    case ALK_OP_I32_SHR_U: case ALK_OP_I64_SHR_U: r = a >> (b & (bits - 1)); break;
    default: return false;
    }
    *out = r & mask;
    return true;
}

bool alk_operand_stack_grow(alk_operand_stack *s)
{
    if (s->height < s->capacity)
        return true;
    uint32_t capacity = s->capacity ? s->capacity * 2 : 64;
    value *fresh = s->allocator->alloc(s->allocator->user, capacity * sizeof *fresh);
    if (!fresh)
        return false;
    if (s->values) {
        alk_memcpy(fresh, s->values, s->height * sizeof *fresh);
        s->allocator->free(s->allocator->user, s->values);
    }
    s->values = fresh;
    s->capacity = capacity;
    return true;
}

control *alk_control_push(alk_control_stack *s, const alk_module *module,
                          const alk_functype *function_type, control_kind kind,
                          const alk_instr *in, uint32_t height)
{
    if (s->count == s->capacity) {
        uint32_t capacity = s->capacity ? s->capacity * 2 : 16;
        control *fresh = s->allocator->alloc(s->allocator->user, capacity * sizeof *fresh);
        if (!fresh)
            return NULL;
        if (s->entries) {
            alk_memcpy(fresh, s->entries, s->count * sizeof *fresh);
            /* a one-value block type lives in the entry itself: follow it to its new place */
            for (uint32_t i = 0; i < s->count; i++)
                if (s->entries[i].results == &s->entries[i].single)
                    fresh[i].results = &fresh[i].single;
            s->allocator->free(s->allocator->user, s->entries);
        }
        s->entries = fresh;
        s->capacity = capacity;
    }
    control *f = &s->entries[s->count++];
    alk_memset(f, 0, sizeof *f);
    f->kind = kind;
    if (kind == CTRL_FUNCTION) {
        f->param_count = 0;
        f->result_count = function_type->result_count;
        f->results = function_type->results;
    } else if (in->imm.block.kind == ALK_BLOCK_VALUE) {
        f->single = in->imm.block.value_type;
        f->result_count = 1;
        f->results = &f->single;
    } else if (in->imm.block.kind == ALK_BLOCK_TYPE) {
        const alk_functype *t = &module->types[in->imm.block.type_index];
        f->param_count = t->param_count;
        f->params = t->params;
        f->result_count = t->result_count;
        f->results = t->results;
    }
    f->height = height - f->param_count;
    return f;
}

void alk_control_pop(alk_control_stack *s, control *saved)
{
    control *f = &s->entries[s->count - 1];
    *saved = *f;
    if (saved->results == &f->single)
        saved->results = &saved->single;
    s->count--;
}

bool alk_control_skip_dead(alk_control_stack *s, const alk_instr *in)
{
    if (!alk_control_top(s)->unreachable)
        return false;
    switch (in->op) {
    case ALK_OP_BLOCK:
    case ALK_OP_LOOP:
    case ALK_OP_IF:
        s->dead_depth++;
        return true;
    case ALK_OP_END:
        if (s->dead_depth) {
            s->dead_depth--;
            return true;
        }
        return false;
    case ALK_OP_ELSE:
        return s->dead_depth != 0;
    default:
        return true;
    }
}

void alk_stacks_free(alk_operand_stack *operands, alk_control_stack *controls)
{
    operands->allocator->free(operands->allocator->user, operands->values);
    controls->allocator->free(controls->allocator->user, controls->entries);
    operands->values = NULL;
    operands->capacity = 0;
    controls->entries = NULL;
    controls->capacity = 0;
}
