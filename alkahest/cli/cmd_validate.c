/*
 * alkahest validate [-q|-v] FILE...
 *
 * Decodes and validates each FILE. With one file, prints nothing when it is valid and one line
 * on stderr, the diagnostic, when it is not. With several (the batch mode the conformance run
 * uses), prints one verdict per file on stdout: "FILE: ok" or "FILE: ALK-E...". -q prints
 * nothing, -v adds the module's size figures to "ok". Exits 0 when all are valid, 1 when one is
 * malformed or invalid, 2 on a usage error or an unreadable file (the worst status wins).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../src/alk_internal.h"

typedef struct options {
    bool quiet;
    bool verbose;
    bool batch; /* more than one file: verdicts on stdout, prefixed by the file name */
} options;

static int validate_file(const char *path, const options *opts)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    int error = alk_cli_read_file(path, &bytes, &size);
    if (error) {
        if (!opts->quiet)
            fprintf(opts->batch ? stdout : stderr, "%s: cannot read: %s\n", path,
                    strerror(error));
        return ALK_EXIT_USAGE;
    }
    alk_diag diag;
    alk_module *module = NULL;
    int code = alk_decode(bytes, size, &alk_cli_allocator, &module, &diag);
    if (code == ALK_OK) {
        /* large modules: function bodies are checked on every CPU */
        alk_compile_options parallel = alk_cli_compile_options(ALK_BOUNDS_GUARD);
        code = alk_validate_with(module, size > (1u << 20) ? &parallel : NULL, &diag);
    }

    int status = code == ALK_OK ? ALK_EXIT_OK : ALK_EXIT_INVALID;
    if (!opts->quiet) {
        if (code != ALK_OK) {
            FILE *out = opts->batch ? stdout : stderr;
            if (opts->batch)
                fprintf(out, "%s: ", path);
            alk_cli_print_diag(out, &diag);
        } else if (opts->batch || opts->verbose) {
            printf("%s: ok", path);
            if (opts->verbose)
                printf(" (%u functions, %u bytes of code in %zu bytes)",
                       module->function_count - module->imported_function_count,
                       module->code_section_size, size);
            printf("\n");
        }
    }
    alk_module_free(module);
    free(bytes);
    return status;
}

int alk_cmd_validate(int argc, char **argv)
{
    options opts = {false, false, false};
    int first = 1;
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        if (!strcmp(argv[first], "--")) {
            first++;
            break;
        } else if (!strcmp(argv[first], "-q")) {
            opts.quiet = true;
        } else if (!strcmp(argv[first], "-v")) {
            opts.verbose = true;
        } else {
            fprintf(stderr, "alkahest validate: unknown option '%s'\n", argv[first]);
            first = argc + 1;
            break;
        }
    }
    if (first >= argc) {
        fprintf(stderr, "usage: alkahest validate [-q|-v] FILE...\n");
        return ALK_EXIT_USAGE;
    }
    opts.batch = argc - first > 1;
    int worst = ALK_EXIT_OK;
    for (int i = first; i < argc; i++) {
        int status = validate_file(argv[i], &opts);
        if (status > worst)
            worst = status;
    }
    fflush(stdout);
    return worst;
}
