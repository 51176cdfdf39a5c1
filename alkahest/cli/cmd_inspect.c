/*
 * alkahest inspect FILE.alko [--disassemble NAME|INDEX] [--at CODE_OFFSET...]
 *
 * Prints an object's header, sections, imports, exports and functions (with code offsets and
 * names); --disassemble shows one function's machine code through objdump; --at says what each
 * code offset is (a trap's "+0x..." or a disassembly's address): its function and, when the
 * object has a lines section (DWARF at compile time), its Wasm offset, file and line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "alkahest_runtime.h"

static const char *section_names[ALK_SECTION_LIMIT] = {
#define SECTION_NAME(name, id, text, size) [id] = text,
    ALK_OBJ_SECTIONS(SECTION_NAME)
#undef SECTION_NAME
};
static const char *kinds[] = {
#define KIND_NAME(name, value, text) [value] = text,
    ALK_OBJ_EXTERN_KIND_VALUES(KIND_NAME)
#undef KIND_NAME
};

static void print_str(alk_str s) { printf("%.*s", (int)s.length, s.bytes); }

static int disassemble(const alk_object *o, const char *which)
{
    uint32_t defined = alk_object_count(o, ALK_SECTION_FUNCTIONS);
    char *end;
    unsigned long index = strtoul(which, &end, 10);
    int64_t found = -1;
    if (*end == 0 && index >= o->imported_function_count && index < o->function_count)
        found = (int64_t)(index - o->imported_function_count);
    for (uint32_t i = 0; i < defined && found < 0; i++) {
        alk_object_function f = alk_object_function_at(o, i);
        if (f.name.length == strlen(which) && !memcmp(f.name.bytes, which, f.name.length))
            found = i;
    }
    if (found < 0) {
        int64_t exported = alk_object_find_export(o, which, (uint32_t)strlen(which), 0);
        if (exported >= (int64_t)o->imported_function_count)
            found = exported - o->imported_function_count;
    }
    if (found < 0) {
        fprintf(stderr, "alkahest inspect: no defined function %s\n", which);
        return ALK_EXIT_USAGE;
    }
    alk_object_function f = alk_object_function_at(o, (uint32_t)found);
    char path[] = "/tmp/alkahest-disassembly-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("alkahest inspect");
        return ALK_EXIT_USAGE;
    }
    const uint8_t *code = o->sections[ALK_SECTION_CODE].data + f.offset;
    if (write(fd, code, f.size) != (ssize_t)f.size) {
        close(fd);
        unlink(path);
        return ALK_EXIT_USAGE;
    }
    close(fd);
    printf("function %u", o->imported_function_count + (uint32_t)found);
    if (f.name.length) {
        printf(" (");
        print_str(f.name);
        printf(")");
    }
    printf(", %u bytes at code+0x%x\n", f.size, f.offset);
    fflush(stdout);
    char command[256];
    if (o->target == ALK_OBJ_TARGET_AARCH64)   /* binutils-aarch64-linux-gnu */
        snprintf(command, sizeof command,
                 "aarch64-linux-gnu-objdump -D -b binary -m aarch64 --adjust-vma=0x%x %s | "
                 "tail -n +8", f.offset, path);
    else
        snprintf(command, sizeof command,
                 "objdump -D -b binary -m i386:x86-64 -M intel --adjust-vma=0x%x %s | tail -n +8",
                 f.offset, path);
    int status = system(command);
    unlink(path);
    return status == 0 ? ALK_EXIT_OK : ALK_EXIT_USAGE;
}

#define USAGE "usage: alkahest inspect FILE.alko [--disassemble NAME|INDEX] " \
              "[--at CODE_OFFSET|FUNCTION+OFFSET...]\n"

/* The defined function named NAME (name section or export) with its code offset, or -1. */
static int64_t function_named(const alk_object *o, const char *name, size_t length)
{
    for (uint32_t i = 0; i < alk_object_count(o, ALK_SECTION_FUNCTIONS); i++) {
        alk_str n = alk_object_function_name(o, o->imported_function_count + i);
        if (n.length == length && !memcmp(n.bytes, name, length))
            return alk_object_function_at(o, i).offset;
    }
    return -1;
}

/* --at: "code+0x1a2 divide at div.c:6 (wasm 0x1f)", one line per offset: a code offset, or
 * FUNCTION+OFFSET as a trap names it. */
static int describe(const alk_object *o, char **offsets, int count)
{
    int status = ALK_EXIT_OK;
    for (int i = 0; i < count; i++) {
        char *end, *plus = strrchr(offsets[i], '+');
        int64_t base = plus ? function_named(o, offsets[i], (size_t)(plus - offsets[i])) : 0;
        errno = 0;
        unsigned long long offset = strtoull(plus ? plus + 1 : offsets[i], &end, 0);
        if (base < 0)
            end = "?";                          /* no such function: refused below */
        offset += (unsigned long long)(base > 0 ? base : 0);
        alk_frame_info frame;
        if (*end || errno || end == offsets[i] ||
            offset >= o->sections[ALK_SECTION_CODE].size ||
            !alk_frame_describe(o, (uint32_t)offset, &frame)) {
            fprintf(stderr, "alkahest inspect: --at %s: not an offset inside a function's code\n",
                    offsets[i]);
            status = ALK_EXIT_USAGE;
            continue;
        }
        char line[512];
        alk_frame_format(&frame, 0, line, sizeof line);
        printf("code+0x%llx %s\n", offset, line + 3);   /* without the "#0 " */
    }
    return status;
}

int alk_cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *which = NULL;
    char **offsets = calloc((size_t)argc, sizeof *offsets);
    int offset_count = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--disassemble") && i + 1 < argc)
            which = argv[++i];
        else if (!strcmp(argv[i], "--at") && i + 1 < argc)
            offsets[offset_count++] = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, USAGE);
            free(offsets);
            return ALK_EXIT_USAGE;
        }
    }
    if (!path) {
        fprintf(stderr, USAGE);
        free(offsets);
        return ALK_EXIT_USAGE;
    }
    uint8_t *bytes;
    size_t size;
    int error = alk_cli_read_file(path, &bytes, &size);
    if (error) {
        fprintf(stderr, "alkahest inspect: %s: %s\n", path, strerror(error));
        free(offsets);
        return ALK_EXIT_USAGE;
    }
    alk_object o;
    const char *problem = alk_object_read(&o, bytes, size);
    if (problem) {
        fprintf(stderr, "alkahest inspect: %s: %s\n", path, problem);
        free(bytes);
        free(offsets);
        return ALK_EXIT_INVALID;
    }
    int status = ALK_EXIT_OK;
    if (which || offset_count) {
        status = offset_count ? describe(&o, offsets, offset_count) : ALK_EXIT_OK;
        if (which && status == ALK_EXIT_OK)
            status = disassemble(&o, which);
        free(bytes);
        free(offsets);
        return status;
    }
    printf("object     %s (%zu bytes), target %s, bounds %s\n", path, size,
           alk_object_target_name(o.target), o.flags & 1 ? "guard" : "checked");
    printf("functions  %u (%u imported), vmctx %u bytes, start %s\n", o.function_count,
           o.imported_function_count, o.vmctx_size, o.start == UINT32_MAX ? "none" : "yes");
    printf("sections\n");
    for (int id = 1; id < ALK_SECTION_LIMIT; id++) {
        const alk_section_view *s = &o.sections[id];
        if (s->data)
            printf("  %-14s offset 0x%06zx  %8u bytes  %6u records\n", section_names[id],
                   (size_t)(s->data - o.bytes), s->size, s->count);
    }
    for (uint32_t i = 0; i < alk_object_count(&o, ALK_SECTION_IMPORTS); i++) {
        alk_object_import imp = alk_object_import_at(&o, i);
        printf("import     %s ", imp.kind < 4 ? kinds[imp.kind] : "?");
        print_str(imp.module);
        printf(".");
        print_str(imp.field);
        if (imp.kind == 0) {
            printf(" ");
            print_str(alk_object_type(&o, imp.index));
        }
        printf("\n");
    }
    for (uint32_t i = 0; i < alk_object_count(&o, ALK_SECTION_EXPORTS); i++) {
        alk_object_export e = alk_object_export_at(&o, i);
        printf("export     ");
        print_str(e.name);
        printf(" (%s %u)\n", e.kind < 4 ? kinds[e.kind] : "?", e.index);
    }
    for (uint32_t i = 0; i < alk_object_count(&o, ALK_SECTION_FUNCTIONS); i++) {
        alk_object_function f = alk_object_function_at(&o, i);
        printf("function   %-5u code+0x%06x %6u bytes  ", o.imported_function_count + i, f.offset,
               f.size);
        print_str(alk_object_type(&o, f.type_index));
        if (f.name.length) {
            printf("  ");
            print_str(f.name);
        }
        printf("\n");
    }
    free(bytes);
    free(offsets);
    return status;
}
