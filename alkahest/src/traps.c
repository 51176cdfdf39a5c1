/*
 * Where a single-pass back end's trapping instructions go (singlepass.h, alk_traps): one stub
 * per trap kind per function, or, when the module has source lines, one per trapping
 * instruction, marked with its instruction (src/lines.c), so that a trap's return address names
 * its line. The stubs' bodies are the target's (alk_singlepass.emit_trap_stub).
 */
#include "singlepass.h"

void alk_traps_begin_function(alk_traps *t)
{
    alk_memset(t->labels, 0, sizeof t->labels);
}

void alk_traps_mark(alk_traps *t, alk_code *code, uint32_t wasm)
{
    t->wasm_offset = wasm;
    if (t->lines && !alk_lines_mark(t->lines, alk_code_position(code), wasm))
        code->failed = true;
}

uint32_t alk_traps_label(alk_traps *t, alk_code *code, enum alk_trap kind)
{
    if (!t->lines) {
        if (!t->labels[kind])
            t->labels[kind] = alk_code_new_label(code);
        return t->labels[kind];
    }
    /* a stub per trapping instruction, shared by that instruction's own checks only */
    uint32_t label = alk_lines_site(t->lines, (uint32_t)kind, t->wasm_offset);
    if (label)
        return label;
    label = alk_code_new_label(code);
    if (!alk_lines_add_site(t->lines, label, (uint32_t)kind, t->wasm_offset))
        code->failed = true;
    return label;
}

void alk_traps_emit_stubs(alk_traps *t, alk_code *code, const alk_singlepass *target)
{
    if (t->lines) {
        for (uint32_t i = 0; i < alk_lines_site_count(t->lines); i++) {
            uint32_t label, kind, wasm;
            alk_lines_site_at(t->lines, i, &label, &kind, &wasm);
            alk_traps_mark(t, code, wasm);
            alk_code_bind(code, label);
            target->emit_trap_stub(code, (enum alk_trap)kind);
        }
        alk_lines_clear_sites(t->lines);
    }
    for (int kind = 1; kind < ALK_TRAP_LIMIT; kind++) {
        if (!t->labels[kind])
            continue;
        alk_code_bind(code, t->labels[kind]);
        target->emit_trap_stub(code, (enum alk_trap)kind);
    }
}
