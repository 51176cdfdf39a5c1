/*
 * Linear memory, globals, tables and references. Memory accesses are confined per the bounds
 * mode (docs/abi.md):
 *
 *   checked  ea = index + offset (64-bit: index is a zero-extended i32) and the access traps
 *            unless ea + size <= x26, the memory size pinned in a register:
 *                add x16, xI, #(offset + size); cmp x16, x26; b.hi oob; ldr w0, [x27, wI, uxtw]
 *   guard    no check: the 8 GiB reservation behind x27 covers every index + offset, and the
 *            index is zero-extended by the access itself (uxtw), whatever its upper half:
 *                ldr w0, [x27, wI, uxtw]
 */
#include "codegen.h"

/* Where an access goes: [base + offset], or [base + index] (index a w register zero-extended
 * when uxtw, else an x register). */
typedef struct address {
    int base;
    int index;         /* A64_NO_REG: [base + offset] */
    bool uxtw;
    int64_t offset;
} address;

/* Emits the bounds check (checked mode) of `size` bytes at index + offset and returns where
 * the access goes. index is a popped i32 in a register, or a constant. Uses x16 and x17. */
static address locate(codegen *g, value index, int reg, uint32_t offset, int size)
{
    alk_code *c = g->code;
    uint32_t oob = g->checked ? arm_trap_label(g, ALK_TRAP_MEMORY_OUT_OF_BOUNDS) : 0;
    if (index.loc == LOC_CONST) {
        uint64_t ea = (uint32_t)index.bits + (uint64_t)offset;
        if (g->checked) {
            a64_mov_imm(c, true, SCRATCH_GPR, ea + (uint64_t)size);
            a64_cmp(c, true, SCRATCH_GPR, REG_MEMORY_SIZE);
            arm_branch_if(g, A64_HI, oob);
        }
        if (ea % (uint64_t)size == 0 && ea / (uint64_t)size < 4096)
            return (address){ REG_MEMORY_BASE, A64_NO_REG, false, (int64_t)ea };
        a64_mov_imm(c, true, SCRATCH_GPR, ea);
        return (address){ REG_MEMORY_BASE, SCRATCH_GPR, false, 0 };
    }
    uint64_t end = (uint64_t)offset + (uint64_t)size;
    if (offset == 0) {
        if (g->checked) {
            a64_addsub_imm(c, true, A64_ADD, false, SCRATCH_GPR, reg, (uint32_t)size, false);
            a64_cmp(c, true, SCRATCH_GPR, REG_MEMORY_SIZE);
            arm_branch_if(g, A64_HI, oob);
        }
        return (address){ REG_MEMORY_BASE, reg, true, 0 };
    }
    if (end < 4096) {
        if (g->checked) {
            a64_addsub_imm(c, true, A64_ADD, false, SCRATCH_GPR, reg, (uint32_t)end, false);
            a64_cmp(c, true, SCRATCH_GPR, REG_MEMORY_SIZE);
            arm_branch_if(g, A64_HI, oob);
        }
        a64_addsub_uxtw(c, A64_ADD, SCRATCH2_GPR, REG_MEMORY_BASE, reg);
        return (address){ SCRATCH2_GPR, A64_NO_REG, false, (int64_t)offset };
    }
    /* Larger offsets: ea in x16 (64-bit, exact), the access at [x27 + x16]. */
    a64_mov_imm(c, true, SCRATCH_GPR, offset);
    a64_addsub_uxtw(c, A64_ADD, SCRATCH_GPR, SCRATCH_GPR, reg);
    if (g->checked) {
        a64_addsub_imm(c, true, A64_ADD, false, SCRATCH2_GPR, SCRATCH_GPR, (uint32_t)size, false);
        a64_cmp(c, true, SCRATCH2_GPR, REG_MEMORY_SIZE);
        arm_branch_if(g, A64_HI, oob);
    }
    return (address){ REG_MEMORY_BASE, SCRATCH_GPR, false, 0 };
}

static void load_at(codegen *g, address at, alk_valtype type, int size, bool sign, int dst)
{
    alk_code *c = g->code;
    if (alk_is_float(type)) {
        if (at.index == A64_NO_REG)
            a64_fload(c, size, dst, at.base, at.offset);
        else
            a64_fload_index(c, size, dst, at.base, at.index, at.uxtw);
    } else if (at.index == A64_NO_REG) {
        a64_load(c, arm_is_wide(type), dst, at.base, at.offset, size, sign);
    } else {
        a64_load_index(c, arm_is_wide(type), dst, at.base, at.index, at.uxtw, size, sign);
    }
}

static void store_at(codegen *g, address at, bool is_float, int size, int src)
{
    alk_code *c = g->code;
    if (is_float) {
        if (at.index == A64_NO_REG)
            a64_fstore(c, size, src, at.base, at.offset);
        else
            a64_fstore_index(c, size, src, at.base, at.index, at.uxtw);
    } else if (at.index == A64_NO_REG) {
        a64_store(c, size, src, at.base, at.offset);
    } else {
        a64_store_index(c, size, src, at.base, at.index, at.uxtw);
    }
}

/* A popped i32 index: a constant stays one; anything else in a register (a pinned local's
 * own, which must not be written: *owned false). */
static value index_operand(codegen *g, int *reg, bool *owned)
{
    value index = arm_pop(g);
    *owned = false;
    *reg = A64_NO_REG;
    if (index.loc != LOC_CONST)
        *reg = arm_read_reg(g, index, owned);
    return index;
}

static void load(codegen *g, const alk_instr *in, alk_valtype type, int size, bool sign)
{
    int reg;
    bool owned;
    value index = index_operand(g, &reg, &owned);
    /* the destination first: allocating may spill, which may use x16 */
    int dst = arm_take_hint(g, alk_is_float(type));
    if (dst < 0)
        dst = alk_is_float(type) ? arm_alloc_fpr(g) : owned ? reg : arm_alloc_gpr(g);
    address at = locate(g, index, reg, in->imm.memarg.offset, size);
    load_at(g, at, type, size, sign, dst);
    if (owned && !(dst == reg && !alk_is_float(type)))
        arm_free_reg(g, ALK_I32, reg);
    arm_push_reg(g, type, dst);
}

static void store(codegen *g, const alk_instr *in, int size)
{
    value v = arm_pop(g);
    bool value_owned = false, is_float = alk_is_float(v.type);
    int src;
    if (v.loc == LOC_CONST && v.bits == 0) {
        src = A64_ZR;
        is_float = false;
    } else if (v.loc == LOC_CONST) {
        /* any constant, floats included, as its bits in a general register */
        src = arm_alloc_gpr(g);
        a64_mov_imm(g->code, size == 8, src, v.bits);
        value_owned = true;
        is_float = false;
        v = (value){ .loc = LOC_REG, .type = size == 8 ? ALK_I64 : ALK_I32, .reg = (uint8_t)src };
    } else {
        src = arm_read_reg(g, v, &value_owned);
        if (value_owned)
            v = (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)src };
    }
    int reg;
    bool owned;
    value index = index_operand(g, &reg, &owned);
    address at = locate(g, index, reg, in->imm.memarg.offset, size);
    store_at(g, at, is_float, size, src);
    if (value_owned)
        arm_free(g, v);
    if (owned)
        arm_free_reg(g, ALK_I32, reg);
}

/* The address of a global's value: [x28 + slot], or through the pointer an imported mutable
 * global's slot holds (into x16). */
static address global_address(codegen *g, uint32_t index)
{
    const alk_global *global = &g->module->globals[index];
    int32_t slot = (int32_t)alk_layout_global(g->layout, index);
    if (index < g->module->imported_global_count && global->type.is_mutable) {
        a64_load(g->code, true, SCRATCH_GPR, REG_VMCTX, slot, 8, false);
        return (address){ SCRATCH_GPR, A64_NO_REG, false, 0 };
    }
    return (address){ REG_VMCTX, A64_NO_REG, false, slot };
}

static void global_get(codegen *g, uint32_t index)
{
    alk_valtype type = g->module->globals[index].type.type;
    int dst = arm_take_hint(g, alk_is_float(type));
    if (dst < 0)
        dst = alk_is_float(type) ? arm_alloc_fpr(g) : arm_alloc_gpr(g);
    address at = global_address(g, index);
    load_at(g, at, type, arm_is_wide(type) ? 8 : 4, false, dst);
    arm_push_reg(g, type, dst);
}

static void global_set(codegen *g, uint32_t index)
{
    value v = arm_pop(g);
    alk_valtype type = g->module->globals[index].type.type;
    int size = arm_is_wide(type) ? 8 : 4;
    bool owned = false, is_float = alk_is_float(type);
    int src;
    if (v.loc == LOC_CONST && v.bits == 0) {
        src = A64_ZR;
        is_float = false;
    } else if (v.loc == LOC_CONST) {
        src = arm_alloc_gpr(g);
        a64_mov_imm(g->code, size == 8, src, v.bits);
        owned = true;
        is_float = false;
        v = (value){ .loc = LOC_REG, .type = size == 8 ? ALK_I64 : ALK_I32, .reg = (uint8_t)src };
    } else {
        src = arm_read_reg(g, v, &owned);
        if (owned)
            v = (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)src };
    }
    address at = global_address(g, index);   /* after the value: may use x16 */
    store_at(g, at, is_float, size, src);
    if (owned)
        arm_free(g, v);
}

/* table.get / table.set: bounds-checked access to entry `index` of table `table`. */
static void table_access(codegen *g, uint32_t table, bool set)
{
    alk_code *c = g->code;
    value v = { 0 };
    int src = A64_ZR;
    bool value_owned = false;
    if (set) {
        v = arm_pop(g);
        if (!(v.loc == LOC_CONST && v.bits == 0)) {
            src = arm_read_reg(g, v, &value_owned);
            if (value_owned)
                v = (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)src };
        }
    }
    value index = arm_pop(g);
    bool owned;
    int reg = arm_read_reg(g, index, &owned);
    int dst = set ? A64_NO_REG : owned ? reg : arm_alloc_gpr(g);
    a64_load(c, true, SCRATCH_GPR, REG_VMCTX, (int32_t)alk_layout_table(g->layout, table), 8,
             false);
    a64_load(c, false, SCRATCH2_GPR, SCRATCH_GPR, ALK_TABLE_SIZE, 4, false);
    a64_cmp(c, false, reg, SCRATCH2_GPR);
    arm_branch_if(g, A64_HS, arm_trap_label(g, ALK_TRAP_TABLE_OUT_OF_BOUNDS));
    a64_load(c, true, SCRATCH_GPR, SCRATCH_GPR, ALK_TABLE_ENTRIES, 8, false);
    if (set) {
        a64_store_entry(c, src, SCRATCH_GPR, reg);
        if (value_owned)
            arm_free(g, v);
        if (owned)
            arm_free_reg(g, ALK_I32, reg);
    } else {
        a64_load_entry(c, dst, SCRATCH_GPR, reg);
        arm_push_reg(g, g->module->tables[table].element, dst);
    }
}

static void builtin(codegen *g, int index, int popped, uint32_t imm_count, const uint32_t *imms,
                    alk_valtype result)
{
    value args[6];
    int n = 0;
    for (uint32_t i = 0; i < imm_count; i++)
        args[n++] = (value){ .loc = LOC_CONST, .type = ALK_I32, .bits = imms[i] };
    for (int i = popped - 1; i >= 0; i--)
        args[n + i] = arm_pop(g);
    arm_call_builtin(g, index, args, n + popped, result);
}

bool arm_memory_instr(codegen *g, const alk_instr *in)
{
    alk_code *c = g->code;
    switch (in->op) {
    case ALK_OP_I32_LOAD:     load(g, in, ALK_I32, 4, false); return true;
    case ALK_OP_I64_LOAD:     load(g, in, ALK_I64, 8, false); return true;
    case ALK_OP_F32_LOAD:     load(g, in, ALK_F32, 4, false); return true;
    case ALK_OP_F64_LOAD:     load(g, in, ALK_F64, 8, false); return true;
    case ALK_OP_I32_LOAD8_S:  load(g, in, ALK_I32, 1, true); return true;
    case ALK_OP_I32_LOAD8_U:  load(g, in, ALK_I32, 1, false); return true;
    case ALK_OP_I32_LOAD16_S: load(g, in, ALK_I32, 2, true); return true;
    case ALK_OP_I32_LOAD16_U: load(g, in, ALK_I32, 2, false); return true;
    case ALK_OP_I64_LOAD8_S:  load(g, in, ALK_I64, 1, true); return true;
    case ALK_OP_I64_LOAD8_U:  load(g, in, ALK_I64, 1, false); return true;
    case ALK_OP_I64_LOAD16_S: load(g, in, ALK_I64, 2, true); return true;
    case ALK_OP_I64_LOAD16_U: load(g, in, ALK_I64, 2, false); return true;
    case ALK_OP_I64_LOAD32_S: load(g, in, ALK_I64, 4, true); return true;
    case ALK_OP_I64_LOAD32_U: load(g, in, ALK_I64, 4, false); return true;
    case ALK_OP_I32_STORE:
    case ALK_OP_F32_STORE:
    case ALK_OP_I64_STORE32:  store(g, in, 4); return true;
    case ALK_OP_I64_STORE:
    case ALK_OP_F64_STORE:    store(g, in, 8); return true;
    case ALK_OP_I32_STORE8:
    case ALK_OP_I64_STORE8:   store(g, in, 1); return true;
    case ALK_OP_I32_STORE16:
    case ALK_OP_I64_STORE16:  store(g, in, 2); return true;
    case ALK_OP_MEMORY_SIZE: {
        int reg = arm_alloc_gpr(g);
        a64_load(c, true, reg, REG_VMCTX, ALK_VMCTX_MEMORY_SIZE, 8, false);
        a64_shift_imm(c, true, A64_LSR, reg, reg, 16);
        arm_push_reg(g, ALK_I32, reg);
        return true;
    }
    case ALK_OP_MEMORY_GROW: builtin(g, ALK_BUILTIN_MEMORY_GROW, 1, 0, NULL, ALK_I32); return true;
    case ALK_OP_MEMORY_FILL: builtin(g, ALK_BUILTIN_MEMORY_FILL, 3, 0, NULL, 0); return true;
    case ALK_OP_MEMORY_COPY: builtin(g, ALK_BUILTIN_MEMORY_COPY, 3, 0, NULL, 0); return true;
    case ALK_OP_MEMORY_INIT:
        builtin(g, ALK_BUILTIN_MEMORY_INIT, 3, 1, &in->imm.pair.first, 0);
        return true;
    case ALK_OP_DATA_DROP: builtin(g, ALK_BUILTIN_DATA_DROP, 0, 1, &in->imm.index, 0); return true;
    case ALK_OP_GLOBAL_GET: global_get(g, in->imm.index); return true;
    case ALK_OP_GLOBAL_SET: global_set(g, in->imm.index); return true;
    case ALK_OP_TABLE_GET: table_access(g, in->imm.index, false); return true;
    case ALK_OP_TABLE_SET: table_access(g, in->imm.index, true); return true;
    case ALK_OP_TABLE_SIZE: {
        int reg = arm_alloc_gpr(g);
        a64_load(c, true, SCRATCH_GPR, REG_VMCTX,
                 (int32_t)alk_layout_table(g->layout, in->imm.index), 8, false);
        a64_load(c, false, reg, SCRATCH_GPR, ALK_TABLE_SIZE, 4, false);
        arm_push_reg(g, ALK_I32, reg);
        return true;
    }
    case ALK_OP_TABLE_GROW:
        builtin(g, ALK_BUILTIN_TABLE_GROW, 2, 1, &in->imm.index, ALK_I32);
        return true;
    case ALK_OP_TABLE_FILL: builtin(g, ALK_BUILTIN_TABLE_FILL, 3, 1, &in->imm.index, 0); return true;
    case ALK_OP_TABLE_COPY: {
        uint32_t tables[2] = { in->imm.pair.first, in->imm.pair.second };
        builtin(g, ALK_BUILTIN_TABLE_COPY, 3, 2, tables, 0);
        return true;
    }
    case ALK_OP_TABLE_INIT: {
        /* binary order: elem index, then table index; the builtin takes (table, segment) */
        uint32_t operands[2] = { in->imm.pair.second, in->imm.pair.first };
        builtin(g, ALK_BUILTIN_TABLE_INIT, 3, 2, operands, 0);
        return true;
    }
    case ALK_OP_ELEM_DROP: builtin(g, ALK_BUILTIN_ELEM_DROP, 0, 1, &in->imm.index, 0); return true;
    case ALK_OP_REF_NULL:
        arm_push_const(g, in->imm.ref_type, 0);
        return true;
    case ALK_OP_REF_IS_NULL: {
        value v = arm_pop(g);
        bool owned;
        int reg = arm_read_reg(g, v, &owned);
        a64_cmp_imm(c, true, reg, 0);
        if (owned)
            arm_free_reg(g, v.type, reg);
        arm_push_flags(g, A64_EQ);
        return true;
    }
    case ALK_OP_REF_FUNC: {
        int reg = arm_alloc_gpr(g);
        a64_add_const(c, true, reg, REG_VMCTX,
                      (int32_t)alk_layout_function_ref(g->layout, in->imm.index));
        arm_push_reg(g, ALK_FUNCREF, reg);
        return true;
    }
    default:
        return false;
    }
}
