/*
 * Linear memory, globals, tables and references. Memory accesses are confined per the bounds
 * mode (docs/abi.md): checked mode compares the end of every access with vmctx->memory_size;
 * guard mode relies on the 8 GiB reservation and emits no check.
 */
#include "codegen.h"

/* An operand for `size` bytes at index + offset, after the bounds check (checked mode).
 * index is a popped i32 (zero-extended when in a register). Clobbers the scratch register. */
static x64_mem address(codegen *g, value index, uint32_t offset, int size)
{
    alk_code *c = g->code;
    bool checked = g->options->bounds == ALK_BOUNDS_CHECKED;
    if (index.loc == LOC_CONST) {
        uint64_t ea = (uint32_t)index.bits + (uint64_t)offset;
        if (checked) {
            x64_mov_ri(c, 8, SCRATCH_GPR, ea + (uint64_t)size);
            x64_alu_rm(c, ALU_CMP, 8, SCRATCH_GPR, x64_at(R15, ALK_VMCTX_MEMORY_SIZE));
            x64_jcc(c, CC_A, cg_trap_label(g, ALK_TRAP_MEMORY_OUT_OF_BOUNDS));
        }
        if (ea <= INT32_MAX)
            return x64_at(R14, (int32_t)ea);
        x64_mov_ri(c, 8, SCRATCH_GPR, ea);
        return x64_at_index(R14, SCRATCH_GPR, 1, 0);
    }
    x64_reg reg = (x64_reg)index.reg;   /* the caller put it in a register */
    uint64_t end = (uint64_t)offset + (uint64_t)size;
    if (end <= INT32_MAX) {
        if (checked) {
            x64_lea(c, 8, SCRATCH_GPR, x64_at(reg, (int32_t)end));
            x64_alu_rm(c, ALU_CMP, 8, SCRATCH_GPR, x64_at(R15, ALK_VMCTX_MEMORY_SIZE));
            x64_jcc(c, CC_A, cg_trap_label(g, ALK_TRAP_MEMORY_OUT_OF_BOUNDS));
        }
        return x64_at_index(R14, reg, 1, (int32_t)offset);
    }
    /* Offsets past 2 GiB do not fit a displacement: add them up in the scratch register. */
    x64_mov_ri(c, 8, SCRATCH_GPR, end);
    x64_alu_rr(c, ALU_ADD, 8, SCRATCH_GPR, reg);
    if (checked) {
        x64_alu_rm(c, ALU_CMP, 8, SCRATCH_GPR, x64_at(R15, ALK_VMCTX_MEMORY_SIZE));
        x64_jcc(c, CC_A, cg_trap_label(g, ALK_TRAP_MEMORY_OUT_OF_BOUNDS));
    }
    return x64_at_index(R14, SCRATCH_GPR, 1, -size);
}

/* Puts a popped i32 index in a register unless it is a constant. A pinned local is used in
 * its own register, which then must not be written: *borrowed says so. */
static value index_operand(codegen *g, bool *borrowed)
{
    value index = cg_pop(g);
    *borrowed = false;
    if (index.loc == LOC_LOCAL && cg_local_reg(g, index.local) >= 0) {
        *borrowed = true;
        return (value){ .loc = LOC_REG, .type = ALK_I32, .reg = (uint8_t)cg_local_reg(g, index.local) };
    }
    if (index.loc != LOC_CONST && index.loc != LOC_REG) {
        int reg = cg_into_reg(g, index);
        index = (value){ .loc = LOC_REG, .type = ALK_I32, .reg = (uint8_t)reg };
    }
    return index;
}

static void load(codegen *g, const alk_instr *in, alk_valtype type, int size, bool sign)
{
    bool borrowed;
    value index = index_operand(g, &borrowed);
    x64_mem at = address(g, index, in->imm.memarg.offset, size);
    if (alk_is_float(type)) {
        int reg = cg_alloc_xmm(g);
        x64_movs_load(g->code, size, reg, at);
        if (!borrowed)
            cg_free(g, index);
        cg_push_reg(g, type, reg);
        return;
    }
    int reg = index.loc == LOC_REG && !borrowed ? index.reg : cg_alloc_gpr(g);
    x64_load(g->code, cg_width(type), (x64_reg)reg, at, size, sign);
    cg_push_reg(g, type, reg);
}

static void store(codegen *g, const alk_instr *in, int size)
{
    value v = cg_pop(g);
    bool value_borrowed = false, borrowed;
    if (v.loc == LOC_LOCAL && cg_local_reg(g, v.local) >= 0) {
        v = (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)cg_local_reg(g, v.local) };
        value_borrowed = true;
    } else if (v.loc != LOC_REG && !(v.loc == LOC_CONST && !alk_is_float(v.type))) {
        int reg = cg_into_reg(g, v);
        v = (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)reg };
    }
    value index = index_operand(g, &borrowed);
    x64_mem at = address(g, index, in->imm.memarg.offset, size);
    if (v.loc == LOC_CONST) {
        if (size == 8 && !((int64_t)v.bits >= INT32_MIN && (int64_t)v.bits <= INT32_MAX)) {
            /* the scratch register may hold the address: use a fresh one */
            int reg = cg_alloc_gpr(g);
            x64_mov_ri(g->code, 8, (x64_reg)reg, v.bits);
            x64_store(g->code, 8, at, (x64_reg)reg);
            cg_free(g, (value){ .loc = LOC_REG, .type = ALK_I64, .reg = (uint8_t)reg });
        } else {
            x64_store_imm(g->code, size, at, (int32_t)v.bits);
        }
    } else if (alk_is_float(v.type)) {
        x64_movs_store(g->code, size, at, v.reg);
    } else {
        x64_store(g->code, size, at, (x64_reg)v.reg);
    }
    if (!value_borrowed)
        cg_free(g, v);
    if (!borrowed)
        cg_free(g, index);
}

static void global_get(codegen *g, uint32_t index)
{
    const alk_global *global = &g->module->globals[index];
    x64_mem at = x64_at(R15, (int32_t)alk_layout_global(g->layout, index));
    bool indirect = index < g->module->imported_global_count && global->type.is_mutable;
    if (indirect) {
        x64_load(g->code, 8, SCRATCH_GPR, at, 8, false);
        at = x64_at(SCRATCH_GPR, 0);
    }
    alk_valtype type = global->type.type;
    if (alk_is_float(type)) {
        int reg = cg_alloc_xmm(g);
        x64_movs_load(g->code, type == ALK_F32 ? 4 : 8, reg, at);
        cg_push_reg(g, type, reg);
    } else {
        int reg = cg_alloc_gpr(g);
        x64_load(g->code, cg_width(type), (x64_reg)reg, at, cg_width(type), false);
        cg_push_reg(g, type, reg);
    }
}

static void global_set(codegen *g, uint32_t index)
{
    const alk_global *global = &g->module->globals[index];
    value v = cg_pop(g);
    if (v.loc == LOC_SLOT || v.loc == LOC_LOCAL || (v.loc == LOC_CONST && alk_is_float(v.type))) {
        int reg = cg_into_reg(g, v);
        v = (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)reg };
    }
    x64_mem at = x64_at(R15, (int32_t)alk_layout_global(g->layout, index));
    if (index < g->module->imported_global_count && global->type.is_mutable) {
        x64_load(g->code, 8, SCRATCH_GPR, at, 8, false);
        at = x64_at(SCRATCH_GPR, 0);
    }
    if (v.loc == LOC_CONST && cg_width(v.type) == 8 &&
        !((int64_t)v.bits >= INT32_MIN && (int64_t)v.bits <= INT32_MAX)) {
        int reg = cg_alloc_gpr(g);
        x64_mov_ri(g->code, 8, (x64_reg)reg, v.bits);
        v = (value){ .loc = LOC_REG, .type = ALK_I64, .reg = (uint8_t)reg };
    }
    cg_store_to(g, v, at);
    cg_free(g, v);
}

/* table.get / table.set: bounds-checked access to entry `index` of table `table`. */
static void table_access(codegen *g, uint32_t table, bool set)
{
    alk_code *c = g->code;
    value v = { 0 };
    if (set) {
        v = cg_pop(g);
        int reg = cg_into_reg(g, v);
        v = (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)reg };
    }
    value index = cg_pop(g);
    int reg = cg_into_reg(g, index);
    x64_load(c, 8, SCRATCH_GPR, x64_at(R15, (int32_t)alk_layout_table(g->layout, table)), 8, false);
    x64_alu_rm(c, ALU_CMP, 4, (x64_reg)reg, x64_at(SCRATCH_GPR, ALK_TABLE_SIZE));
    x64_jcc(c, CC_AE, cg_trap_label(g, ALK_TRAP_TABLE_OUT_OF_BOUNDS));
    x64_load(c, 8, SCRATCH_GPR, x64_at(SCRATCH_GPR, ALK_TABLE_ENTRIES), 8, false);
    x64_mem entry = x64_at_index(SCRATCH_GPR, (x64_reg)reg, 8, 0);
    if (set) {
        x64_store(c, 8, entry, (x64_reg)v.reg);
        cg_free(g, v);
        cg_free(g, (value){ .loc = LOC_REG, .type = ALK_I32, .reg = (uint8_t)reg });
    } else {
        x64_load(c, 8, (x64_reg)reg, entry, 8, false);
        cg_push_reg(g, g->module->tables[table].element, reg);
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
        args[n + i] = cg_pop(g);
    cg_call_builtin(g, index, args, n + popped, result);
}

bool cg_memory_instr(codegen *g, const alk_instr *in)
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
        int reg = cg_alloc_gpr(g);
        x64_load(c, 8, (x64_reg)reg, x64_at(R15, ALK_VMCTX_MEMORY_SIZE), 8, false);
        x64_shift_ri(c, SHIFT_SHR, 8, (x64_reg)reg, 16);
        cg_push_reg(g, ALK_I32, reg);
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
        int reg = cg_alloc_gpr(g);
        x64_load(c, 8, SCRATCH_GPR, x64_at(R15, (int32_t)alk_layout_table(g->layout, in->imm.index)),
                 8, false);
        x64_load(c, 4, (x64_reg)reg, x64_at(SCRATCH_GPR, ALK_TABLE_SIZE), 4, false);
        cg_push_reg(g, ALK_I32, reg);
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
        cg_push_const(g, in->imm.ref_type, 0);
        return true;
    case ALK_OP_REF_IS_NULL: {
        value v = cg_pop(g);
        int reg = cg_into_reg(g, v);
        x64_test_rr(c, 8, (x64_reg)reg, (x64_reg)reg);
        x64_setcc(c, CC_E, (x64_reg)reg);
        x64_movzx8_rr(c, (x64_reg)reg, (x64_reg)reg);
        cg_push_reg(g, ALK_I32, reg);
        return true;
    }
    case ALK_OP_REF_FUNC: {
        int reg = cg_alloc_gpr(g);
        x64_lea(c, 8, (x64_reg)reg,
                x64_at(R15, (int32_t)alk_layout_function_ref(g->layout, in->imm.index)));
        cg_push_reg(g, ALK_FUNCREF, reg);
        return true;
    }
    default:
        return false;
    }
}
