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
};

/* ---- ELF64 reading ----------------------------------------------------------------------------- */

enum {
    SHT_SYMTAB = 2, SHT_RELA = 4, SHT_NOBITS = 8,
    SHF_ALLOC = 2,
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
            if (type != R_X86_64_PC32 && type != R_X86_64_PLT32) {
                link_fail(l, ": a relocation the object format cannot express (%s)",
                          type == 1 ? "absolute 64-bit" : "not PC-relative");
                return;
            }
            uint32_t place_at = o->address[target] + (uint32_t)at;
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
static int assemble_stubs(uint8_t **elf, size_t *size, alk_diag *diag)
{
    const opt_target *target = &opt_x86_64;
    LLVMContextRef context = LLVMContextCreate();
    LLVMModuleRef module = LLVMModuleCreateWithNameInContext("stubs", context);
    LLVMSetTarget(module, target->triple);
    LLVMSetModuleInlineAsm2(module, x86_64_stubs, strlen(x86_64_stubs));
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

/* `n` bytes of x86 nops, at most 8 bytes each (the external entry runs through them). */
static void write_nops(uint8_t *at, uint32_t n)
{
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

/* A stack check at `at` whose jb (its last 6 bytes, rel32) goes to `trap`. */
static void write_check(linker *l, const entry_template *e, uint32_t at, uint32_t trap)
{
    memcpy(l->code + at, e->bytes + e->external_size, e->check_size);
    uint32_t next = at + e->check_size;
    uint32_t rel = (uint32_t)((int64_t)trap - (int64_t)next);
    for (int i = 0; i < 4; i++)
        l->code[next - 4 + i] = (uint8_t)(rel >> (8 * i));
}

int opt_link(const alk_module *module, const opt_chunk_object *chunks, unsigned chunk_count,
             alk_compiled *out, alk_diag *diag)
{
    uint8_t *stub_elf = NULL;
    size_t stub_size = 0;
    int error = assemble_stubs(&stub_elf, &stub_size, diag);
    if (error)
        return error;
    uint32_t defined = module->function_count - module->imported_function_count;
    linker l = { .module = module, .object_count = chunk_count + 1, .diag = diag };
    l.objects = calloc(l.object_count, sizeof *l.objects);
    l.internal = calloc(defined ? defined : 1, sizeof *l.internal);
    uint32_t *ends = calloc(defined ? defined : 1, sizeof *ends);
    uint32_t *traps = calloc(defined ? defined : 1, sizeof *traps);
    uint32_t *second_checks = malloc((defined ? defined : 1) * sizeof *second_checks);
    const alk_allocator *a = &module->allocator;
    out->functions = a->alloc(a->user, (defined ? defined : 1) * sizeof *out->functions);
    if (out->functions)
        memset(out->functions, 0, (defined ? defined : 1) * sizeof *out->functions);
    if (!l.objects || !l.internal || !ends || !traps || !second_checks || !out->functions) {
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
    elf_symbol entry;
    entry_template e = { 0 };
    if (!l.error)
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
                place(&l, o, symbol_section(&l, o, name));
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
    memset(l.code, 0xCC, mapped);
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
        memcpy(l.code + at, e.bytes, e.external_size);
        write_nops(l.code + at + e.external_size, check - at - e.external_size);
        write_check(&l, &e, check, traps[d]);
        if (second_checks[d] != UINT32_MAX)
            write_check(&l, &e, second_checks[d], traps[d]);
        memcpy(l.code + traps[d], e.bytes + e.external_size + e.check_size, e.trap_size);
        out->functions[d].size = ends[d] - at;
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
    free(stub_elf);
    return error;
}
