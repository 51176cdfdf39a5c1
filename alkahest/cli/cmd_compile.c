/*
 * alkahest compile FILE.wasm -o FILE.alko [--bounds checked|guard] [--target x86_64|aarch64] [-O]
 *
 * --target: the machine the code is for (default: the one alkahest runs on). The object is the
 * same byte for byte whichever machine compiles it.
 * -O: the optimizing tier (LLVM, docs/opt-tier.md) instead of the single pass.
 *
 * The whole pipeline (alk_build); the object is written to a temporary file and renamed, so a
 * failed compile never leaves a partial object behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define USAGE "alkahest compile FILE.wasm -o FILE.alko [--bounds checked|guard] " \
              "[--target x86_64|aarch64] [-O]"

int alk_cli_parse_bounds(const char *text, alk_bounds_mode *out)
{
    if (!strcmp(text, "checked"))
        *out = ALK_BOUNDS_CHECKED;
    else if (!strcmp(text, "guard"))
        *out = ALK_BOUNDS_GUARD;
    else
        return -1;
    return 0;
}

int alk_cli_parse_target(const char *text, alk_target *out)
{
#define TARGET_NAME(name, number, text_name) \
    if (!strcmp(text, text_name)) { *out = (alk_target)number; return 0; }
    ALK_OBJ_TARGET_VALUES(TARGET_NAME)
#undef TARGET_NAME
    return -1;
}

int alk_cli_write_file(const char *path, const uint8_t *bytes, size_t size)
{
    size_t length = strlen(path);
    char *tmp = malloc(length + 32);
    if (!tmp)
        return ENOMEM;
    snprintf(tmp, length + 32, "%s.%ld.tmp", path, (long)getpid());
    FILE *file = fopen(tmp, "wb");
    if (!file) {
        int error = errno;
        free(tmp);
        return error;
    }
    size_t written = fwrite(bytes, 1, size, file);
    int error = written == size ? 0 : (errno ? errno : EIO);
    if (fclose(file) && !error)
        error = errno;
    if (!error && rename(tmp, path))
        error = errno;
    if (error)
        unlink(tmp);
    free(tmp);
    return error;
}

int alk_cmd_compile(int argc, char **argv)
{
    const char *input = NULL, *output = NULL;
    alk_bounds_mode bounds = ALK_BOUNDS_GUARD;
    alk_target target = ALK_TARGET_HOST;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            output = argv[++i];
        } else if (!strcmp(argv[i], "-O")) {
            alk_cli_tier = ALK_TIER_OPTIMIZED;
        } else if (!strcmp(argv[i], "--bounds") && i + 1 < argc) {
            if (alk_cli_parse_bounds(argv[++i], &bounds)) {
                fprintf(stderr, "alkahest compile: --bounds takes checked or guard\n");
                return ALK_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--target") && i + 1 < argc) {
            if (alk_cli_parse_target(argv[++i], &target)) {
                fprintf(stderr, "alkahest compile: --target takes x86_64 or aarch64\n");
                return ALK_EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' || input) {
            fprintf(stderr, "usage: %s\n", USAGE);
            return ALK_EXIT_USAGE;
        } else {
            input = argv[i];
        }
    }
    if (!input || !output) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return ALK_EXIT_USAGE;
    }
    alk_compile_options options = alk_cli_compile_options(bounds);
    options.target = target;
    uint8_t *wasm;
    size_t size;
    int error = alk_cli_read_file(input, &wasm, &size);
    if (error) {
        fprintf(stderr, "alkahest compile: %s: %s\n", input, strerror(error));
        return ALK_EXIT_USAGE;
    }
    uint8_t *object = NULL;
    size_t object_size = 0;
    alk_diag diag;
    int code = alk_cli_build(wasm, size, &options, &object, &object_size, &diag);
    free(wasm);
    if (code) {
        fprintf(stderr, "%s: ", input);
        alk_cli_print_diag(stderr, &diag);
        return ALK_EXIT_INVALID;
    }
    error = alk_cli_write_file(output, object, object_size);
    alk_cli_allocator.free(NULL, object);
    if (error) {
        fprintf(stderr, "alkahest compile: %s: %s\n", output, strerror(error));
        return ALK_EXIT_USAGE;
    }
    return ALK_EXIT_OK;
}
