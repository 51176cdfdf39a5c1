/*
 * alkahest run FILE.wasm|FILE.alko [--bounds checked|guard] [-O] [--env KEY=VALUE]... [--file GUEST=HOST]...
 *                        [--repeat N] [--stress-signals US]
 *                        [--invoke NAME [TYPE:VALUE...] | -- ARGS...]
 *
 * Compiles FILE in memory, instantiates it with the spectest host module and WASI preview1
 * available, runs its start function, then calls export NAME (or _start) and prints each result
 * as TYPE:VALUE, in wast2json's encoding (integers as unsigned decimal, floats as the unsigned
 * decimal of their bits; null references as funcref:null and externref:null, which it also
 * accepts). A trap prints `trap: KIND` on stderr, then the Wasm frames, innermost first
 * ("  #0 divide at div.c:5 (wasm 0x1a2)", file:line when the module has DWARF line
 * information), and exits 134; a WASI proc_exit
 * ends the process with its code. ARGS become argv[1..] of a WASI program (argv[0] is FILE),
 * --env its environment and --file a read-only file at GUEST. References: TYPE:null,
 * externref:N (an opaque host value), funcref:N (function N of this module). The program holds every WASI
 * descriptor an appliance's grants could give it: stdin, stdout and stderr, and the preopened
 * "/" when there are files. --repeat calls NAME N times and counts the traps; --stress-signals
 * delivers SIGALRM every US microseconds meanwhile (a test of the stack-limit check). -O compiles
 * with the optimizing tier (docs/opt-tier.md). An object (FILE.alko from alkahest compile) runs
 * as it was compiled, without compiling: its bounds mode and tier are its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cli.h"
#include "../host/host.h"
#include "alkahest_wasi.h"

#define EXIT_TRAP 134

/* References as `alkahest spec` has them (wast2json's encoding): null is the word 0; externref
 * N is the word N + 1; funcref N is function N of this instance (its reference record). */
static uint64_t function_ref(const alk_instance *instance, uint64_t index)
{
    return (uint64_t)(uintptr_t)(instance->vmctx + instance->object->vmctx_function_refs +
                                 ALK_FUNCREF_SIZE * index);
}

/* "i32:42", "f64:4611686018427387904" (bits), "f64:1.5" (a literal), "funcref:null",
 * "externref:7", "funcref:3" (function 3). */
static int parse_value(const alk_instance *instance, const char *text, char want, uint64_t *out)
{
    const char *colon = strchr(text, ':');
    if (!colon || strncmp(text, alk_letter_name(want), (size_t)(colon - text)) ||
        strlen(alk_letter_name(want)) != (size_t)(colon - text))
        return -1;
    const char *v = colon + 1;
    char *end;
    errno = 0;
    if (want == ALK_LETTER_FUNCREF || want == ALK_LETTER_EXTERNREF) {
        if (!strcmp(v, "null")) {
            *out = 0;
            return 0;
        }
        if (*v < '0' || *v > '9')
            return -1;
        uint64_t n = strtoull(v, &end, 10);
        if (*end || errno || n == UINT64_MAX ||
            (want == ALK_LETTER_FUNCREF && n >= instance->object->function_count))
            return -1;
        *out = want == ALK_LETTER_EXTERNREF ? n + 1 : function_ref(instance, n);
        return 0;
    }
    if (alk_letter_is_float(want) && strpbrk(v, ".eEinfa")) {
        double d = strtod(v, &end);
        if (*end)
            return -1;
        if (want == ALK_LETTER_F32) {
            float f = (float)d;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            *out = bits;
        } else {
            memcpy(out, &d, 8);
        }
        return 0;
    }
    if (*v == '-') {
        long long s = strtoll(v, &end, 10);
        *out = (uint64_t)s;
    } else {
        *out = strtoull(v, &end, 10);
    }
    if (*end || errno || end == v)
        return -1;
    if (alk_letter_bytes(want) == 4)
        *out &= UINT32_MAX;
    return 0;
}

/* A result as parse_value reads it back. */
static void print_value(const alk_instance *instance, char type, uint64_t bits)
{
    if ((type == ALK_LETTER_FUNCREF || type == ALK_LETTER_EXTERNREF) && bits == 0) {
        printf("%s:null\n", alk_letter_name(type));
    } else if (type == ALK_LETTER_EXTERNREF) {
        printf("externref:%" PRIu64 "\n", bits - 1);
    } else if (type == ALK_LETTER_FUNCREF) {
        uint64_t base = function_ref(instance, 0);
        uint64_t index = (bits - base) / ALK_FUNCREF_SIZE;
        if (bits >= base && (bits - base) % ALK_FUNCREF_SIZE == 0 &&
            index < instance->object->function_count)
            printf("funcref:%" PRIu64 "\n", index);
        else
            printf("funcref:foreign\n");    /* another instance's function */
    } else {
        printf("%s:%" PRIu64 "\n", alk_letter_name(type), bits);
    }
}

/* --stress-signals: SIGALRM every few microseconds, taken on whatever stack the code it
 * interrupts is on (no sigaltstack), as a timer interrupt would be: a function whose stack
 * pointer ever stood beyond its stack would have the signal frame pushed there and kill the
 * process. The handler only counts. */
static volatile sig_atomic_t signals_taken;

static void count_signal(int signal)
{
    (void)signal;
    signals_taken++;
}

static void start_signal_storm(long microseconds)
{
    struct sigaction action = { .sa_handler = count_signal, .sa_flags = SA_RESTART };
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, NULL);
    struct itimerval every = { { 0, microseconds }, { 0, microseconds } };
    setitimer(ITIMER_REAL, &every, NULL);
}

int alk_cmd_run(int argc, char **argv)
{
    const char *path = NULL, *export_name = "_start";
    alk_bounds_mode bounds = ALK_BOUNDS_GUARD;
    int first_value = argc;
    const char **wasi_args = calloc((size_t)argc + 1, sizeof *wasi_args);
    const char **wasi_env = calloc((size_t)argc + 1, sizeof *wasi_env);
    alk_wasi_file *files = calloc((size_t)argc + 1, sizeof *files);
    uint32_t arg_count = 1, env_count = 0, file_count = 0;
    bool wasi_program = true;
    long repeat = 1, storm_us = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = strtol(argv[++i], NULL, 10);
            if (repeat < 1) {
                fprintf(stderr, "alkahest run: --repeat takes a count of at least 1\n");
                return ALK_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--stress-signals") && i + 1 < argc) {
            storm_us = strtol(argv[++i], NULL, 10);
            if (storm_us < 1 || storm_us > 999999) {
                fprintf(stderr, "alkahest run: --stress-signals takes 1..999999 microseconds\n");
                return ALK_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--env") && i + 1 < argc) {
            wasi_env[env_count++] = argv[++i];
        } else if (!strcmp(argv[i], "--file") && i + 1 < argc) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            uint8_t *data;
            size_t size;
            if (!eq || eq == spec) {
                fprintf(stderr, "alkahest run: --file takes GUEST=HOST\n");
                return ALK_EXIT_USAGE;
            }
            *eq = 0;
            int error = alk_cli_read_file(eq + 1, &data, &size);
            if (error) {
                fprintf(stderr, "alkahest run: %s: %s\n", eq + 1, strerror(error));
                return ALK_EXIT_USAGE;
            }
            files[file_count++] = (alk_wasi_file){ spec, data, size };
        } else if (!strcmp(argv[i], "--") && path) {
            for (i++; i < argc; i++)
                wasi_args[arg_count++] = argv[i];
        } else if (!strcmp(argv[i], "-O")) {
            alk_cli_tier = ALK_TIER_OPTIMIZED;
        } else if (!strcmp(argv[i], "--bounds") && i + 1 < argc) {
            if (alk_cli_parse_bounds(argv[++i], &bounds)) {
                fprintf(stderr, "alkahest run: --bounds takes checked or guard\n");
                return ALK_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--invoke") && i + 1 < argc) {
            export_name = argv[++i];
            first_value = i + 1;
            wasi_program = false;
            break;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            path = NULL;
            break;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: alkahest run FILE.wasm [--bounds checked|guard] [-O] [--repeat N] "
                        "[--stress-signals US] [--invoke NAME [TYPE:VALUE...]]\n");
        return ALK_EXIT_USAGE;
    }
    uint8_t *wasm;
    size_t size;
    int error = alk_cli_read_file(path, &wasm, &size);
    if (error) {
        fprintf(stderr, "alkahest run: %s: %s\n", path, strerror(error));
        return ALK_EXIT_USAGE;
    }
    alk_host_init();
    alk_host_module module;
    alk_diag diag;
    int code = alk_host_load(wasm, size, bounds, &module, &diag);
    if (code) {
        free(wasm);
        fprintf(stderr, "%s: ", path);
        alk_cli_print_diag(stderr, &diag);
        return ALK_EXIT_INVALID;
    }
    const alk_object *o = &module.object;
    uint32_t import_count = alk_object_count(o, ALK_SECTION_IMPORTS);
    alk_extern *imports = calloc(import_count ? import_count : 1, sizeof *imports);
    int status = ALK_EXIT_OK;
    for (uint32_t i = 0; i < import_count && status == ALK_EXIT_OK; i++) {
        alk_object_import imp = alk_object_import_at(o, i);
        bool known = (imp.module.length == 8 && !memcmp(imp.module.bytes, "spectest", 8) &&
                      alk_spectest_resolve(imp.field.bytes, imp.field.length, imp.kind, &imports[i])) ||
                     (imp.module.length == 22 &&
                      !memcmp(imp.module.bytes, "wasi_snapshot_preview1", 22) &&
                      alk_host_wasi_resolve(imp.field.bytes, imp.field.length, imp.kind, &imports[i]));
        if (!known) {
            fprintf(stderr, "alkahest run: %s: unknown import %.*s.%.*s\n", path,
                    (int)imp.module.length, imp.module.bytes, (int)imp.field.length,
                    imp.field.bytes);
            status = ALK_EXIT_INVALID;
        }
    }
    alk_instance instance;
    if (status == ALK_EXIT_OK) {
        alk_instantiate_result r = alk_instantiate(&instance, o, module.code, &alk_host_platform,
                                                   imports, 0, NULL);
        if (r.status == ALK_INSTANTIATE_TRAP) {
            fprintf(stderr, "trap: %s\n", alk_host_trap_message(r.trap_code));
            status = EXIT_TRAP;
        } else if (r.status) {
            fprintf(stderr, "alkahest run: %s: cannot instantiate: %s\n", path, r.message);
            status = ALK_EXIT_INVALID;
            instance.platform = NULL;
        }
    }
    alk_wasi wasi;
    wasi_args[0] = path;
    /* Everything a program may have: the console, and "/" when there are files to put in it. */
    uint32_t grants = ALK_WASI_GRANT_STDIN | ALK_WASI_GRANT_STDOUT |
                      (file_count ? ALK_WASI_GRANT_FILES : 0u);
    alk_wasi_init(&wasi, &alk_host_wasi_platform, grants, wasi_args, arg_count, wasi_env,
                  env_count, files, file_count);
    if (status == ALK_EXIT_OK) {
        instance.wasi = &wasi;
        alk_host_prepare(&instance);
        uint64_t results[64];
        if (o->start != UINT32_MAX) {
            uint32_t trap = alk_host_invoke(&instance, o->start, NULL, results);
            if (trap == ALK_TRAP_EXIT) {
                status = (int)(wasi.exit_code & 0xff);
                goto done;
            } else if (trap) {
                fprintf(stderr, "trap: %s\n", alk_host_trap_message(trap));
                alk_host_print_backtrace(stderr, alk_host_last_trap());
                status = EXIT_TRAP;
            }
        }
        int64_t function = status ? -1 : alk_object_find_export(o, export_name,
                                                                 (uint32_t)strlen(export_name), 0);
        if (status == ALK_EXIT_OK && function < 0) {
            fprintf(stderr, "alkahest run: %s: no exported function %s\n", path, export_name);
            status = ALK_EXIT_USAGE;
        }
        if (status == ALK_EXIT_OK) {
            alk_str sig = alk_object_type(o, alk_object_function_type(o, (uint32_t)function));
            uint32_t params = 0;
            while (params < sig.length && sig.bytes[params] != ':')
                params++;
            uint64_t *args = calloc(params ? params : 1, sizeof *args);
            if ((int)params != argc - first_value) {
                fprintf(stderr, "alkahest run: %s takes %u arguments (%.*s)\n", export_name,
                        params, (int)sig.length, sig.bytes);
                status = ALK_EXIT_USAGE;
            }
            for (uint32_t i = 0; i < params && status == ALK_EXIT_OK; i++) {
                if (parse_value(&instance, argv[first_value + (int)i], sig.bytes[i], &args[i])) {
                    fprintf(stderr, "alkahest run: argument %u: expected %s:VALUE, got %s\n",
                            i + 1, alk_letter_name(sig.bytes[i]), argv[first_value + (int)i]);
                    status = ALK_EXIT_USAGE;
                }
            }
            if (status == ALK_EXIT_OK && repeat > 1) {
                /* --repeat: the call N times, traps counted rather than fatal */
                if (storm_us)
                    start_signal_storm(storm_us);
                long traps = 0;
                uint32_t last = 0;
                for (long k = 0; k < repeat; k++) {
                    uint32_t trap = alk_host_invoke(&instance, (uint32_t)function, args, results);
                    traps += trap != 0;
                    last = trap ? trap : last;
                }
                if (storm_us)
                    start_signal_storm(0);
                printf("repeat: %ld calls, %ld trapped%s%s, %ld signals taken\n", repeat, traps,
                       last ? ": " : "", last ? alk_host_trap_message(last) : "",
                       (long)signals_taken);
            } else if (status == ALK_EXIT_OK) {
                if (storm_us)
                    start_signal_storm(storm_us);
                uint32_t trap = alk_host_invoke(&instance, (uint32_t)function, args, results);
                fflush(stdout);
                if (trap == ALK_TRAP_EXIT) {
                    status = (int)(wasi.exit_code & 0xff);
                } else if (trap) {
                    fflush(stdout);
                    fprintf(stderr, "trap: %s\n", alk_host_trap_message(trap));
                    alk_host_print_backtrace(stderr, alk_host_last_trap());
                    status = EXIT_TRAP;
                } else if (!wasi_program) {
                    for (uint32_t r = 0; params + 1 + r < sig.length; r++)
                        print_value(&instance, sig.bytes[params + 1 + r], results[r]);
                }
            }
            free(args);
        }
    }
done:
    fflush(stdout);
    if (instance.platform)
        alk_instance_free(&instance);
    for (uint32_t i = 0; i < file_count; i++)
        free((void *)files[i].data);
    free(files);
    free(wasi_args);
    free(wasi_env);
    free(imports);
    alk_host_unload(&module);
    free(wasm);
    return status;
}
