/*
 * Source lines from a Wasm module's DWARF: the line programs of its .debug_line custom section
 * (DWARF 2 to 5, as clang -g and rustc -g write them; DWARF 5's strings in .debug_line_str and
 * .debug_str), run into rows of (Wasm code-section offset, file, line) for the compiler's
 * `lines` section (alk_compile_options.source_lines). Nothing else of DWARF is read.
 *
 * Hosted C, with the reader discipline of src/: every read checks the end first, and a
 * malformed program ends the parse with what was read so far (line information is a help, never
 * a reason to refuse a module). Written from the DWARF 5 standard, section 6.2.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct cursor {
    const uint8_t *p, *end;
    bool bad;
} cursor;

static bool need(cursor *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = true;
        return false;
    }
    return true;
}

static uint64_t fixed(cursor *c, unsigned n)
{
    uint64_t v = 0;
    if (!need(c, n))
        return 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}

static uint64_t uleb(cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; need(c, 1); shift += 7) {
        uint8_t byte = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    return 0;
}

static int64_t sleb(cursor *c)
{
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t byte = 0x80;
    while (need(c, 1) && (byte & 0x80)) {
        byte = *c->p++;
        if (shift < 64)
            v |= (int64_t)((uint64_t)(byte & 0x7f) << shift);
        shift += 7;
    }
    if (shift < 64 && (byte & 0x40))
        v |= (int64_t)(~0ull << shift);
    return v;
}

static const char *cstring(cursor *c)
{
    const uint8_t *start = c->p;
    while (need(c, 1) && *c->p)
        c->p++;
    if (c->bad)
        return "";
    c->p++;
    return (const char *)start;
}

static void skip(cursor *c, uint64_t n)
{
    if (need(c, (size_t)n))
        c->p += n;
}

/* ---- The module's custom sections ---------------------------------------------------------- */
typedef struct section {
    const uint8_t *bytes;
    size_t size;
} section;

static section custom_section(const uint8_t *wasm, size_t size, const char *name)
{
    section none = { NULL, 0 };
    cursor c = { wasm, wasm + size, false };
    if (size < 8 || memcmp(wasm, "\0asm", 4))
        return none;
    c.p += 8;
    size_t name_length = strlen(name);
    while (c.p < c.end && !c.bad) {
        uint8_t id = (uint8_t)fixed(&c, 1);
        uint64_t length = uleb(&c);
        if (c.bad || length > (uint64_t)(c.end - c.p))
            return none;
        cursor body = { c.p, c.p + length, false };
        c.p += length;
        if (id != 0)
            continue;
        uint64_t n = uleb(&body);
        if (!body.bad && n == name_length && n <= (uint64_t)(body.end - body.p) &&
            !memcmp(body.p, name, name_length))
            return (section){ body.p + n, (size_t)(body.end - body.p - n) };
    }
    return none;
}

/* ---- Rows and files ------------------------------------------------------------------------ */
typedef struct builder {
    alk_source_line *rows;
    size_t row_count, row_capacity;
    char **files;
    uint32_t file_count, file_capacity;
    bool failed;
} builder;

static void add_row(builder *b, uint64_t address, uint32_t file, uint32_t line)
{
    if (b->failed || address > UINT32_MAX)
        return;
    if (b->row_count == b->row_capacity) {
        size_t capacity = b->row_capacity ? b->row_capacity * 2 : 1024;
        alk_source_line *fresh = realloc(b->rows, capacity * sizeof *fresh);
        if (!fresh) {
            b->failed = true;
            return;
        }
        b->rows = fresh;
        b->row_capacity = capacity;
    }
    b->rows[b->row_count++] = (alk_source_line){ (uint32_t)address, file, line };
}

/* The index of the name DIRECTORY/NAME (or NAME alone) among all files so far. */
static uint32_t intern(builder *b, const char *directory, const char *name)
{
    size_t length = strlen(name) + (directory && *directory ? strlen(directory) + 1 : 0);
    char *full = malloc(length + 1);
    if (!full) {
        b->failed = true;
        return 0;
    }
    if (directory && *directory && name[0] != '/')
        snprintf(full, length + 1, "%s/%s", directory, name);
    else
        snprintf(full, length + 1, "%s", name);
    for (uint32_t i = 0; i < b->file_count; i++) {
        if (!strcmp(b->files[i], full)) {
            free(full);
            return i;
        }
    }
    if (b->file_count == b->file_capacity) {
        uint32_t capacity = b->file_capacity ? b->file_capacity * 2 : 64;
        char **fresh = realloc(b->files, capacity * sizeof *fresh);
        if (!fresh) {
            free(full);
            b->failed = true;
            return 0;
        }
        b->files = fresh;
        b->file_capacity = capacity;
    }
    b->files[b->file_count] = full;
    return b->file_count++;
}

/* ---- One line program (DWARF 5, 6.2.4 and 6.2.5) ------------------------------------------- */
enum {
    DW_LNS_copy = 1, DW_LNS_advance_pc, DW_LNS_advance_line, DW_LNS_set_file, DW_LNS_set_column,
    DW_LNS_negate_stmt, DW_LNS_set_basic_block, DW_LNS_const_add_pc, DW_LNS_fixed_advance_pc,
    DW_LNS_set_prologue_end, DW_LNS_set_epilogue_begin, DW_LNS_set_isa,
    DW_LNE_end_sequence = 1, DW_LNE_set_address, DW_LNE_define_file,
    DW_LNCT_path = 1, DW_LNCT_directory_index,
    DW_FORM_block2 = 0x03, DW_FORM_block4, DW_FORM_data2, DW_FORM_data4, DW_FORM_data8,
    DW_FORM_string, DW_FORM_block, DW_FORM_block1, DW_FORM_data1, DW_FORM_flag, DW_FORM_sdata,
    DW_FORM_strp, DW_FORM_udata, DW_FORM_line_strp = 0x1f, DW_FORM_data16 = 0x1e,
    DW_FORM_strx = 0x1a, DW_FORM_strx1 = 0x25, DW_FORM_strx2, DW_FORM_strx3, DW_FORM_strx4,
};

#define MAX_FILES 65536
#define MAX_DIRECTORIES 65536

typedef struct tables {
    const char **directories;
    uint32_t directory_count;
    const char **file_names;
    uint32_t *file_directories;
    uint32_t file_count, file_capacity;
    uint32_t *global;              /* file index -> builder's index */
} tables;

static const char *string_at(section s, uint64_t offset)
{
    if (!s.bytes || offset >= s.size || !memchr(s.bytes + offset, 0, s.size - offset))
        return "";
    return (const char *)s.bytes + offset;
}

/* One value of a DWARF 5 entry format; strings come back in *text, numbers in *number. */
static void read_form(cursor *c, uint64_t form, unsigned offset_size, section line_str,
                      section str, const char **text, uint64_t *number)
{
    *text = NULL;
    *number = 0;
    switch (form) {
    case DW_FORM_string: *text = cstring(c); break;
    case DW_FORM_line_strp: *text = string_at(line_str, fixed(c, offset_size)); break;
    case DW_FORM_strp: *text = string_at(str, fixed(c, offset_size)); break;
    case DW_FORM_data1: case DW_FORM_flag: case DW_FORM_strx1: *number = fixed(c, 1); break;
    case DW_FORM_data2: case DW_FORM_strx2: *number = fixed(c, 2); break;
    case DW_FORM_strx3: *number = fixed(c, 3); break;
    case DW_FORM_data4: case DW_FORM_strx4: *number = fixed(c, 4); break;
    case DW_FORM_data8: *number = fixed(c, 8); break;
    case DW_FORM_data16: skip(c, 16); break;
    case DW_FORM_udata: case DW_FORM_strx: *number = uleb(c); break;
    case DW_FORM_sdata: *number = (uint64_t)sleb(c); break;
    case DW_FORM_block: skip(c, uleb(c)); break;
    case DW_FORM_block1: skip(c, fixed(c, 1)); break;
    case DW_FORM_block2: skip(c, fixed(c, 2)); break;
    case DW_FORM_block4: skip(c, fixed(c, 4)); break;
    default: c->bad = true; break;                /* a form we cannot size: stop here */
    }
}

static void add_file(tables *t, const char *name, uint32_t directory, cursor *c)
{
    if (t->file_count == t->file_capacity) {
        uint32_t capacity = t->file_capacity ? t->file_capacity * 2 : 32;
        const char **names = realloc(t->file_names, capacity * sizeof *names);
        if (names)
            t->file_names = names;
        uint32_t *directories = realloc(t->file_directories, capacity * sizeof *directories);
        if (directories)
            t->file_directories = directories;
        if (!names || !directories || capacity > MAX_FILES) {
            c->bad = true;
            return;
        }
        t->file_capacity = capacity;
    }
    t->file_names[t->file_count] = name;
    t->file_directories[t->file_count++] = directory;
}

/* DWARF 5: directory and file tables, each a list of entries of a declared format. */
static void read_entry_table(cursor *c, unsigned offset_size, section line_str, section str,
                             tables *t, bool files)
{
    uint64_t format_count = fixed(c, 1);
    uint64_t formats[16][2];
    if (format_count > 16) {
        c->bad = true;
        return;
    }
    for (uint64_t i = 0; i < format_count; i++) {
        formats[i][0] = uleb(c);
        formats[i][1] = uleb(c);
    }
    uint64_t count = uleb(c);
    if (count > (files ? MAX_FILES : MAX_DIRECTORIES)) {
        c->bad = true;
        return;
    }
    if (!files) {
        t->directories = calloc(count ? count : 1, sizeof *t->directories);
        if (!t->directories) {
            c->bad = true;
            return;
        }
    }
    for (uint64_t i = 0; i < count && !c->bad; i++) {
        const char *path = "";
        uint64_t directory = 0;
        for (uint64_t k = 0; k < format_count; k++) {
            const char *text;
            uint64_t number;
            read_form(c, formats[k][1], offset_size, line_str, str, &text, &number);
            if (formats[k][0] == DW_LNCT_path && text)
                path = text;
            else if (formats[k][0] == DW_LNCT_directory_index)
                directory = number;
        }
        if (files)
            add_file(t, path, (uint32_t)directory, c);
        else
            t->directories[t->directory_count++] = path;
    }
}

/* The name of file `index` as a row should show it: relative to the compilation directory
 * (DWARF 5 directory 0; DWARF 4 directory index 0) when it is below it. */
static uint32_t global_file(builder *b, tables *t, uint64_t index, unsigned version)
{
    /* DWARF 5 numbers files from 0, earlier versions from 1 */
    uint64_t at = version >= 5 ? index : index - 1;
    if (index == 0 && version < 5)
        return UINT32_MAX;
    if (at >= t->file_count)
        return UINT32_MAX;
    if (t->global[at] != UINT32_MAX)
        return t->global[at];
    uint32_t directory = t->file_directories[at];
    const char *prefix = NULL;
    if (version >= 5 && directory > 0 && directory < t->directory_count)
        prefix = t->directories[directory];
    else if (version < 5 && directory > 0 && directory <= t->directory_count)
        prefix = t->directories[directory - 1];
    return t->global[at] = intern(b, prefix, t->file_names[at]);
}

static void free_tables(tables *t)
{
    free(t->directories);
    free(t->file_names);
    free(t->file_directories);
    free(t->global);
}

/* Runs the line program of one unit; returns where the next unit starts (NULL: stop). */
static const uint8_t *run_unit(cursor *c, section line_str, section str, builder *b)
{
    unsigned offset_size = 4;
    uint64_t unit_length = fixed(c, 4);
    if (unit_length == 0xffffffff) {
        offset_size = 8;
        unit_length = fixed(c, 8);
    }
    if (c->bad || unit_length > (uint64_t)(c->end - c->p))
        return NULL;
    cursor unit = { c->p, c->p + unit_length, false };
    const uint8_t *next = c->p + unit_length;
    unsigned version = (unsigned)fixed(&unit, 2);
    if (version < 2 || version > 5)
        return next;                              /* a version we do not read: skip the unit */
    if (version >= 5) {
        unsigned address_size = (unsigned)fixed(&unit, 1);
        fixed(&unit, 1);                          /* segment selector size */
        if (address_size != 4 && address_size != 8)
            return next;
    }
    uint64_t header_length = fixed(&unit, offset_size);
    if (unit.bad || header_length > (uint64_t)(unit.end - unit.p))
        return next;
    const uint8_t *program_start = unit.p + header_length;
    unsigned minimum_length = (unsigned)fixed(&unit, 1);
    if (version >= 4)
        fixed(&unit, 1);                          /* maximum operations per instruction */
    bool default_is_stmt = fixed(&unit, 1) != 0;
    int line_base = (int8_t)fixed(&unit, 1);
    unsigned line_range = (unsigned)fixed(&unit, 1);
    unsigned opcode_base = (unsigned)fixed(&unit, 1);
    uint8_t lengths[256] = { 0 };
    for (unsigned i = 1; i < opcode_base; i++)
        lengths[i] = (uint8_t)fixed(&unit, 1);
    if (unit.bad || line_range == 0 || opcode_base == 0)
        return next;
    (void)default_is_stmt;

    tables t = { 0 };
    if (version >= 5) {
        read_entry_table(&unit, offset_size, line_str, str, &t, false);
        read_entry_table(&unit, offset_size, line_str, str, &t, true);
    } else {
        const char *names[MAX_DIRECTORIES > 4096 ? 4096 : MAX_DIRECTORIES];
        while (!unit.bad && unit.p < unit.end && *unit.p && t.directory_count < 4096)
            names[t.directory_count++] = cstring(&unit);
        fixed(&unit, 1);
        t.directories = malloc((t.directory_count ? t.directory_count : 1) * sizeof *names);
        if (t.directories)
            memcpy(t.directories, names, t.directory_count * sizeof *names);
        else
            unit.bad = true;
        while (!unit.bad && unit.p < unit.end && *unit.p) {
            const char *name = cstring(&unit);
            uint32_t directory = (uint32_t)uleb(&unit);
            uleb(&unit);                          /* modification time */
            uleb(&unit);                          /* length */
            add_file(&t, name, directory, &unit);
        }
        fixed(&unit, 1);
    }
    t.global = malloc((t.file_capacity ? t.file_capacity : 1) * sizeof *t.global);
    if (unit.bad || !t.global || program_start > unit.end) {
        free_tables(&t);
        return next;
    }
    for (uint32_t i = 0; i < t.file_capacity; i++)
        t.global[i] = UINT32_MAX;

    /* The state machine (6.2.2), one sequence after another. Sequences of code the linker
     * dropped start at address 0 or at a tombstone: those rows are left out. */
    cursor p = { program_start, unit.end, false };
    uint64_t address = 0, file = 1, line = 1;
    bool keep = true;
#define EMIT(line_)                                                                         \
    do {                                                                                    \
        uint32_t global = global_file(b, &t, file, version);                                \
        if (keep)                                                                           \
            add_row(b, address, global == UINT32_MAX ? 0 : global,                          \
                    global == UINT32_MAX ? 0 : (uint32_t)(line_));                          \
    } while (0)
    while (!p.bad && p.p < p.end && !b->failed) {
        unsigned opcode = (unsigned)fixed(&p, 1);
        if (opcode >= opcode_base) {
            unsigned adjusted = opcode - opcode_base;
            address += (adjusted / line_range) * minimum_length;
            line += (int64_t)line_base + (int64_t)(adjusted % line_range);
            EMIT(line);
            continue;
        }
        switch (opcode) {
        case 0: {                                 /* extended */
            uint64_t length = uleb(&p);
            if (length == 0 || length > (uint64_t)(p.end - p.p)) {
                p.bad = true;
                break;
            }
            const uint8_t *after = p.p + length;
            unsigned sub = (unsigned)fixed(&p, 1);
            if (sub == DW_LNE_end_sequence) {
                EMIT(0);                          /* past the sequence: no line */
                address = 0, file = 1, line = 1;
                keep = true;
            } else if (sub == DW_LNE_set_address && length - 1 <= 8) {
                address = fixed(&p, (unsigned)(length - 1));
                uint64_t tombstone = length - 1 == 4 ? 0xffffffffu : UINT64_MAX;
                keep = address != 0 && address != tombstone && address != tombstone - 1;
            }
            p.p = after;
            break;
        }
        case DW_LNS_copy: EMIT(line); break;
        case DW_LNS_advance_pc: address += uleb(&p) * minimum_length; break;
        case DW_LNS_advance_line: line += sleb(&p); break;
        case DW_LNS_set_file: file = uleb(&p); break;
        case DW_LNS_const_add_pc: address += ((255 - opcode_base) / line_range) * minimum_length; break;
        case DW_LNS_fixed_advance_pc: address += fixed(&p, 2); break;
        default:                                  /* operands we do not need: skip them */
            for (unsigned i = 0; i < lengths[opcode]; i++)
                uleb(&p);
            break;
        }
    }
#undef EMIT
    free_tables(&t);
    return next;
}

typedef struct ordered {
    alk_source_line row;
    size_t order;
} ordered;

/* By address; at one address, the row that ends a sequence first, then program order: the
 * last row at an address is the one that holds there. */
static int by_address(const void *a, const void *b)
{
    const ordered *x = a, *y = b;
    if (x->row.address != y->row.address)
        return x->row.address < y->row.address ? -1 : 1;
    if ((x->row.line == 0) != (y->row.line == 0))
        return x->row.line == 0 ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static void release(builder *b)
{
    free(b->rows);
    for (uint32_t i = 0; i < b->file_count; i++)
        free(b->files[i]);
    free(b->files);
}

bool alk_cli_source_lines(const uint8_t *wasm, size_t size, alk_cli_lines *out)
{
    memset(out, 0, sizeof *out);
    section line = custom_section(wasm, size, ".debug_line");
    if (!line.bytes)
        return false;
    section line_str = custom_section(wasm, size, ".debug_line_str");
    section str = custom_section(wasm, size, ".debug_str");
    builder b = { 0 };
    cursor c = { line.bytes, line.bytes + line.size, false };
    while (c.p < c.end && !b.failed) {
        const uint8_t *next = run_unit(&c, line_str, str, &b);
        if (!next)
            break;
        c.p = next;
    }
    ordered *sorted = b.row_count && !b.failed ? malloc(b.row_count * sizeof *sorted) : NULL;
    if (!sorted) {
        release(&b);
        return false;
    }
    for (size_t i = 0; i < b.row_count; i++)
        sorted[i] = (ordered){ b.rows[i], i };
    qsort(sorted, b.row_count, sizeof *sorted, by_address);
    for (size_t i = 0; i < b.row_count; i++)
        b.rows[i] = sorted[i].row;
    free(sorted);
    out->rows = b.rows;
    out->files = b.files;
    out->lines = (alk_source_lines){ b.rows, (uint32_t)b.row_count, (const char *const *)b.files,
                                     b.file_count };
    return true;
}

void alk_cli_source_lines_free(alk_cli_lines *lines)
{
    free(lines->rows);
    for (uint32_t i = 0; i < lines->lines.file_count; i++)
        free(lines->files[i]);
    free(lines->files);
    memset(lines, 0, sizeof *lines);
}
