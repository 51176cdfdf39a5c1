/*
 * From the chunks' ELF relocatable objects (what LLVM emits) to one position-independent code
 * buffer: every function behind its external entry, each chunk's constants after its
 * functions, the shared stubs at the end. Only PC-relative relocations between these pieces are
 * resolved; any other kind, or a symbol that is not ours (a libm call LLVM invented, say), is an
 * internal error: the object format has no relocations, so the code must need none.
 *
 * Layout of one function (docs/opt-tier.md, "Stack"):
 *
 *     +0   external entry (16-byte aligned): mov r15, rdi; mov r14, [r15]      (6 bytes)
 *     +6   nops                                                                (8 bytes)
 *     +14  internal entry, the stack check: lea r11, [rsp - STACK_MARGIN];
 *          cmp r11, [r15 + stack_limit]; jb stack_trap                        (18 bytes)
 *     +32  the function's code (its ELF section, 16-byte aligned)
 *          (a function with several results: the adapter there, then a second stack check,
 *          the internal entry, and the function itself)
 *          stack_trap: push rbp; mov rbp, rsp; mov rdi, r15; mov esi, 9; call [r15 + 0x18]
 *
 * Every call between the tier's functions goes to an internal entry: a relocation against
 * function `w<n>`, in another chunk or in the same one (ELF keeps a relocation for a PC-relative
 * reference to a global symbol), is resolved to its stack check, never to its code. So the
 * check runs once per call, before LLVM's prologue, and code that LLVM inlined has none.
 *
 * The stubs (the stack probe, the multi-result call helper, the entry) are assembled by LLVM
 * from text, below, in a module of their own.
 *
 * AArch64 (docs/opt-tier.md, "AArch64") has the same layout with its own pieces: the external
 * entry (8 bytes), three nops, a stack check (28 bytes) that carries the function's frame size,
 * read off its code (a64_frame_bound: LLVM's AArch64 back end cannot call a probe), the code,
 * the stack trap (28 bytes); its relocations are resolved by a64_relocate. The check of a
 * function with several results before its adapter covers the adapter's frame.
 */
#include <stdlib.h>
#include <string.h>

#include "llvm_tier.h"

/* ---- The x86-64 stubs ----------------------------------------------------------------------- */

/* alk.probe: called by LLVM's prologue with rax = the frame's size, before rsp moves; returns
 * with rax unchanged unless the frame would end below stack_limit + STACK_MARGIN, in which case
 * it traps (the handler's caller is the function whose prologue called it).
 * alk.call_multi(code, vmctx, buffer): abi.c's layout. */
#define STR(x) #x
#define XSTR(x) STR(x)
static const char x86_64_stubs[] =
    ".intel_syntax noprefix\n"
    ".section .text.alk.entry,\"ax\",@progbits\n"
    "alk.entry:\n"
    "  mov r15, rdi\n"
    "  mov r14, [r15]\n"
    "alk.check:\n"
    "  lea r11, [rsp - " XSTR(STACK_MARGIN) "]\n"
    "  cmp r11, [r15 + 0x10]\n"
    "  .byte 0x0f, 0x82\n"             /* jb rel32, to the function's stack_trap */
    "  .long 0\n"
    "alk.stack_trap:\n"
    "  push rbp\n"
    "  mov rbp, rsp\n"
    "  mov rdi, r15\n"
    "  mov esi, 9\n"
    "  call qword ptr [r15 + 0x18]\n"
    "  int3\n"
    "alk.entry_end:\n"
    ".section .text.alk.stubs,\"ax\",@progbits\n"
    ".p2align 4\n"
    ".globl alk.probe\n"
    "alk.probe:\n"
    "  neg rax\n"
    "  lea rax, [rsp + rax + 8 - " XSTR(STACK_MARGIN) "]\n"
    "  cmp rax, [r15 + 0x10]\n"
    "  jb 1f\n"
    "  neg rax\n"
    "  lea rax, [rsp + rax + 8 - " XSTR(STACK_MARGIN) "]\n"
    "  ret\n"
    "1:\n"
    "  mov rdi, r15\n"
    "  mov esi, 9\n"
    "  jmp qword ptr [r15 + 0x18]\n"
    ".p2align 4\n"
    ".globl alk.call_multi\n"
    "alk.call_multi:\n"
    "  push rbp\n"
    "  mov rbp, rsp\n"
    "  push rbx\n"
    "  push r12\n"
    "  mov rbx, rdx\n"
    "  mov r12, rdi\n"
    "  mov rcx, [rbx + 168]\n"
    "  add rcx, [rbx + 176]\n"
    "  mov rax, rsp\n"
    "  sub rax, rcx\n"
    "  jb 3f\n"
    "  mov r10, [r15 + 0x10]\n"
    "  add r10, " XSTR(STACK_MARGIN) "\n"
    "  cmp rax, r10\n"
    "  jb 3f\n"
    "  mov rsp, rax\n"
    "  xor r8d, r8d\n"
    "1:\n"
    "  cmp r8, rcx\n"
    "  jae 2f\n"
    "  mov r9, [rbx + r8 + 208]\n"
    "  mov [rsp + r8], r9\n"
    "  add r8, 8\n"
    "  jmp 1b\n"
    "2:\n"
    "  mov rdi, rsi\n"
    "  mov rsi, [rbx]\n"
    "  mov rdx, [rbx + 8]\n"
    "  mov rcx, [rbx + 16]\n"
    "  mov r8, [rbx + 24]\n"
    "  mov r9, [rbx + 32]\n"
    "  movdqu xmm0, [rbx + 40]\n"
    "  movdqu xmm1, [rbx + 56]\n"
    "  movdqu xmm2, [rbx + 72]\n"
    "  movdqu xmm3, [rbx + 88]\n"
    "  movdqu xmm4, [rbx + 104]\n"
    "  movdqu xmm5, [rbx + 120]\n"
    "  movdqu xmm6, [rbx + 136]\n"
    "  movdqu xmm7, [rbx + 152]\n"
    "  call r12\n"
    "  mov [rbx + 184], rax\n"
    "  movdqu [rbx + 192], xmm0\n"
    "  mov rcx, [rbx + 168]\n"
    "  add rcx, [rbx + 176]\n"
    "  xor r8d, r8d\n"
    "4:\n"
    "  cmp r8, rcx\n"
    "  jae 5f\n"
    "  mov r9, [rsp + r8]\n"
    "  mov [rbx + r8 + 208], r9\n"
    "  add r8, 8\n"
    "  jmp 4b\n"
    "5:\n"
    "  lea rsp, [rbp - 16]\n"
    "  pop r12\n"
    "  pop rbx\n"
    "  pop rbp\n"
    "  ret\n"
    "3:\n"
    "  pop r12\n"
    "  pop rbx\n"
    "  pop rbp\n"
    "  mov rdi, r15\n"
    "  mov esi, 9\n"
    "  jmp qword ptr [r15 + 0x18]\n"
    ".att_syntax\n";

/* AArch64 (docs/opt-tier.md, "AArch64"): the entry, the stack check and the stack trap are
 * encoded below (a64_*), since the check carries each function's own frame size; the one stub
 * assembled from text is alk.call_multi(code, vmctx, buffer), abi.c's layout for seven integer
 * argument registers: x1..x7 at 0, v0..v7 at 56, stack bytes at 184, area bytes at 192, x0 out
 * at 200, v0 out at 208, the stack arguments at 224. It checks the stack it takes against the
 * caller's (x28's) limit plus A64_STACK_MARGIN before sp moves, and traps from its caller's
 * frame otherwise. */
static const char aarch64_stubs[] =
    ".section .text.alk.stubs,\"ax\",@progbits\n"
    ".p2align 4\n"
    ".globl alk.call_multi\n"
    "alk.call_multi:\n"
    "  stp x29, x30, [sp, #-32]!\n"
    "  mov x29, sp\n"
    "  stp x19, x20, [sp, #16]\n"
    "  mov x19, x2\n"
    "  mov x20, x0\n"
    "  ldr x9, [x19, #184]\n"
    "  ldr x10, [x19, #192]\n"
    "  add x9, x9, x10\n"
    "  add x9, x9, #15\n"
    "  and x9, x9, #-16\n"
    "  mov x11, sp\n"
    "  subs x11, x11, x9\n"
    "  b.lo 3f\n"
    "  ldr x12, [x28, #16]\n"
    "  adds x12, x12, #" XSTR(A64_STACK_MARGIN) "\n"
    "  b.hs 3f\n"
    "  cmp x11, x12\n"
    "  b.lo 3f\n"
    "  mov sp, x11\n"
    "  add x15, x19, #224\n"
    "  mov x13, #0\n"
    "1:\n"
    "  cmp x13, x9\n"
    "  b.hs 2f\n"
    "  ldr x14, [x15, x13]\n"
    "  str x14, [sp, x13]\n"
    "  add x13, x13, #8\n"
    "  b 1b\n"
    "2:\n"
    "  mov x0, x1\n"
    "  ldp x1, x2, [x19, #0]\n"
    "  ldp x3, x4, [x19, #16]\n"
    "  ldp x5, x6, [x19, #32]\n"
    "  ldr x7, [x19, #48]\n"
    "  ldur q0, [x19, #56]\n"
    "  ldur q1, [x19, #72]\n"
    "  ldur q2, [x19, #88]\n"
    "  ldur q3, [x19, #104]\n"
    "  ldur q4, [x19, #120]\n"
    "  ldur q5, [x19, #136]\n"
    "  ldur q6, [x19, #152]\n"
    "  ldur q7, [x19, #168]\n"
    "  blr x20\n"
    "  str x0, [x19, #200]\n"
    "  stur q0, [x19, #208]\n"
    "  ldr x9, [x19, #184]\n"
    "  ldr x10, [x19, #192]\n"
    "  add x9, x9, x10\n"
    "  add x9, x9, #15\n"
    "  and x9, x9, #-16\n"
    "  add x15, x19, #224\n"
    "  mov x13, #0\n"
    "4:\n"
    "  cmp x13, x9\n"
    "  b.hs 5f\n"
    "  ldr x14, [sp, x13]\n"
    "  str x14, [x15, x13]\n"
    "  add x13, x13, #8\n"
    "  b 4b\n"
    "5:\n"
    "  mov sp, x29\n"
    "  ldp x19, x20, [sp, #16]\n"
    "  ldp x29, x30, [sp], #32\n"
    "  ret\n"
    "3:\n"
    "  ldp x19, x20, [sp, #16]\n"
    "  ldp x29, x30, [sp], #32\n"
    "  mov x0, x28\n"
    "  mov w1, #9\n"
    "  ldr x16, [x28, #24]\n"
    "  br x16\n";

/* The AArch64 entry pieces, as words (docs/opt-tier.md, "AArch64"):
 *     external entry:  mov x28, x0; ldr x27, [x28]
 *     stack check:     movz x16, #lo; movk x16, #hi, lsl 16    (frame + A64_STACK_MARGIN)
 *                      subs x16, sp, x16; b.lo stack_trap      (sp below that: wrapped)
 *                      ldr x17, [x28, #stack_limit]; cmp x16, x17; b.lo stack_trap
 *     stack trap:      stp x29, x30, [sp, #-16]!; mov x29, sp; mov x0, x28; mov w1, #9;
 *                      ldr x16, [x28, #trap_handler]; blr x16; udf #0 */
static const uint32_t a64_external[] = { 0xAA0003FC, 0xF940039B };
static const uint32_t a64_trap[] = { 0xA9BF7BFD, 0x910003FD, 0xAA1C03E0, 0x52800121, 0xF9400F90,
                                     0xD63F0200, 0x00000000 };
#define A64_CHECK_WORDS 7
#define A64_NOP 0xD503201Fu

/* The pieces of alk.entry's section, copied for every function (offsets in the stubs' object). */
typedef struct entry_template {
    const uint8_t *bytes;           /* alk.entry */
    uint32_t external_size;         /* alk.entry .. alk.check */
    uint32_t check_size;            /* alk.check .. alk.stack_trap, ending with jb's rel32 */
    uint32_t trap_size;             /* alk.stack_trap .. alk.entry_end */
} entry_template;

enum {
    R_X86_64_PC32 = 2,
    R_X86_64_PLT32 = 4,
    R_AARCH64_PREL32 = 261,
    R_AARCH64_LD_PREL_LO19 = 273,
    R_AARCH64_ADR_PREL_LO21 = 274,
    R_AARCH64_ADR_PREL_PG_HI21 = 275,
    R_AARCH64_ADR_PREL_PG_HI21_NC = 276,
    R_AARCH64_ADD_ABS_LO12_NC = 277,
    R_AARCH64_LDST8_ABS_LO12_NC = 278,
    R_AARCH64_TSTBR14 = 279,
    R_AARCH64_CONDBR19 = 280,
    R_AARCH64_JUMP26 = 282,
    R_AARCH64_CALL26 = 283,
    R_AARCH64_LDST16_ABS_LO12_NC = 284,
    R_AARCH64_LDST32_ABS_LO12_NC = 285,
    R_AARCH64_LDST64_ABS_LO12_NC = 286,
    R_AARCH64_LDST128_ABS_LO12_NC = 299,
};

/* ---- ELF64 reading ----------------------------------------------------------------------------- */

enum {
    SHT_SYMTAB = 2, SHT_RELA = 4, SHT_NOBITS = 8,
    SHF_ALLOC = 2, SHF_EXECINSTR = 4,
    STT_SECTION = 3,
    SHN_UNDEF = 0, SHN_LORESERVE = 0xff00,
};

typedef struct elf_section {
    uint32_t name, type;
    uint64_t flags, offset, size;
    uint32_t link, info;
    uint64_t align;
} elf_section;

typedef struct elf_object {
    const uint8_t *bytes;
    size_t size;
    uint32_t section_count;
    elf_section *sections;
    uint32_t *address;              /* placed sections' offsets in the code; UINT32_MAX if not */
    const uint8_t *symbols;         /* the symbol table's entries */
    uint32_t symbol_count;
    const char *symbol_names;
    size_t symbol_names_size;
    const char *section_names;
    size_t section_names_size;
} elf_object;

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static bool elf_open(elf_object *o, const uint8_t *bytes, size_t size)
{
    memset(o, 0, sizeof *o);
    o->bytes = bytes;
    o->size = size;
    if (size < 64 || memcmp(bytes, "\177ELF\2\1", 6))
        return false;
    uint64_t shoff = rd64(bytes + 40);
    uint16_t shentsize = rd16(bytes + 58), shnum = rd16(bytes + 60), shstrndx = rd16(bytes + 62);
    if (shentsize != 64 || shoff > size || (uint64_t)shnum * 64 > size - shoff || shstrndx >= shnum)
        return false;
    o->section_count = shnum;
    o->sections = calloc(shnum ? shnum : 1, sizeof *o->sections);
    o->address = malloc((shnum ? shnum : 1) * sizeof *o->address);
    if (!o->sections || !o->address)
        return false;
    for (uint32_t i = 0; i < shnum; i++) {
        const uint8_t *h = bytes + shoff + 64 * i;
        elf_section *s = &o->sections[i];
        s->name = rd32(h);
        s->type = rd32(h + 4);
        s->flags = rd64(h + 8);
        s->offset = rd64(h + 24);
        s->size = rd64(h + 32);
        s->link = rd32(h + 40);
        s->info = rd32(h + 44);
        s->align = rd64(h + 48);
        o->address[i] = UINT32_MAX;
        if (s->type != SHT_NOBITS && (s->offset > size || s->size > size - s->offset))
            return false;
    }
    o->section_names = (const char *)bytes + o->sections[shstrndx].offset;
    o->section_names_size = o->sections[shstrndx].size;
    for (uint32_t i = 0; i < shnum; i++) {
        elf_section *s = &o->sections[i];
        if (s->type != SHT_SYMTAB)
            continue;
        if (s->link >= shnum)
            return false;
        o->symbols = bytes + s->offset;
        o->symbol_count = (uint32_t)(s->size / 24);
        o->symbol_names = (const char *)bytes + o->sections[s->link].offset;
        o->symbol_names_size = o->sections[s->link].size;
    }
    return true;
}

static void elf_close(elf_object *o)
{
    free(o->sections);
    free(o->address);
}

static const char *name_at(const char *table, size_t size, uint32_t offset)
{
    if (offset >= size || !memchr(table + offset, 0, size - offset))
        return "";
    return table + offset;
}

static const char *section_name(const elf_object *o, uint32_t i)
{
    return name_at(o->section_names, o->section_names_size, o->sections[i].name);
}

typedef struct elf_symbol {
    const char *name;
    uint8_t type;
    uint16_t section;
    uint64_t value;
} elf_symbol;

static elf_symbol symbol_at(const elf_object *o, uint32_t i)
{
    const uint8_t *p = o->symbols + 24 * i;
    return (elf_symbol){ name_at(o->symbol_names, o->symbol_names_size, rd32(p)), p[4] & 15,
                         rd16(p + 6), rd64(p + 8) };
}

static bool find_symbol(const elf_object *o, const char *name, elf_symbol *out)
{
    for (uint32_t i = 1; i < o->symbol_count; i++) {
        elf_symbol s = symbol_at(o, i);
        if (s.section != SHN_UNDEF && s.section < o->section_count && !strcmp(s.name, name)) {
            *out = s;
            return true;
        }
    }
    return false;
}

/* ---- Layout and relocation --------------------------------------------------------------------- */

typedef struct linker {
    const opt_target *target;
    const alk_module *module;
    elf_object *objects;            /* the chunks', then the stubs' */
    unsigned object_count;
    uint32_t *internal;             /* by defined function: where direct calls go */
    uint32_t cursor;
    uint8_t *code;                  /* once sized */
    alk_diag *diag;
    int error;
} linker;

static void link_fail(linker *l, const char *format, const char *detail)
{
    if (!l->error)
        l->error = alk_fail(l->diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION, format, detail);
}

static uint32_t align_up(uint32_t at, uint64_t alignment)
{
    if (alignment < 1)
        alignment = 1;
    if (alignment > 4096)
        alignment = 4096;
    return (uint32_t)((at + alignment - 1) & ~(alignment - 1));
}

/* Whether a section belongs in the code: allocated, with contents, not unwind tables. */
static bool is_code_section(const elf_object *o, uint32_t i)
{
    const elf_section *s = &o->sections[i];
    if (!(s->flags & SHF_ALLOC) || s->size == 0)
        return false;
    return strcmp(section_name(o, i), ".eh_frame") != 0;
}

static void place(linker *l, elf_object *o, uint32_t i)
{
    if (o->address[i] != UINT32_MAX)
        return;
    const elf_section *s = &o->sections[i];
    if (s->type == SHT_NOBITS || !(s->flags & SHF_ALLOC)) {
        link_fail(l, ": LLVM emitted a data section (%s)", section_name(o, i));
        return;
    }
    l->cursor = align_up(l->cursor, s->align);
    o->address[i] = l->cursor;
    if (l->cursor + s->size >= (1u << 30)) {
        link_fail(l, ": %s", "more than 1 GiB of code");
        return;
    }
    l->cursor += (uint32_t)s->size;
}

static uint32_t symbol_section(linker *l, const elf_object *o, const char *name)
{
    elf_symbol s;
    if (!find_symbol(o, name, &s)) {
        link_fail(l, ": no symbol %s in LLVM's object", name);
        return 0;
    }
    return s.section;
}

/* Whether `name` is "<prefix><defined function index>"; the index in *defined. */
static bool indexed_symbol(const linker *l, const char *name, char prefix, uint32_t *defined)
{
    if (name[0] != prefix || name[1] < '0' || name[1] > '9')
        return false;
    char *end;
    unsigned long d = strtoul(name + 1, &end, 10);
    if (*end || d >= l->module->function_count - l->module->imported_function_count)
        return false;
    *defined = (uint32_t)d;
    return true;
}

/* A function's code, w<n>: every reference to it goes to its internal entry. */
static bool function_symbol(const linker *l, const char *name, uint32_t *defined)
{
    return indexed_symbol(l, name, 'w', defined);
}

/* An adapter, x<n>, is entered only from the external entry: nothing may refer to it. */
static bool is_adapter_symbol(const char *name)
{
    return name[0] == 'x' && name[1] >= '0' && name[1] <= '9';
}

/* Where an undefined symbol goes: a stub. */
static bool resolve_external(linker *l, const char *name, uint32_t *address)
{
    elf_symbol s;
    const elf_object *stubs = &l->objects[l->object_count - 1];
    if ((!strcmp(name, PROBE_SYMBOL) || !strcmp(name, MULTI_CALL_SYMBOL)) &&
        find_symbol(stubs, name, &s)) {
        *address = stubs->address[s.section] + (uint32_t)s.value;
        return true;
    }
    return false;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Whether `value` fits a signed field of `bits` bits after dropping `shift` low bits, which
 * must be zero. */
static bool fits(int64_t value, unsigned bits, unsigned shift)
{
    if (value & (((int64_t)1 << shift) - 1))
        return false;
    int64_t v = value >> shift;
    return v >= -((int64_t)1 << (bits - 1)) && v < ((int64_t)1 << (bits - 1));
}

/* One AArch64 relocation at code offset `at`, whose symbol + addend is code offset `target`:
 * every kind is PC-relative, or (the low 12 bits of an address that an ADRP's page completes)
 * relative to a page of the code, which the loaders map 4 KiB-aligned (docs/object-format.md):
 * so code offsets stand for addresses. Any other kind is an internal error. */
static void a64_relocate(linker *l, uint32_t type, uint32_t at, int64_t target)
{
    uint8_t *p = l->code + at;
    uint32_t insn = rd32(p);
    int64_t delta = target - (int64_t)at;
    int64_t pages = (target & ~(int64_t)0xFFF) - ((int64_t)at & ~(int64_t)0xFFF);
    uint32_t low = (uint32_t)target & 0xFFF;
    unsigned scale = 0;
    switch (type) {
    case R_AARCH64_CALL26:
    case R_AARCH64_JUMP26:
        if (!fits(delta, 26, 2))
            break;
        wr32(p, (insn & 0xFC000000) | ((uint32_t)(delta >> 2) & 0x03FFFFFF));
        return;
    case R_AARCH64_CONDBR19:
    case R_AARCH64_LD_PREL_LO19:
        if (!fits(delta, 19, 2))
            break;
        wr32(p, (insn & 0xFF00001F) | (((uint32_t)(delta >> 2) & 0x7FFFF) << 5));
        return;
    case R_AARCH64_TSTBR14:
        if (!fits(delta, 14, 2))
            break;
        wr32(p, (insn & 0xFFF8001F) | (((uint32_t)(delta >> 2) & 0x3FFF) << 5));
        return;
    case R_AARCH64_ADR_PREL_LO21:
        if (!fits(delta, 21, 0))
            break;
        wr32(p, (insn & 0x9F00001F) | (((uint32_t)delta & 3) << 29) |
                (((uint32_t)(delta >> 2) & 0x7FFFF) << 5));
        return;
    case R_AARCH64_ADR_PREL_PG_HI21:
    case R_AARCH64_ADR_PREL_PG_HI21_NC:
        if (!fits(pages, 21, 12))
            break;
        wr32(p, (insn & 0x9F00001F) | (((uint32_t)(pages >> 12) & 3) << 29) |
                (((uint32_t)(pages >> 14) & 0x7FFFF) << 5));
        return;
    case R_AARCH64_ADD_ABS_LO12_NC:
        wr32(p, (insn & 0xFFC003FF) | (low << 10));
        return;
    case R_AARCH64_LDST128_ABS_LO12_NC: scale++;    /* fall through */
    case R_AARCH64_LDST64_ABS_LO12_NC: scale++;     /* fall through */
    case R_AARCH64_LDST32_ABS_LO12_NC: scale++;     /* fall through */
    case R_AARCH64_LDST16_ABS_LO12_NC: scale++;     /* fall through */
    case R_AARCH64_LDST8_ABS_LO12_NC:
        if (low & ((1u << scale) - 1))
            break;
        wr32(p, (insn & 0xFFC003FF) | ((low >> scale) << 10));
        return;
    case R_AARCH64_PREL32:
        if (!fits(delta, 32, 0))
            break;
        wr32(p, (uint32_t)(int32_t)delta);
        return;
    default:
        link_fail(l, ": a relocation the object format cannot express (%s)",
                  type == 257 ? "absolute 64-bit" : "an AArch64 kind not resolved here");
        return;
    }
    link_fail(l, ": %s", "an AArch64 relocation out of range or misaligned");
}

/* The most an AArch64 function's code takes below the sp it was entered with, in *bound: the sum
 * of every decrement of sp in it (each runs at most once per call: LLVM's prologue, which is in
 * no loop, is the only code that moves sp down; there are no dynamic allocas, no probe loops,
 * no red zone). False when an instruction writes sp in any other way (sp from a register,
 * a logical immediate into sp, a register post-increment of sp): then the function is not
 * linked. Instructions that raise sp (the epilogue, sp := x29 + imm) are allowed. The code of
 * a section is all instructions (AArch64 LLVM keeps constants and jump tables in other
 * sections); a word that is not one is at worst counted as a decrement or refused. */
static bool a64_frame_bound(const uint8_t *code, uint64_t size, uint64_t *bound)
{
    uint64_t total = 0;
    for (uint64_t at = 0; at + 4 <= size; at += 4) {
        uint32_t i = rd32(code + at);
        uint32_t rd = i & 31, rn = (i >> 5) & 31;
        uint32_t top = i & 0xFF800000;
        if (top == 0x91000000 || top == 0xD1000000 || top == 0x11000000 || top == 0x51000000) {
            /* add/sub (immediate) into sp */
            if (rd != 31)
                continue;
            uint64_t imm = (uint64_t)((i >> 10) & 0xFFF) << ((i >> 22) & 1 ? 12 : 0);
            bool sub = top == 0xD1000000;
            if (!(i >> 31))
                return false;                           /* wsp */
            if (rn == 31 && sub)
                total += imm;
            else if (!(rn == 31 || (rn == 29 && !sub)))
                return false;
        } else if ((i & 0x3FE00000) == 0x0B200000 && rd == 31) {
            return false;                               /* add/sub (extended register) */
        } else if ((i & 0x1F800000) == 0x12000000 && ((i >> 29) & 3) != 3 && rd == 31) {
            return false;                               /* and/orr/eor (immediate) into sp */
        } else if (((i >> 27) & 7) == 5 && (((i >> 23) & 7) == 1 || ((i >> 23) & 7) == 3)) {
            /* load/store pair, pre- or post-indexed */
            if (rn != 31)
                continue;
            int64_t imm7 = (int64_t)((i >> 15) & 0x7F) - (((i >> 15) & 0x40) ? 128 : 0);
            uint32_t opc = i >> 30, vector = (i >> 26) & 1;
            /* the access size: w 4, x 8, s/d/q 4/8/16; opc 1 (ldpsw, stgp) counted as 16 */
            uint64_t scale = vector ? 4u << opc : opc == 0 ? 4 : opc == 2 ? 8 : 16;
            if (imm7 < 0)
                total += (uint64_t)(-imm7) * scale;
        } else if ((i & 0x3B200400) == 0x38000400) {
            /* load/store register, pre- or post-indexed (imm9) */
            if (rn != 31)
                continue;
            int64_t imm9 = (int64_t)((i >> 12) & 0x1FF) - (((i >> 12) & 0x100) ? 512 : 0);
            if (imm9 < 0)
                total += (uint64_t)(-imm9);
        } else if ((i & 0xBFA00000) == 0x0C800000 || (i & 0xBF800000) == 0x0D800000) {
            /* SIMD structure load/store, post-indexed: by a register (not its size) on sp */
            if (rn == 31 && ((i >> 16) & 31) != 31)
                return false;
        }
    }
    *bound = total;
    return true;
}

static void relocate(linker *l, elf_object *o)
{
    for (uint32_t r = 0; r < o->section_count && !l->error; r++) {
        const elf_section *rs = &o->sections[r];
        if (rs->type != SHT_RELA || rs->info >= o->section_count)
            continue;
        uint32_t target = rs->info;
        if (o->address[target] == UINT32_MAX)
            continue;                   /* unwind tables and the like: not copied */
        for (uint64_t k = 0; k + 24 <= rs->size && !l->error; k += 24) {
            const uint8_t *e = o->bytes + rs->offset + k;
            uint64_t at = rd64(e), info = rd64(e + 8);
            int64_t addend = (int64_t)rd64(e + 16);
            uint32_t symbol = (uint32_t)(info >> 32), type = (uint32_t)info;
            if (at + 4 > o->sections[target].size || symbol >= o->symbol_count) {
                link_fail(l, ": %s", "a relocation outside its section");
                return;
            }
            elf_symbol s = symbol_at(o, symbol);
            uint32_t address;
            uint32_t callee;
            if (is_adapter_symbol(s.name)) {
                link_fail(l, ": a reference to the adapter %s", s.name);
                return;
            } else if (function_symbol(l, s.name, &callee)) {
                address = l->internal[callee];      /* the stack check, in any chunk */
            } else if (s.section == SHN_UNDEF) {
                if (!resolve_external(l, s.name, &address)) {
                    link_fail(l, ": LLVM's code refers to %s, which is not in the module", s.name);
                    return;
                }
            } else if (s.section < o->section_count && o->address[s.section] != UINT32_MAX) {
                address = o->address[s.section] + (uint32_t)s.value;
            } else {
                link_fail(l, ": a relocation against an unplaced section (%s)",
                          s.section < o->section_count ? section_name(o, s.section) : "?");
                return;
            }
            uint32_t place_at = o->address[target] + (uint32_t)at;
            if (l->target->id == ALK_TARGET_AARCH64) {
                a64_relocate(l, type, place_at, (int64_t)address + addend);
                continue;
            }
            if (type != R_X86_64_PC32 && type != R_X86_64_PLT32) {
                link_fail(l, ": a relocation the object format cannot express (%s)",
                          type == 1 ? "absolute 64-bit" : "not PC-relative");
                return;
            }
            int64_t value = (int64_t)address + addend - (int64_t)place_at;
            if (value < INT32_MIN || value > INT32_MAX) {
                link_fail(l, ": %s", "a PC-relative relocation out of range");
                return;
            }
            uint32_t v = (uint32_t)(int32_t)value;
            for (int i = 0; i < 4; i++)
                l->code[place_at + i] = (uint8_t)(v >> (8 * i));
        }
    }
}

/* The stubs' object: LLVM's assembler on x86_64_stubs. */
static int assemble_stubs(const opt_target *target, uint8_t **elf, size_t *size, alk_diag *diag)
{
    const char *text = target->id == ALK_TARGET_AARCH64 ? aarch64_stubs : x86_64_stubs;
    LLVMContextRef context = LLVMContextCreate();
    LLVMModuleRef module = LLVMModuleCreateWithNameInContext("stubs", context);
    LLVMSetTarget(module, target->triple);
    LLVMSetModuleInlineAsm2(module, text, strlen(text));
    char *message = NULL;
    LLVMTargetRef t;
    int error = 0;
    LLVMTargetMachineRef machine = NULL;
    LLVMMemoryBufferRef buffer = NULL;
    if (LLVMGetTargetFromTriple(target->triple, &t, &message) ||
        !(machine = LLVMCreateTargetMachine(t, target->triple, target->cpu, target->features,
                                            LLVMCodeGenLevelDefault, LLVMRelocPIC,
                                            LLVMCodeModelSmall)) ||
        LLVMTargetMachineEmitToMemoryBuffer(machine, module, LLVMObjectFile, &message, &buffer)) {
        error = alk_fail(diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION, ": the stubs: %.120s",
                         message ? message : "no target machine");
    } else {
        *size = LLVMGetBufferSize(buffer);
        *elf = malloc(*size);
        if (*elf)
            memcpy(*elf, LLVMGetBufferStart(buffer), *size);
        else
            error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        LLVMDisposeMemoryBuffer(buffer);
    }
    LLVMDisposeMessage(message);
    if (machine)
        LLVMDisposeTargetMachine(machine);
    LLVMDisposeModule(module);
    LLVMContextDispose(context);
    return error;
}

static uint32_t symbol_offset(linker *l, const elf_object *o, const char *name, uint32_t section)
{
    elf_symbol s;
    if (!find_symbol(o, name, &s) || s.section != section) {
        link_fail(l, ": no %s in the stubs", name);
        return 0;
    }
    return (uint32_t)s.value;
}

/* alk.entry's section cut into the external entry, the stack check and the trap. */
static entry_template entry_pieces(linker *l, const elf_object *stubs, elf_symbol *entry)
{
    entry_template e = { 0 };
    if (!find_symbol(stubs, "alk.entry", entry)) {
        link_fail(l, ": %s", "no entry stub");
        return e;
    }
    uint32_t section = entry->section;
    uint32_t start = (uint32_t)entry->value;
    uint32_t check = symbol_offset(l, stubs, "alk.check", section);
    uint32_t trap = symbol_offset(l, stubs, "alk.stack_trap", section);
    uint32_t end = symbol_offset(l, stubs, "alk.entry_end", section);
    if (l->error)
        return e;
    if (!(start < check && check + 6 <= trap && trap < end) ||
        end > stubs->sections[section].size) {
        link_fail(l, ": %s", "entry stub out of order");
        return e;
    }
    e.bytes = stubs->bytes + stubs->sections[section].offset + start;
    e.external_size = check - start;
    e.check_size = trap - check;
    e.trap_size = end - trap;
    return e;
}

/* `n` bytes of nops (x86: at most 8 bytes each; AArch64: n / 4 nop words), which the external
 * entry runs through. */
static void write_nops(const linker *l, uint8_t *at, uint32_t n)
{
    if (l->target->id == ALK_TARGET_AARCH64) {
        for (uint32_t k = 0; k + 4 <= n; k += 4)
            wr32(at + k, A64_NOP);
        return;
    }
    static const uint8_t nops[8][8] = {
        { 0x90 },
        { 0x66, 0x90 },
        { 0x0f, 0x1f, 0x00 },
        { 0x0f, 0x1f, 0x40, 0x00 },
        { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
        { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
        { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
        { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
    };
    while (n > 0) {
        uint32_t k = n > 8 ? 8 : n;
        memcpy(at, nops[k - 1], k);
        at += k;
        n -= k;
    }
}

/* An AArch64 b.lo at `at` to `trap` (in range: both in one function, under 1 GiB of code
 * checked by fits). */
static uint32_t a64_branch_lo(linker *l, uint32_t at, uint32_t trap)
{
    int64_t delta = (int64_t)trap - (int64_t)at;
    if (!fits(delta, 19, 2))
        link_fail(l, ": %s", "a stack check too far from its trap");
    return 0x54000003u | (((uint32_t)(delta >> 2) & 0x7FFFF) << 5);
}

/* The AArch64 stack check at `at` for code whose frame takes `frame` bytes below the entry's
 * sp: trap unless sp - (frame + A64_STACK_MARGIN) neither wraps nor goes below stack_limit. */
static void a64_write_check(linker *l, uint32_t at, uint32_t trap, uint64_t frame)
{
    uint64_t need = frame + A64_STACK_MARGIN;
    if (need > UINT32_MAX) {
        link_fail(l, ": %s", "a frame of 4 GiB or more");
        return;
    }
    uint32_t words[A64_CHECK_WORDS] = {
        0xD2800010u | ((uint32_t)(need & 0xFFFF) << 5),         /* movz x16, #lo */
        0xF2A00010u | ((uint32_t)(need >> 16) << 5),            /* movk x16, #hi, lsl 16 */
        0xEB3063F0u,                                            /* subs x16, sp, x16 */
        a64_branch_lo(l, at + 12, trap),
        0xF9400B91u,                                            /* ldr x17, [x28, #16] */
        0xEB11021Fu,                                            /* cmp x16, x17 */
        a64_branch_lo(l, at + 24, trap),
    };
    for (int i = 0; i < A64_CHECK_WORDS; i++)
        wr32(l->code + at + 4 * i, words[i]);
}

/* The frame bound of the code at [at, at + size) (a64_frame_bound), or a link failure. */
static uint64_t a64_frame_of(linker *l, uint32_t at, uint64_t size, uint32_t defined)
{
    uint64_t frame = 0;
    if (!a64_frame_bound(l->code + at, size, &frame)) {
        char name[24];
        alk_snprintf(name, sizeof name, "w%u", defined);
        link_fail(l, ": %s moves sp in a way the stack check cannot bound", name);
    }
    return frame;
}

/* A stack check at `at` whose jb (its last 6 bytes, rel32) goes to `trap`. */
static void write_check(linker *l, const entry_template *e, uint32_t at, uint32_t trap)
{
    memcpy(l->code + at, e->bytes + e->external_size, e->check_size);
    uint32_t next = at + e->check_size;
    uint32_t rel = (uint32_t)((int64_t)trap - (int64_t)next);
    for (int i = 0; i < 4; i++)
        l->code[next - 4 + i] = (uint8_t)(rel >> (8 * i));
}

int opt_link(const opt_target *target, const alk_module *module,
             const opt_chunk_object *chunks, unsigned chunk_count, alk_compiled *out,
             alk_diag *diag)
{
    uint8_t *stub_elf = NULL;
    size_t stub_size = 0;
    int error = assemble_stubs(target, &stub_elf, &stub_size, diag);
    if (error)
        return error;
    bool a64 = target->id == ALK_TARGET_AARCH64;
    uint32_t defined = module->function_count - module->imported_function_count;
    linker l = { .target = target, .module = module, .object_count = chunk_count + 1,
                 .diag = diag };
    l.objects = calloc(l.object_count, sizeof *l.objects);
    l.internal = calloc(defined ? defined : 1, sizeof *l.internal);
    uint32_t *ends = calloc(defined ? defined : 1, sizeof *ends);
    uint32_t *traps = calloc(defined ? defined : 1, sizeof *traps);
    uint32_t *second_checks = malloc((defined ? defined : 1) * sizeof *second_checks);
    /* AArch64: the code each check guards, [at, at + size): the adapter's or the function's
     * behind the first, the function's behind the second */
    uint32_t *first_code = calloc(defined ? defined : 1, sizeof *first_code);
    uint32_t *first_size = calloc(defined ? defined : 1, sizeof *first_size);
    uint32_t *code_at = calloc(defined ? defined : 1, sizeof *code_at);
    uint32_t *code_size = calloc(defined ? defined : 1, sizeof *code_size);
    const alk_allocator *a = &module->allocator;
    out->functions = a->alloc(a->user, (defined ? defined : 1) * sizeof *out->functions);
    if (out->functions)
        memset(out->functions, 0, (defined ? defined : 1) * sizeof *out->functions);
    if (!l.objects || !l.internal || !ends || !traps || !second_checks || !out->functions ||
        !first_code || !first_size || !code_at || !code_size) {
        error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        goto done;
    }
    for (uint32_t d = 0; d < defined; d++)
        second_checks[d] = UINT32_MAX;
    for (unsigned c = 0; c < l.object_count; c++) {
        const uint8_t *bytes = c < chunk_count ? chunks[c].elf : stub_elf;
        size_t size = c < chunk_count ? chunks[c].elf_size : stub_size;
        if (!elf_open(&l.objects[c], bytes, size))
            link_fail(&l, ": %s", "LLVM's object is not the ELF expected");
    }
    elf_object *stubs = &l.objects[chunk_count];
    elf_symbol entry = { 0 };
    entry_template e = { 0 };
    if (a64)        /* encoded here, not assembled: entry.section stays 0 (no section) */
        e = (entry_template){ NULL, sizeof a64_external, 4 * A64_CHECK_WORDS, sizeof a64_trap };
    else if (!l.error)
        e = entry_pieces(&l, stubs, &entry);
    /* functions, behind their entries, chunk by chunk; then each chunk's other sections */
    for (unsigned c = 0; c < chunk_count && !l.error; c++) {
        elf_object *o = &l.objects[c];
        for (uint32_t d = chunks[c].first; d < chunks[c].end && !l.error; d++) {
            const alk_functype *t = alk_function_type(module, module->imported_function_count + d);
            char name[24];
            /* the external entry 16-byte aligned (docs/object-format.md), the check ending
             * where the 16-byte aligned code begins, nops between them */
            uint32_t head = align_up(e.external_size + e.check_size, 16);
            l.cursor = align_up(l.cursor, 16);
            out->functions[d].offset = l.cursor;
            l.internal[d] = l.cursor + head - e.check_size;
            l.cursor += head;
            if (t->result_count > 1) {
                alk_snprintf(name, sizeof name, "x%u", d);
                uint32_t adapter = symbol_section(&l, o, name);
                place(&l, o, adapter);
                if (!l.error) {
                    first_code[d] = o->address[adapter];
                    first_size[d] = (uint32_t)o->sections[adapter].size;
                }
                /* the function itself behind a check of its own: its internal entry */
                l.cursor = align_up(l.cursor + e.check_size, 16) - e.check_size;
                second_checks[d] = l.internal[d] = l.cursor;
                l.cursor += e.check_size;
            }
            alk_snprintf(name, sizeof name, "w%u", d);
            uint32_t section = symbol_section(&l, o, name);
            if (!l.error && (o->address[section] != UINT32_MAX ||
                             align_up(l.cursor, o->sections[section].align) != l.cursor))
                link_fail(&l, ": %s's code does not follow its stack check", name);
            place(&l, o, section);
            if (!l.error) {
                code_at[d] = o->address[section];
                code_size[d] = (uint32_t)o->sections[section].size;
                if (t->result_count <= 1) {
                    first_code[d] = code_at[d];
                    first_size[d] = code_size[d];
                }
            }
            elf_symbol s;
            if (!l.error && (!find_symbol(o, name, &s) || s.value != 0))
                link_fail(&l, ": %s does not begin its section", name);
            traps[d] = l.cursor;
            l.cursor += e.trap_size;
            ends[d] = l.cursor;
        }
        for (uint32_t i = 0; i < o->section_count && !l.error; i++)
            if (is_code_section(o, i))
                place(&l, o, i);
    }
    for (uint32_t i = 0; i < stubs->section_count && !l.error; i++)
        if (is_code_section(stubs, i) && i != entry.section)
            place(&l, stubs, i);
    if (l.error) {
        error = l.error;
        goto done;
    }
    uint32_t mapped = align_up(l.cursor ? l.cursor : 1, 4096);
    l.code = a->alloc(a->user, mapped);
    if (!l.code) {
        error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        goto done;
    }
    memset(l.code, a64 ? 0x00 : 0xCC, mapped);     /* the trap instruction: udf #0, int3 */
    for (unsigned c = 0; c < l.object_count; c++) {
        elf_object *o = &l.objects[c];
        for (uint32_t i = 0; i < o->section_count; i++)
            if (o->address[i] != UINT32_MAX)
                memcpy(l.code + o->address[i], o->bytes + o->sections[i].offset,
                       o->sections[i].size);
    }
    for (uint32_t d = 0; d < defined; d++) {
        uint32_t at = out->functions[d].offset;
        uint32_t check = at + align_up(e.external_size + e.check_size, 16) - e.check_size;
        write_nops(&l, l.code + at + e.external_size, check - at - e.external_size);
        if (a64) {
            for (uint32_t i = 0; i < sizeof a64_external / 4; i++)
                wr32(l.code + at + 4 * i, a64_external[i]);
            a64_write_check(&l, check, traps[d], a64_frame_of(&l, first_code[d], first_size[d], d));
            if (second_checks[d] != UINT32_MAX)
                a64_write_check(&l, second_checks[d], traps[d],
                                a64_frame_of(&l, code_at[d], code_size[d], d));
            for (uint32_t i = 0; i < sizeof a64_trap / 4; i++)
                wr32(l.code + traps[d] + 4 * i, a64_trap[i]);
        } else {
            memcpy(l.code + at, e.bytes, e.external_size);
            write_check(&l, &e, check, traps[d]);
            if (second_checks[d] != UINT32_MAX)
                write_check(&l, &e, second_checks[d], traps[d]);
            memcpy(l.code + traps[d], e.bytes + e.external_size + e.check_size, e.trap_size);
        }
        out->functions[d].size = ends[d] - at;
    }
    /* AArch64: any other code of LLVM's (none is expected: an outlined function, say) has no
     * check of its own, so it may not move sp down at all */
    for (unsigned c = 0; a64 && c < chunk_count && !l.error; c++) {
        elf_object *o = &l.objects[c];
        for (uint32_t i = 0; i < o->section_count && !l.error; i++) {
            const char *n = section_name(o, i);
            uint32_t index;
            if (o->address[i] == UINT32_MAX || !(o->sections[i].flags & SHF_EXECINSTR) ||
                (!strncmp(n, ".text.", 6) && (indexed_symbol(&l, n + 6, 'w', &index) ||
                                              indexed_symbol(&l, n + 6, 'x', &index))))
                continue;
            uint64_t frame = 0;
            if (!a64_frame_bound(l.code + o->address[i], o->sections[i].size, &frame) || frame)
                link_fail(&l, ": LLVM's code in %s moves sp without a stack check", n);
        }
    }
    for (unsigned c = 0; c < l.object_count && !l.error; c++)
        relocate(&l, &l.objects[c]);
    error = l.error;
    if (!error) {
        out->code = l.code;
        out->code_size = mapped;
        out->pcs = NULL;
        out->pc_count = 0;
        l.code = NULL;
    }
done:
    if (l.code)
        a->free(a->user, l.code);
    if (error) {
        a->free(a->user, out->functions);
        out->functions = NULL;
    }
    for (unsigned c = 0; l.objects && c < l.object_count; c++)
        elf_close(&l.objects[c]);
    free(l.objects);
    free(l.internal);
    free(ends);
    free(traps);
    free(second_checks);
    free(first_code);
    free(first_size);
    free(code_at);
    free(code_size);
    free(stub_elf);
    return error;
}
