/*
 * alkahest: subcommand dispatch and the helpers the subcommands share.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

static const alk_cli_command commands[] = {
    {"validate", alk_cmd_validate, "[-q|-v] FILE...",
     "check that each FILE is a valid WebAssembly 2.0 module"},
    {"compile", alk_cmd_compile, "FILE.wasm -o FILE.alko [--bounds MODE] [--target T] [-O]",
     "compile a module to an object (docs/object-format.md)"},
    {"inspect", alk_cmd_inspect, "FILE.alko [--disassemble F] [--at OFFSET]...",
     "print an object, disassemble a function, or name a code offset's line"},
    {"run", alk_cmd_run, "FILE.wasm [--bounds MODE] [-O] [--env K=V]... [--file GUEST=HOST]... "
     "[--repeat N] [--stress-signals US] [--invoke NAME [TYPE:VALUE...] | -- ARGS...]",
     "compile and run a module on the host"},
    {"spec", alk_cmd_spec, "FILE.json [--bounds MODE] [-O] [--lines] [-v]",
     "run a wast2json script of the spec testsuite on the host"},
};

/* Large buffers (code, objects: megabytes) come from their own mappings in 2 MiB pages where
 * the kernel gives them (MADV_HUGEPAGE): a 2 MB module otherwise costs ~5000 page faults,
 * a fifth of the compile time. Small ones from malloc. The few large mappings are listed so
 * that free can tell them apart; compile threads allocate at the same time, hence the lock. */
#define LARGE_ALLOCATION (4u << 20)
#define HUGE_PAGE (2u << 20)
#define LARGE_MAX 64

static struct { void *block; void *mapping; size_t length; } large[LARGE_MAX];
static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;

static void *cli_alloc(void *user, size_t size)
{
    (void)user;
    if (size < LARGE_ALLOCATION)
        return malloc(size);
    size_t length = (size + 2 * HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    void *mapping = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED)
        return malloc(size);
    void *block = (void *)(((uintptr_t)mapping + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    madvise(block, length - ((uintptr_t)block - (uintptr_t)mapping), MADV_HUGEPAGE);
    pthread_mutex_lock(&large_lock);
    for (int i = 0; i < LARGE_MAX; i++) {
        if (!large[i].block) {
            large[i].block = block;
            large[i].mapping = mapping;
            large[i].length = length;
            pthread_mutex_unlock(&large_lock);
            return block;
        }
    }
    pthread_mutex_unlock(&large_lock);
    munmap(mapping, length);
    return malloc(size);
}

static void cli_free(void *user, void *ptr)
{
    (void)user;
    if (!ptr)
        return;
    pthread_mutex_lock(&large_lock);
    for (int i = 0; i < LARGE_MAX; i++) {
        if (large[i].block == ptr) {
            void *mapping = large[i].mapping;
            size_t length = large[i].length;
            large[i].block = NULL;
            pthread_mutex_unlock(&large_lock);
            munmap(mapping, length);
            return;
        }
    }
    pthread_mutex_unlock(&large_lock);
    free(ptr);
}

const alk_allocator alk_cli_allocator = {cli_alloc, cli_free, NULL};

typedef struct task {
    void (*run)(void *argument);
    void *argument;
} task;

static void *run_task(void *argument)
{
    task *t = argument;
    t->run(t->argument);
    return NULL;
}

/* Runs task(argument[i]) for every i, on threads, and waits for all. If a thread cannot be
 * started its task runs here, so everything runs whatever happens. */
static void run_parallel(void *user, void (*run)(void *), void **arguments, unsigned count)
{
    (void)user;
    task tasks[16];
    pthread_t threads[16];
    bool started[16] = { false };
    if (count > 16)
        count = 16;
    for (unsigned i = 1; i < count; i++) {
        tasks[i] = (task){ run, arguments[i] };
        started[i] = pthread_create(&threads[i], NULL, run_task, &tasks[i]) == 0;
        if (!started[i])
            run(arguments[i]);
    }
    run(arguments[0]);
    for (unsigned i = 1; i < count; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
}

alk_tier alk_cli_tier = ALK_TIER_BASELINE;

/* The optimizing tier lives in alkahest-opt.so next to this executable (linked with libLLVM,
 * which costs ~60 ms to load: only `-O` pays it). ALKAHEST_OPT_LIBRARY names another. NULL,
 * with the reason printed once, when it cannot be loaded: the compile then fails with ALK-E104. */
static alk_optimizer load_optimizer(void)
{
    static bool tried;
    static alk_optimizer optimizer;
    if (tried)
        return optimizer;
    tried = true;
    char path[PATH_MAX];
    const char *chosen = getenv("ALKAHEST_OPT_LIBRARY");
    if (!chosen || !*chosen) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
        if (n <= 0)
            return NULL;
        path[n] = 0;
        char *slash = strrchr(path, '/');
        strcpy(slash ? slash + 1 : path, "alkahest-opt.so");
        chosen = path;
    }
    void *library = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
    if (library)
        optimizer = (alk_optimizer)(uintptr_t)dlsym(library, "alk_llvm_compile");
    if (!optimizer)
        fprintf(stderr, "alkahest: the optimizing tier is not available: %s\n",
                library ? "no alk_llvm_compile in it" : dlerror());
    return optimizer;
}

alk_compile_options alk_cli_compile_options(alk_bounds_mode bounds)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    alk_compile_options options = { .bounds = bounds, .tier = alk_cli_tier };
    if (alk_cli_tier == ALK_TIER_OPTIMIZED)
        options.optimizer = load_optimizer();
    /* ALKAHEST_JOBS=N: N compile tasks at once (1..16) instead of one per CPU (at most 8);
     * the object is the same byte for byte either way (benchmarks and tests compare). */
    const char *jobs = getenv("ALKAHEST_JOBS");
    if (jobs && *jobs)
        cpus = strtol(jobs, NULL, 10) > 16 ? 16 : strtol(jobs, NULL, 10);
    else if (cpus > 8)
        cpus = 8;
    options.parallelism = cpus > 1 ? (unsigned)cpus : 1;
    options.run_parallel = run_parallel;
    return options;
}

bool alk_cli_always_lines;

int alk_cli_build(const uint8_t *wasm, size_t size, const alk_compile_options *options,
                  uint8_t **object, size_t *object_size, alk_diag *diag)
{
    alk_compile_options with_lines = *options;
    alk_cli_lines lines;
    static const alk_source_lines no_rows = { NULL, 0, NULL, 0 };
    bool has_lines = alk_cli_source_lines(wasm, size, &lines);
    if (has_lines)
        with_lines.source_lines = &lines.lines;
    else if (alk_cli_always_lines)
        with_lines.source_lines = &no_rows;
    int code = alk_build(wasm, size, &with_lines, &alk_cli_allocator, object, object_size, diag);
    if (has_lines)
        alk_cli_source_lines_free(&lines);
    return code;
}

int alk_cli_read_file(const char *path, uint8_t **bytes, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return errno;
    size_t capacity = 1 << 16, length = 0;
    uint8_t *buffer = malloc(capacity);
    int error = buffer ? 0 : ENOMEM;
    while (!error) {
        if (length == capacity) {
            uint8_t *bigger = realloc(buffer, capacity * 2);
            if (!bigger) {
                error = ENOMEM;
                break;
            }
            buffer = bigger;
            capacity *= 2;
        }
        size_t n = fread(buffer + length, 1, capacity - length, file);
        length += n;
        if (n == 0) {
            if (ferror(file))
                error = errno ? errno : EIO;
            break;
        }
    }
    fclose(file);
    if (error) {
        free(buffer);
        return error;
    }
    *bytes = buffer;
    *size = length;
    return 0;
}

void alk_cli_print_diag(FILE *out, const alk_diag *diag)
{
    char line[512];
    alk_diag_format(diag, line, sizeof line);
    fprintf(out, "%s\n", line);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: alkahest COMMAND [ARGUMENTS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %-22s %s\n", commands[i].name, commands[i].arguments,
                commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return ALK_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return ALK_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("alkahest %s\n", ALK_VERSION);
        return ALK_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name))
            continue;
        if (argc == 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            printf("usage: alkahest %s %s\n\n%s\n(alkahest/cli/cmd_%s.c describes each "
                   "option)\n", commands[i].name, commands[i].arguments, commands[i].summary,
                   commands[i].name);
            return ALK_EXIT_OK;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "alkahest: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return ALK_EXIT_USAGE;
}
