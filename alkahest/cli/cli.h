/*
 * The alkahest command-line tool: one file per subcommand (cmd_NAME.c), dispatched from the
 * table in main.c. Hosted C: libc is fine here, unlike in src/.
 */
#ifndef ALK_CLI_H
#define ALK_CLI_H

#include <stdio.h>

#include "alkahest.h"

/* Exit statuses shared by every subcommand. */
enum {
    ALK_EXIT_OK = 0,
    ALK_EXIT_INVALID = 1, /* the input is malformed or invalid; a diagnostic was printed */
    ALK_EXIT_USAGE = 2,   /* bad arguments, or a file that cannot be read */
};

typedef struct alk_cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *arguments;
    const char *summary;
} alk_cli_command;

/* Subcommands (cmd_*.c). */
int alk_cmd_validate(int argc, char **argv);
int alk_cmd_compile(int argc, char **argv);
int alk_cmd_inspect(int argc, char **argv);
int alk_cmd_run(int argc, char **argv);
int alk_cmd_spec(int argc, char **argv);

/* Helpers (main.c). */
extern const alk_allocator alk_cli_allocator; /* malloc and free */
/* Reads a whole file into a malloc'd buffer; returns 0 or an errno value. */
int alk_cli_read_file(const char *path, uint8_t **bytes, size_t *size);
/* Prints "ALK-E012 at 0x1f in function 3 (fac): message" and a newline. */
void alk_cli_print_diag(FILE *out, const alk_diag *diag);
/* The tier the compile options ask for: `-O` (compile, run, spec) sets ALK_TIER_OPTIMIZED. */
extern alk_tier alk_cli_tier;
/* Compile options for this machine: bounds, the tier (loading alkahest-opt.so for the optimizing
 * one), and one compile task per online CPU (main.c). */
alk_compile_options alk_cli_compile_options(alk_bounds_mode bounds);
/* "checked" / "guard"; -1 for anything else (cmd_compile.c). */
int alk_cli_parse_bounds(const char *text, alk_bounds_mode *out);
/* "x86_64" / "aarch64"; -1 for anything else (cmd_compile.c). */
int alk_cli_parse_target(const char *text, alk_target *out);
/* Writes a whole file through a temporary and a rename; returns 0 or an errno value. */
int alk_cli_write_file(const char *path, const uint8_t *bytes, size_t size);

/* Source lines from a module's DWARF .debug_line (dwarf.c), for alk_compile_options. False
 * when the module has none (or none that could be read); free with alk_cli_source_lines_free. */
typedef struct alk_cli_lines {
    alk_source_lines lines;
    alk_source_line *rows;
    char **files;
} alk_cli_lines;
bool alk_cli_source_lines(const uint8_t *wasm, size_t size, alk_cli_lines *out);
void alk_cli_source_lines_free(alk_cli_lines *lines);
/* alk_build with the module's source lines when it has DWARF (the object's lines section).
 * With alk_cli_always_lines, modules without DWARF are compiled as if they had some (no rows):
 * the back end's lines path (a stub per trapping instruction) for `alkahest spec --lines`. */
extern bool alk_cli_always_lines;
int alk_cli_build(const uint8_t *wasm, size_t size, const alk_compile_options *options,
                  uint8_t **object, size_t *object_size, alk_diag *diag);

#endif
