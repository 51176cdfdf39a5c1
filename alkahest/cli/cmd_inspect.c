/*
 * alkahest inspect FILE.alko [--disassemble NAME|INDEX]
 *
 * Prints an object's header, sections, imports, exports and functions (with code offsets and
 * names); --disassemble shows one function's machine code through objdump.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "alkahest_runtime.h"

static const char *section_names[ALK_SECTION_LIMIT] = {
    "", "types", "imports", "functions", "exports", "memory", "tables", "globals", "elements",
    "element-items", "data", "data-bytes", "code", "strings",
};
static const char *kinds[] = { "function", "table", "memory", "global" };

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
    snprintf(command, sizeof command,
             "objdump -D -b binary -m i386:x86-64 -M intel --adjust-vma=0x%x %s | tail -n +8",
             f.offset, path);
    int status = system(command);
    unlink(path);
    return status == 0 ? ALK_EXIT_OK : ALK_EXIT_USAGE;
}

int alk_cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *which = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--disassemble") && i + 1 < argc)
            which = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "usage: alkahest inspect FILE.alko [--disassemble NAME|INDEX]\n");
            return ALK_EXIT_USAGE;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: alkahest inspect FILE.alko [--disassemble NAME|INDEX]\n");
        return ALK_EXIT_USAGE;
    }
    uint8_t *bytes;
    size_t size;
    int error = alk_cli_read_file(path, &bytes, &size);
    if (error) {
        fprintf(stderr, "alkahest inspect: %s: %s\n", path, strerror(error));
        return ALK_EXIT_USAGE;
    }
    alk_object o;
    const char *problem = alk_object_open(&o, bytes, size);
    if (problem) {
        fprintf(stderr, "alkahest inspect: %s: %s\n", path, problem);
        free(bytes);
        return ALK_EXIT_INVALID;
    }
    int status = ALK_EXIT_OK;
    if (which) {
        status = disassemble(&o, which);
        free(bytes);
        return status;
    }
    printf("object     %s (%zu bytes), bounds %s\n", path, size, o.flags & 1 ? "guard" : "checked");
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
    return status;
}
