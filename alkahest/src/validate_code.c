/*
 * Function bodies: decoding and type-checking in one pass, after appendix/algorithm.rst.
 *
 * Requires the module-level rules to hold (type indices of functions, limits): alk_validate()
 * checks those first. Two stacks, both growable arrays, so nesting costs heap, never C stack:
 *
 *   operands  [ i32 f64 ? ... ]        value types; ? (UNKNOWN) comes from a polymorphic stack
 *   frames    [ fn | block | if ... ]  height: operands below the frame's own; unreachable: the
 *                                      rest of the frame follows an unconditional branch
 *
 * Most instructions are checked from their opcodes.def signature (apply_signature); the ones
 * marked SPECIAL there have a case below. Scratch buffers are reused across functions and come
 * from the module's allocator.
 */
#include "alk_internal.h"

#define UNKNOWN 0

/* An operand's type on the stack: an alk_valtype, held in 16 bits so that stores to the stack
 * (unlike byte stores) cannot alias the checker's fields, which then stay in registers. */
typedef uint16_t slot;

typedef struct frame {
    uint16_t opcode;          /* ALK_OP_BLOCK (also the function's), LOOP, IF or ELSE */
    bool unreachable;
    uint32_t height;
    uint32_t param_count;
    uint32_t result_count;
    const alk_valtype *params;
    const alk_valtype *results;
} frame;

typedef struct checker {
    const alk_module *module;
    alk_diag *diag;
    alk_allocator allocator;
    uint32_t function;

    slot *stack;
    uint32_t height, stack_capacity;
    frame *frames;
    frame *top; /* frames[depth - 1] */
    uint32_t depth, frame_capacity;

    /* Locals: parameters then declared locals. The first dense_local_count have their type in
     * `locals`; the rest (functions declaring many locals in a short body) are found by binary
     * search over group_ends, the running totals of the local groups. */
    alk_valtype *locals;
    uint32_t dense_local_count, local_count, local_capacity;
    uint32_t *group_ends;
    uint32_t group_capacity;
    uint32_t param_count;
    const alk_function *current;
} checker;

#define FAIL(c, code, offset, ...) alk_fail((c)->diag, code, offset, (c)->function, __VA_ARGS__)
#define TRY(expr)                                                                          \
    do {                                                                                   \
        int code_ = (expr);                                                                \
        if (code_ != ALK_OK)                                                               \
            return code_;                                                                  \
    } while (0)

/* ---- Scratch buffers ------------------------------------------------------------------------ */

static int grow(checker *c, void **buffer, uint32_t *capacity, uint32_t used, uint64_t needed,
                size_t size, uint32_t offset)
{
    uint64_t n = *capacity ? *capacity : 256;
    while (n < needed)
        n *= 2;
    void *p = c->allocator.alloc(c->allocator.user, (size_t)(n * size));
    if (!p)
        return FAIL(c, ALK_E_OUT_OF_MEMORY, offset, "");
    if (used)
        alk_memcpy(p, *buffer, (size_t)used * size);
    c->allocator.free(c->allocator.user, *buffer);
    *buffer = p;
    *capacity = (uint32_t)n;
    return ALK_OK;
}

/* apply_signature() reads three slots from its first operand up, which may reach past the
 * top: the stack has SLACK zeroed slots beyond its capacity. */
#define SLACK 4

static int reserve_operands(checker *c, uint64_t extra, uint32_t offset)
{
    uint64_t needed = (uint64_t)c->height + extra;
    if (needed <= c->stack_capacity)
        return ALK_OK;
    if (needed > ALK_MAX_OPERAND_STACK)
        return FAIL(c, ALK_E_IMPLEMENTATION_LIMIT, offset, ": more than %u operands on the stack",
                    ALK_MAX_OPERAND_STACK);
    uint64_t n = c->stack_capacity ? c->stack_capacity : 256;
    while (n < needed)
        n *= 2;
    if (n > ALK_MAX_OPERAND_STACK) /* so that the push past the limit comes back here */
        n = ALK_MAX_OPERAND_STACK;
    slot *stack = c->allocator.alloc(c->allocator.user, (size_t)(n + SLACK) * sizeof(slot));
    if (!stack)
        return FAIL(c, ALK_E_OUT_OF_MEMORY, offset, "");
    if (c->height)
        alk_memcpy(stack, c->stack, c->height * sizeof(slot));
    alk_memset(stack + c->height, 0, (size_t)(n + SLACK - c->height) * sizeof(slot));
    c->allocator.free(c->allocator.user, c->stack);
    c->stack = stack;
    c->stack_capacity = (uint32_t)n;
    return ALK_OK;
}

static void release(checker *c)
{
    c->allocator.free(c->allocator.user, c->stack);
    c->allocator.free(c->allocator.user, c->frames);
    c->allocator.free(c->allocator.user, c->locals);
    c->allocator.free(c->allocator.user, c->group_ends);
}

/* ---- Operand stack -------------------------------------------------------------------------- */

static bool is_num(alk_valtype t)
{
    return t == ALK_I32 || t == ALK_I64 || t == ALK_F32 || t == ALK_F64 || t == UNKNOWN;
}

static bool is_vec(alk_valtype t)
{
    return t == ALK_V128 || t == UNKNOWN;
}

static bool is_ref(alk_valtype t)
{
    return t == ALK_FUNCREF || t == ALK_EXTERNREF || t == UNKNOWN;
}

static const char *type_name(alk_valtype t)
{
    return t == UNKNOWN ? "any" : alk_valtype_name(t);
}

static frame *top_frame(checker *c)
{
    return c->top;
}

/* The operand on top of the current frame: its type, or false when there is none. */
static bool peek(checker *c, alk_valtype *type)
{
    const frame *f = top_frame(c);
    if (c->height == f->height) {
        *type = UNKNOWN;
        return f->unreachable;
    }
    *type = (alk_valtype)c->stack[c->height - 1];
    return true;
}

static int mismatch(checker *c, const alk_instr *in, alk_valtype expected)
{
    const frame *f = top_frame(c);
    if (c->height == f->height)
        return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": %s expects %s, found nothing",
                    alk_opcode_text(in->op), type_name(expected));
    return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": %s expects %s, found %s", alk_opcode_text(in->op),
                type_name(expected), type_name((alk_valtype)c->stack[c->height - 1]));
}

/* pop_val(expect) of the algorithm; UNKNOWN accepts anything. Fails without popping. */
static inline int pop(checker *c, const alk_instr *in, alk_valtype expect)
{
    const frame *f = top_frame(c);
    if (c->height == f->height)
        return f->unreachable ? ALK_OK : mismatch(c, in, expect);
    slot actual = c->stack[c->height - 1];
    if (actual != expect && actual != UNKNOWN && expect != UNKNOWN)
        return mismatch(c, in, expect);
    c->height--;
    return ALK_OK;
}

/* pop_val() of the algorithm: any type, returned. */
static int pop_any(checker *c, const alk_instr *in, alk_valtype *type)
{
    if (!peek(c, type))
        return mismatch(c, in, UNKNOWN);
    if (c->height > top_frame(c)->height)
        c->height--;
    return ALK_OK;
}

static inline int push(checker *c, alk_valtype type, uint32_t offset)
{
    if (c->height == c->stack_capacity)
        TRY(reserve_operands(c, 1, offset));
    c->stack[c->height++] = type;
    return ALK_OK;
}

static inline int pop_list(checker *c, const alk_instr *in, uint32_t count,
                           const alk_valtype *types)
{
    for (uint32_t i = count; i-- > 0;)
        TRY(pop(c, in, types[i]));
    return ALK_OK;
}

static inline int push_list(checker *c, uint32_t count, const alk_valtype *types,
                            uint32_t offset)
{
    if ((uint64_t)c->height + count > c->stack_capacity)
        TRY(reserve_operands(c, count, offset));
    for (uint32_t i = 0; i < count; i++)
        c->stack[c->height++] = types[i];
    return ALK_OK;
}

/* The top `count` operands match `types`, left in place: push_vals(pop_vals(types)). */
static int check_list(checker *c, const alk_instr *in, uint32_t count, const alk_valtype *types)
{
    const frame *f = top_frame(c);
    uint32_t available = c->height - f->height;
    for (uint32_t i = 0; i < count; i++) {
        alk_valtype expected = types[count - 1 - i];
        if (i >= available) {
            if (f->unreachable)
                break;
            return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": %s expects %s, found nothing",
                        alk_opcode_text(in->op), type_name(expected));
        }
        alk_valtype actual = (alk_valtype)c->stack[c->height - 1 - i];
        if (actual != expected && actual != UNKNOWN)
            return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": %s expects %s, found %s",
                        alk_opcode_text(in->op), type_name(expected), type_name(actual));
    }
    return ALK_OK;
}

/* ---- Control frames ------------------------------------------------------------------------- */

static int push_frame(checker *c, alk_opcode opcode, uint32_t param_count,
                      const alk_valtype *params, uint32_t result_count,
                      const alk_valtype *results, uint32_t offset)
{
    if (c->depth == c->frame_capacity)
        TRY(grow(c, (void **)&c->frames, &c->frame_capacity, c->depth, (uint64_t)c->depth + 1,
                 sizeof(frame), offset));
    frame *f = &c->frames[c->depth++];
    c->top = f;
    f->opcode = (uint16_t)opcode;
    f->unreachable = false;
    f->height = c->height;
    f->param_count = param_count;
    f->params = params;
    f->result_count = result_count;
    f->results = results;
    return push_list(c, param_count, params, offset);
}

/* pop_ctrl() without the pop: the frame's results are on top, and nothing else. */
static int end_frame(checker *c, const alk_instr *in)
{
    frame *f = top_frame(c);
    TRY(pop_list(c, in, f->result_count, f->results));
    if (c->height != f->height)
        return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": %u operands left at the end of the block",
                    c->height - f->height);
    return ALK_OK;
}

static void unreachable(checker *c)
{
    frame *f = top_frame(c);
    c->height = f->height;
    f->unreachable = true;
}

static void label_types(const frame *f, uint32_t *count, const alk_valtype **types)
{
    if (f->opcode == ALK_OP_LOOP) {
        *count = f->param_count;
        *types = f->params;
    } else {
        *count = f->result_count;
        *types = f->results;
    }
}

static int label(checker *c, const alk_instr *in, uint32_t depth, const frame **target)
{
    if (depth >= c->depth)
        return FAIL(c, ALK_E_UNKNOWN_LABEL, in->offset, " %u", depth);
    *target = &c->frames[c->depth - 1 - depth];
    return ALK_OK;
}

static const alk_valtype *single_type(alk_valtype type)
{
    static const alk_valtype types[] = {ALK_I32,  ALK_I64,     ALK_F32,      ALK_F64,
                                        ALK_V128, ALK_FUNCREF, ALK_EXTERNREF};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i] == type)
            return &types[i];
    return NULL; /* the decoder admits only the types above */
}

static int block_type(checker *c, const alk_instr *in, uint32_t *param_count,
                      const alk_valtype **params, uint32_t *result_count,
                      const alk_valtype **results)
{
    *param_count = *result_count = 0;
    *params = *results = NULL;
    switch (in->imm.block.kind) {
    case ALK_BLOCK_EMPTY:
        break;
    case ALK_BLOCK_VALUE:
        *result_count = 1;
        *results = single_type(in->imm.block.value_type);
        break;
    case ALK_BLOCK_TYPE: {
        if (in->imm.block.type_index >= c->module->type_count)
            return FAIL(c, ALK_E_UNKNOWN_TYPE, in->offset, " %u", in->imm.block.type_index);
        const alk_functype *type = &c->module->types[in->imm.block.type_index];
        *param_count = type->param_count;
        *params = type->params;
        *result_count = type->result_count;
        *results = type->results;
        break;
    }
    }
    return ALK_OK;
}

/* ---- Locals --------------------------------------------------------------------------------- */

static int set_up_locals(checker *c, const alk_function *function, const alk_functype *type)
{
    uint32_t body = function->body_end - function->code_offset;
    uint64_t total = (uint64_t)type->param_count + function->local_count;
    bool dense = function->local_count <= 1024 || function->local_count <= 16ull * body;
    uint32_t dense_count = dense ? (uint32_t)total : type->param_count;
    if (!c->locals || dense_count > c->local_capacity)
        TRY(grow(c, (void **)&c->locals, &c->local_capacity, 0, dense_count, 1,
                 function->code_offset));
    alk_memcpy(c->locals, type->params, type->param_count);
    if (dense) {
        uint32_t n = type->param_count;
        for (uint32_t g = 0; g < function->local_group_count; g++) {
            alk_memset(c->locals + n, function->local_groups[g].type,
                       function->local_groups[g].count);
            n += function->local_groups[g].count;
        }
    } else {
        if (!c->group_ends || function->local_group_count > c->group_capacity)
            TRY(grow(c, (void **)&c->group_ends, &c->group_capacity, 0,
                     function->local_group_count, sizeof(uint32_t), function->code_offset));
        uint32_t end = 0;
        for (uint32_t g = 0; g < function->local_group_count; g++) {
            end += function->local_groups[g].count;
            c->group_ends[g] = end;
        }
    }
    c->current = function;
    c->param_count = type->param_count;
    c->dense_local_count = dense_count;
    c->local_count = (uint32_t)total;
    return ALK_OK;
}

static alk_valtype sparse_local(const checker *c, uint32_t index)
{
    uint32_t i = index - c->param_count;
    uint32_t low = 0, high = c->current->local_group_count - 1;
    while (low < high) { /* first group whose running total exceeds i */
        uint32_t middle = low + (high - low) / 2;
        if (c->group_ends[middle] > i)
            high = middle;
        else
            low = middle + 1;
    }
    return c->current->local_groups[low].type;
}

static inline int local_type(checker *c, const alk_instr *in, alk_valtype *type)
{
    uint32_t index = in->imm.index;
    if (index < c->dense_local_count)
        *type = c->locals[index];
    else if (index < c->local_count)
        *type = sparse_local(c, index);
    else
        return FAIL(c, ALK_E_UNKNOWN_LOCAL, in->offset, " %u", index);
    return ALK_OK;
}

/* ---- Simple instructions: from the table ---------------------------------------------------- */

static int check_memory(checker *c, const alk_instr *in)
{
    if (c->module->memory_count == 0)
        return FAIL(c, ALK_E_UNKNOWN_MEMORY, in->offset, " 0");
    return ALK_OK;
}

static int check_data_index(checker *c, const alk_instr *in, uint32_t index)
{
    if (!c->module->has_data_count)
        return FAIL(c, ALK_E_DATA_COUNT_REQUIRED, in->offset, ": for %s", alk_opcode_text(in->op));
    if (index >= c->module->data_count)
        return FAIL(c, ALK_E_UNKNOWN_DATA_SEGMENT, in->offset, " %u", index);
    return ALK_OK;
}

static int check_elem_index(checker *c, const alk_instr *in, uint32_t index)
{
    if (index >= c->module->element_count)
        return FAIL(c, ALK_E_UNKNOWN_ELEM_SEGMENT, in->offset, " %u", index);
    return ALK_OK;
}

/* The rules on immediates of instructions typed from the table. Plain memargs and constants,
 * most of them, are told apart by range before the switch for the rest. */
static int check_immediates(checker *c, const alk_instr *in, const alk_opcode_info *info)
{
    alk_immediate kind = (alk_immediate)info->immediate;
    if (kind >= ALK_IMM_MEM8 && kind <= ALK_IMM_MEM128) {
        if (c->module->memory_count == 0)
            return check_memory(c, in);
        if (in->imm.memarg.align > info->access_log2)
            return FAIL(c, ALK_E_ALIGNMENT_TOO_LARGE, in->offset, ": 2^%u for %s", in->imm.memarg.align,
                        alk_opcode_text(in->op));
        return ALK_OK;
    }
    if (kind >= ALK_IMM_I32 && kind <= ALK_IMM_V128)
        return ALK_OK;
    switch (kind) {
    case ALK_IMM_MEM8_LANE:
    case ALK_IMM_MEM16_LANE:
    case ALK_IMM_MEM32_LANE:
    case ALK_IMM_MEM64_LANE:
        if (in->imm.memarg.lane >= info->lane_count)
            return FAIL(c, ALK_E_INVALID_LANE_INDEX, in->offset, ": %u of %u", in->imm.memarg.lane,
                        info->lane_count);
        /* fall through */
    case ALK_IMM_MEM8:
    case ALK_IMM_MEM16:
    case ALK_IMM_MEM32:
    case ALK_IMM_MEM64:
    case ALK_IMM_MEM128:
        TRY(check_memory(c, in));
        if (in->imm.memarg.align > info->access_log2)
            return FAIL(c, ALK_E_ALIGNMENT_TOO_LARGE, in->offset, ": 2^%u for %s", in->imm.memarg.align,
                        alk_opcode_text(in->op));
        return ALK_OK;
    case ALK_IMM_LANE16:
    case ALK_IMM_LANE8:
    case ALK_IMM_LANE4:
    case ALK_IMM_LANE2:
        if (in->imm.lane >= info->lane_count)
            return FAIL(c, ALK_E_INVALID_LANE_INDEX, in->offset, ": %u of %u", in->imm.lane, info->lane_count);
        return ALK_OK;
    case ALK_IMM_SHUFFLE:
        for (int i = 0; i < 16; i++)
            if (in->imm.lanes[i] >= 32)
                return FAIL(c, ALK_E_INVALID_LANE_INDEX, in->offset, ": %u of 32", in->imm.lanes[i]);
        return ALK_OK;
    case ALK_IMM_MEMORY:
    case ALK_IMM_MEMORY_COPY:
        return check_memory(c, in);
    case ALK_IMM_MEMORY_INIT:
        TRY(check_data_index(c, in, in->imm.pair.first));
        return check_memory(c, in);
    case ALK_IMM_DATA:
        return check_data_index(c, in, in->imm.index);
    case ALK_IMM_ELEM:
        return check_elem_index(c, in, in->imm.index);
    default:
        return ALK_OK;
    }
}

/* The operands of each instruction, packed as the top of the stack holds them (slot i of n at
 * bits 16*i), so that one compare checks them all; UNKNOWN operands take the slow way. */
#define ALK_T__ 0
#define ALK_T_I32 ALK_I32
#define ALK_T_I64 ALK_I64
#define ALK_T_F32 ALK_F32
#define ALK_T_F64 ALK_F64
#define ALK_T_V128 ALK_V128
#define SIG(a, b, c, r) ((uint64_t)ALK_T_##a | (uint64_t)ALK_T_##b << 16 | (uint64_t)ALK_T_##c << 32)
#define SPECIAL 0
static const uint64_t packed_operands[ALK_OP_COUNT] = {
#define ALK_OP(name, prefix, code, text, immediates, signature, group) \
    [ALK_OP_##name] = signature,
#include "opcodes.def"
#undef ALK_OP
};
#undef SIG
#undef SPECIAL

static const uint64_t packed_masks[4] = {0, 0xffff, 0xffffffff, 0xffffffffffff};

static inline int apply_signature(checker *c, const alk_instr *in, const alk_opcode_info *info)
{
    uint32_t n = info->operand_count;
    const frame *f = top_frame(c);
    if (n == 0) {
        /* nothing to pop */
    } else if (c->height - f->height >= n) {
        const slot *operands = c->stack + c->height - n; /* [0..2]: see SLACK */
        uint64_t top = operands[0] | (uint64_t)operands[1] << 16 | (uint64_t)operands[2] << 32;
        if ((top & packed_masks[n]) != packed_operands[in->op]) {
            for (uint32_t i = 0; i < n; i++)
                if (operands[i] != info->operands[i] && operands[i] != UNKNOWN) {
                    c->height -= n - 1 - i; /* expose the offending operand */
                    return mismatch(c, in, info->operands[i]);
                }
        }
        c->height -= n;
    } else {
        for (uint32_t i = n; i-- > 0;)
            TRY(pop(c, in, info->operands[i]));
    }
    if (info->result)
        return push(c, info->result, in->offset);
    return ALK_OK;
}

/* ---- Instructions typed by hand (SPECIAL in opcodes.def) ------------------------------------ */

static int check_table(checker *c, const alk_instr *in, uint32_t index, alk_valtype *element)
{
    if (index >= c->module->table_count)
        return FAIL(c, ALK_E_UNKNOWN_TABLE, in->offset, " %u", index);
    *element = c->module->tables[index].element;
    return ALK_OK;
}

static int check_block(checker *c, const alk_instr *in)
{
    uint32_t param_count, result_count;
    const alk_valtype *params, *results;
    TRY(block_type(c, in, &param_count, &params, &result_count, &results));
    if (in->op == ALK_OP_IF)
        TRY(pop(c, in, ALK_I32));
    TRY(pop_list(c, in, param_count, params));
    return push_frame(c, in->op, param_count, params, result_count, results, in->offset);
}

static int check_else(checker *c, const alk_instr *in)
{
    frame *f = top_frame(c);
    if (f->opcode != ALK_OP_IF)
        return FAIL(c, ALK_E_END_EXPECTED, in->offset, ": else without if");
    TRY(end_frame(c, in));
    f->opcode = ALK_OP_ELSE;
    f->unreachable = false;
    return push_list(c, f->param_count, f->params, in->offset);
}

static int check_end(checker *c, const alk_instr *in)
{
    frame *f = top_frame(c);
    TRY(end_frame(c, in));
    /* an `if` without `else` has an empty else branch: [t1*] -> [t2*] needs t1* = t2* */
    if (f->opcode == ALK_OP_IF &&
        (f->param_count != f->result_count ||
         (f->param_count && alk_memcmp(f->params, f->results, f->param_count) != 0)))
        return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": if without else must not change the operands");
    c->depth--;
    c->top = f - 1;
    if (c->depth == 0)
        return ALK_OK;
    return push_list(c, f->result_count, f->results, in->offset);
}

static int check_br_table(checker *c, const alk_instr *in)
{
    const frame *target = NULL;
    uint32_t arity, count;
    const alk_valtype *types;
    TRY(pop(c, in, ALK_I32));
    TRY(label(c, in, in->imm.br_table.default_target, &target));
    label_types(target, &arity, &types);
    alk_reader targets = in->imm.br_table.targets;
    for (uint32_t i = 0; i < in->imm.br_table.target_count; i++) {
        uint32_t depth;
        TRY(alk_read_u32(&targets, &depth)); /* decoded once already: cannot fail */
        TRY(label(c, in, depth, &target));
        label_types(target, &count, &types);
        if (count != arity)
            return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": br_table targets of %u and %u values",
                        count, arity);
        TRY(check_list(c, in, count, types));
    }
    TRY(label(c, in, in->imm.br_table.default_target, &target));
    label_types(target, &count, &types);
    TRY(pop_list(c, in, count, types));
    unreachable(c);
    return ALK_OK;
}

static int check_call(checker *c, const alk_instr *in, const alk_functype *type)
{
    TRY(pop_list(c, in, type->param_count, type->params));
    return push_list(c, type->result_count, type->results, in->offset);
}

static int check_select(checker *c, const alk_instr *in)
{
    alk_valtype first = UNKNOWN, second = UNKNOWN;
    TRY(pop(c, in, ALK_I32));
    TRY(pop_any(c, in, &second));
    TRY(pop_any(c, in, &first));
    if (!((is_num(first) && is_num(second)) || (is_vec(first) && is_vec(second))))
        return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": select of %s and %s needs a type annotation",
                    type_name(first), type_name(second));
    if (first != second && first != UNKNOWN && second != UNKNOWN)
        return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": select of %s and %s", type_name(first),
                    type_name(second));
    return push(c, second == UNKNOWN ? first : second, in->offset);
}

static int check_special(checker *c, const alk_instr *in)
{
    const alk_module *module = c->module;
    const frame *target = NULL;
    uint32_t count;
    const alk_valtype *types;
    alk_valtype type = UNKNOWN, other = UNKNOWN;
    switch (in->op) {
    case ALK_OP_UNREACHABLE:
        unreachable(c);
        return ALK_OK;
    case ALK_OP_BLOCK:
    case ALK_OP_LOOP:
    case ALK_OP_IF:
        return check_block(c, in);
    case ALK_OP_ELSE:
        return check_else(c, in);
    case ALK_OP_END:
        return check_end(c, in);
    case ALK_OP_BR:
        TRY(label(c, in, in->imm.index, &target));
        label_types(target, &count, &types);
        TRY(pop_list(c, in, count, types));
        unreachable(c);
        return ALK_OK;
    case ALK_OP_BR_IF:
        TRY(label(c, in, in->imm.index, &target));
        TRY(pop(c, in, ALK_I32));
        label_types(target, &count, &types);
        TRY(pop_list(c, in, count, types));
        return push_list(c, count, types, in->offset);
    case ALK_OP_BR_TABLE:
        return check_br_table(c, in);
    case ALK_OP_RETURN:
        TRY(pop_list(c, in, c->frames[0].result_count, c->frames[0].results));
        unreachable(c);
        return ALK_OK;
    case ALK_OP_CALL:
        if (in->imm.index >= module->function_count)
            return FAIL(c, ALK_E_UNKNOWN_FUNCTION, in->offset, " %u", in->imm.index);
        return check_call(c, in, alk_function_type(module, in->imm.index));
    case ALK_OP_CALL_INDIRECT:
        TRY(check_table(c, in, in->imm.call_indirect.table, &type));
        if (type != ALK_FUNCREF)
            return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": call_indirect through a table of %s",
                        alk_valtype_name(type));
        if (in->imm.call_indirect.type_index >= module->type_count)
            return FAIL(c, ALK_E_UNKNOWN_TYPE, in->offset, " %u", in->imm.call_indirect.type_index);
        TRY(pop(c, in, ALK_I32));
        return check_call(c, in, &module->types[in->imm.call_indirect.type_index]);
    case ALK_OP_DROP:
        return pop_any(c, in, &type);
    case ALK_OP_SELECT:
        return check_select(c, in);
    case ALK_OP_SELECT_T:
        if (in->imm.select.count != 1)
            return FAIL(c, ALK_E_INVALID_RESULT_ARITY, in->offset, ": select with %u types",
                        in->imm.select.count);
        TRY(pop(c, in, ALK_I32));
        TRY(pop(c, in, in->imm.select.type));
        TRY(pop(c, in, in->imm.select.type));
        return push(c, in->imm.select.type, in->offset);
    case ALK_OP_LOCAL_GET:
        TRY(local_type(c, in, &type));
        return push(c, type, in->offset);
    case ALK_OP_LOCAL_SET:
        TRY(local_type(c, in, &type));
        return pop(c, in, type);
    case ALK_OP_LOCAL_TEE:
        TRY(local_type(c, in, &type));
        TRY(pop(c, in, type));
        return push(c, type, in->offset);
    case ALK_OP_GLOBAL_GET:
        if (in->imm.index >= module->global_count)
            return FAIL(c, ALK_E_UNKNOWN_GLOBAL, in->offset, " %u", in->imm.index);
        return push(c, module->globals[in->imm.index].type.type, in->offset);
    case ALK_OP_GLOBAL_SET:
        if (in->imm.index >= module->global_count)
            return FAIL(c, ALK_E_UNKNOWN_GLOBAL, in->offset, " %u", in->imm.index);
        if (!module->globals[in->imm.index].type.is_mutable)
            return FAIL(c, ALK_E_GLOBAL_IMMUTABLE, in->offset, ": global %u", in->imm.index);
        return pop(c, in, module->globals[in->imm.index].type.type);
    case ALK_OP_TABLE_GET:
        TRY(check_table(c, in, in->imm.index, &type));
        TRY(pop(c, in, ALK_I32));
        return push(c, type, in->offset);
    case ALK_OP_TABLE_SET:
        TRY(check_table(c, in, in->imm.index, &type));
        TRY(pop(c, in, type));
        return pop(c, in, ALK_I32);
    case ALK_OP_TABLE_SIZE:
        TRY(check_table(c, in, in->imm.index, &type));
        return push(c, ALK_I32, in->offset);
    case ALK_OP_TABLE_GROW:
        TRY(check_table(c, in, in->imm.index, &type));
        TRY(pop(c, in, ALK_I32));
        TRY(pop(c, in, type));
        return push(c, ALK_I32, in->offset);
    case ALK_OP_TABLE_FILL:
        TRY(check_table(c, in, in->imm.index, &type));
        TRY(pop(c, in, ALK_I32));
        TRY(pop(c, in, type));
        return pop(c, in, ALK_I32);
    case ALK_OP_TABLE_INIT: /* elem, table */
        TRY(check_table(c, in, in->imm.pair.second, &type));
        TRY(check_elem_index(c, in, in->imm.pair.first));
        if (module->elements[in->imm.pair.first].type != type)
            return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": %s segment into a table of %s",
                        alk_valtype_name(module->elements[in->imm.pair.first].type),
                        alk_valtype_name(type));
        return pop_list(c, in, 3, (const alk_valtype[]){ALK_I32, ALK_I32, ALK_I32});
    case ALK_OP_TABLE_COPY: /* destination, source */
        TRY(check_table(c, in, in->imm.pair.first, &type));
        TRY(check_table(c, in, in->imm.pair.second, &other));
        if (type != other)
            return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": copy from a table of %s to one of %s",
                        alk_valtype_name(other), alk_valtype_name(type));
        return pop_list(c, in, 3, (const alk_valtype[]){ALK_I32, ALK_I32, ALK_I32});
    case ALK_OP_REF_NULL:
        return push(c, in->imm.ref_type, in->offset);
    case ALK_OP_REF_IS_NULL:
        TRY(pop_any(c, in, &type));
        if (!is_ref(type))
            return FAIL(c, ALK_E_TYPE_MISMATCH, in->offset, ": ref.is_null of %s", type_name(type));
        return push(c, ALK_I32, in->offset);
    case ALK_OP_REF_FUNC: {
        uint32_t x = in->imm.index;
        if (x >= module->function_count)
            return FAIL(c, ALK_E_UNKNOWN_FUNCTION, in->offset, " %u", x);
        if (!(module->declared_function_refs[x / 8] & (1u << (x % 8))))
            return FAIL(c, ALK_E_UNDECLARED_FUNCTION_REFERENCE, in->offset, ": function %u", x);
        return push(c, ALK_FUNCREF, in->offset);
    }
    default:
        return FAIL(c, ALK_E_ILLEGAL_OPCODE, in->offset, ": %s has no rule", alk_opcode_text(in->op));
    }
}

/* ---- Function bodies ------------------------------------------------------------------------ */

static int check_function(checker *c, uint32_t index)
{
    const alk_module *module = c->module;
    const alk_function *function = &module->functions[index];
    const alk_functype *type = &module->types[function->type_index];
    TRY(set_up_locals(c, function, type));
    c->height = 0;
    c->depth = 0;
    TRY(push_frame(c, ALK_OP_BLOCK, 0, NULL, type->result_count, type->results,
                   function->code_offset));

    alk_reader r = {module->bytes, module->bytes + function->code_offset,
                    module->bytes + function->body_end};
    alk_instr in;
    for (;;) {
        TRY(alk_read_instr(&r, &in, c->diag));
        const alk_opcode_info *info = &alk_opcode_infos[in.op];
        if (!info->special) {
            if (info->immediate != ALK_IMM_NONE)
                TRY(check_immediates(c, &in, info));
            TRY(apply_signature(c, &in, info));
            continue;
        }
        TRY(check_special(c, &in));
        if (c->depth == 0) /* only `end` gets here */
            break;
    }
    if (r.cursor != r.end)
        return FAIL(c, ALK_E_SECTION_SIZE_MISMATCH, alk_reader_offset(&r),
                    ": %u bytes after the end of the function", (unsigned)(r.end - r.cursor));
    return ALK_OK;
}

/* Function bodies are independent of each other: a range of them is one task. */
typedef struct body_range {
    const alk_module *module;
    uint32_t first, end;
    int code;
    alk_diag diag;
} body_range;

static void check_range(void *argument)
{
    body_range *range = argument;
    const alk_module *module = range->module;
    checker c;
    alk_memset(&c, 0, sizeof c);
    c.module = module;
    c.diag = &range->diag;
    c.allocator = module->allocator;
    range->code = ALK_OK;
    for (uint32_t i = range->first; i < range->end; i++) {
        c.function = i;
        range->code = check_function(&c, i);
        if (range->code != ALK_OK) {
            range->diag.function = i; /* alk_read_instr does not know the function */
            break;
        }
    }
    release(&c);
}

int alk_validate_code(const alk_module *module, const alk_compile_options *options,
                      alk_diag *diag)
{
    uint32_t starts[ALK_MAX_PARTS + 1];
    unsigned parts = alk_split_functions(module, options, starts);
    body_range ranges[ALK_MAX_PARTS];
    void *arguments[ALK_MAX_PARTS];
    for (unsigned p = 0; p < parts; p++) {
        ranges[p] = (body_range){ .module = module, .diag = *diag,
                                  .first = module->imported_function_count + starts[p],
                                  .end = module->imported_function_count + starts[p + 1] };
        arguments[p] = &ranges[p];
    }
    if (parts > 1)
        options->run_parallel(options->parallel_user, check_range, arguments, parts);
    else
        check_range(&ranges[0]);
    /* The first invalid function in index order is the one reported, whatever the split. */
    for (unsigned p = 0; p < parts; p++) {
        if (ranges[p].code != ALK_OK) {
            *diag = ranges[p].diag;
            return ranges[p].code;
        }
    }
    return ALK_OK;
}
