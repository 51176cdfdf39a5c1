/*
 * Line marks and per-instruction trap stubs for modules with source lines: what the AArch64
 * back end records into the shared alk_lines (src/lines.c explains the scheme).
 */
#include "codegen.h"

void arm_mark(codegen *g, uint32_t wasm)
{
    g->wasm_offset = wasm;
    if (g->lines && !alk_lines_mark(g->lines, alk_code_position(g->code), wasm))
        g->code->failed = true;
}

uint32_t arm_trap_site(codegen *g, enum alk_trap kind)
{
    uint32_t label = alk_lines_site(g->lines, (uint32_t)kind, g->wasm_offset);
    if (label)
        return label;
    label = alk_code_new_label(g->code);
    if (!alk_lines_add_site(g->lines, label, (uint32_t)kind, g->wasm_offset))
        g->code->failed = true;
    return label;
}

void arm_emit_site_stubs(codegen *g)
{
    for (uint32_t i = 0; i < alk_lines_site_count(g->lines); i++) {
        uint32_t label, kind, wasm;
        alk_lines_site_at(g->lines, i, &label, &kind, &wasm);
        arm_mark(g, wasm);
        alk_code_bind(g->code, label);
        arm_emit_trap_stub(g, (enum alk_trap)kind);
    }
    alk_lines_clear_sites(g->lines);
}
