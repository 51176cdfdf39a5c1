/*
 * WASI preview1 in the kernel: the platform under the shared implementation
 * (alkahest/runtime/wasi.c, which checks every descriptor, pointer and length before it acts)
 * and each module's WASI state, made from the image (docs/kernel-abi.md, "WASI").
 *
 *   argv        the module's name, then its manifest `args`                  grant args
 *   environ     its manifest `env`, "KEY=value", sorted by key              grant env
 *   fd 0        console input: the UART, polled, a terminal's line mode     grant stdin
 *   fd 1, 2     console output, between the kernel's own lines               grant stdout
 *   fd 3        the preopened "/", the image's [[file]]s below it            grant files
 *   fd 4, ...   listening sockets (socket.c), one per tcp-listen grant        grant tcp-listen
 *   clocks      realtime (the RTC at boot, then the TSC), monotonic (since
 *               boot), CPU time (the module's own, since its start)          grant clock
 *   random_get  athanor/random.c                                              grant random
 *   proc_exit   ends the appliance with that exit code
 *
 * The state is made afresh with each instance, at boot and at every restart: what was opened or
 * closed before is forgotten, file offsets and CPU time start at 0.
 */
#include "kernel.h"
#include "kernel_abi.h"

static alk_wasi_file *files;                /* the image's files, for every module with `files` */
static uint32_t file_count;

static ATH_NORETURN void boot_error(const char *what, const char *name)
{
    ath_kprintf("[athanor] boot error: %s%s\n", what, name);
    ath_fail(ATH_FAIL_BOOT);
}

/* ---- Console output (fd 1 and 2) ------------------------------------------------------------- */
static int64_t console_write(void *user, int fd, const uint8_t *bytes, size_t length)
{
    (void)user, (void)fd;
    ath_console_write_guest(bytes, length);
    return (int64_t)length;
}

/* ---- Console input (fd 0) --------------------------------------------------------------------- *
 * A terminal's canonical mode, as the serial driver (appliances/drivers/serial.c) has it: typed
 * bytes are echoed and gathered into a line; backspace erases; CR or LF ends it (as "\n"); ^D
 * passes it on as it is, or, on an empty line, is the end of input (that read returns 0). A
 * read returns bytes of a finished line only, at most the rest of one line. The UART is polled
 * once per tick while a reader waits (its interrupt stays off: in appliances without `stdin` a
 * Wasm driver may own it); bytes typed meanwhile wait in the UART and in QEMU. Every module
 * with `stdin` reads the one console: a line goes to whichever reads first.
 */
#define CONTROL_D 0x04

static struct {
    char line[ATH_CONSOLE_LINE_MAX];        /* the line being typed */
    uint32_t length;
    char ready[ATH_CONSOLE_LINE_MAX];       /* a finished line, [start, end) not read yet */
    uint32_t start, end;
    bool end_of_input;                      /* ^D on an empty line, not reported yet */
    char last;
} input;

static void pass_line_on(void)
{
    memcpy(input.ready, input.line, input.length);
    input.start = 0;
    input.end = input.length;
    input.length = 0;
}

/* One typed byte; true when it finished a line (or the input). */
static bool take(char c)
{
    char last = input.last;
    input.last = c;
    if (c == '\n' && last == '\r')
        return false;                       /* CR LF is one end of line */
    if (c == '\r' || c == '\n') {
        input.line[input.length++] = '\n';  /* there is room: the line passes on when full */
        ath_console_write("\n", 1);
        pass_line_on();
        return true;
    }
    if (c == CONTROL_D) {
        input.end_of_input = input.length == 0;
        pass_line_on();
        return true;
    }
    if (c == 0x7f || c == 0x08) {
        if (input.length) {
            input.length--;
            ath_console_write("\b \b", 3);
        }
        return false;
    }
    input.line[input.length++] = c;
    ath_console_write(&c, 1);
    if (input.length == ATH_CONSOLE_LINE_MAX - 1) {
        pass_line_on();                     /* an overlong line passes on in pieces */
        return true;
    }
    return false;
}

static int64_t console_read(void *user, uint8_t *buffer, size_t length)
{
    (void)user;
    for (;;) {
        if (input.start < input.end) {
            size_t n = ATH_MIN(length, (size_t)(input.end - input.start));
            memcpy(buffer, input.ready + input.start, n);
            input.start += (uint32_t)n;
            return (int64_t)n;
        }
        if (input.end_of_input) {
            input.end_of_input = false;
            return 0;
        }
        char c;
        bool finished = false;
        while (!finished && ath_arch_console_getc(&c))
            finished = take(c);
        if (!finished)
            ath_sleep_ns(ATH_CONSOLE_POLL_NS);
    }
}

/* ---- Clocks, randomness, scheduling, exit ---------------------------------------------------- */
/* 0 realtime, 1 monotonic, 2 process and 3 thread CPU time: the module's (one thread each). */
static uint64_t clock_now(void *user, uint32_t id)
{
    (void)user;
    if (id == 0)
        return ath_realtime_ns();
    if (id == 1)
        return ath_clock_ns();
    const struct ath_task *task = ath_task_current();
    return ath_task_cpu_ns(task) - task->wasi_cpu_origin;
}

/* Every clock reads the cycle counter: one cycle, rounded up to a nanosecond. */
static uint64_t clock_resolution(void *user, uint32_t id)
{
    (void)user, (void)id;
    uint64_t hz = ath_arch_cycles_per_second();
    return hz >= 1000000000u ? 1 : (1000000000u + hz - 1) / hz;
}

static void random_bytes(void *user, uint8_t *buffer, size_t length)
{
    (void)user;
    ath_random_fill(buffer, length);
}

static void yield(void *user)
{
    (void)user;
    ath_sched_yield();
}

static void sleep(void *user, uint64_t ns)
{
    (void)user;
    ath_sleep_ns(ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ns);
}

static void exit_appliance(void *user, void *vmctx, uint32_t code)
{
    (void)user, (void)vmctx;
    ath_exit((int)(code & 0xff));
}

static void preempt(void *user)
{
    (void)user;
    ath_sched_preempt_point();
}

static const alk_wasi_platform platform = {
    .write = console_write, .read = console_read, .clock = clock_now,
    .clock_resolution = clock_resolution, .random = random_bytes, .yield = yield,
    .sleep = sleep, .exit = exit_appliance, .preempt = preempt, .sockets = &ath_wasi_sockets,
};

/* ---- Per module ------------------------------------------------------------------------------ */
static bool granted(const struct ath_image_module *m, unsigned capability)
{
    return (m->grants >> capability & 1) != 0;
}

/* No module may hold what the `stdin` grant excludes (the console UART's ports) while another
 * has it: the kernel polls that UART for stdin. build.py refuses such a manifest (AZ-M017). */
static void check_console_input(const struct ath_image *image)
{
    const char *reader = NULL;
    for (uint32_t i = 0; i < image->module_count && !reader; i++) {
        struct ath_image_module m;
        ath_image_module_at(image, i, &m);
        if (granted(&m, ATH_CAPABILITY_STDIN))
            reader = m.name;
    }
    for (uint32_t i = 0; i < image->module_count && reader; i++) {
        struct ath_image_module m;
        ath_image_module_at(image, i, &m);
        for (uint32_t k = 0; k < m.resource_count; k++) {
            struct ath_image_resource r;
            ath_image_resource_at(image, m.resource_first + k, &r);
#define EXCLUDED(resource_kind, first_kept, last_kept) \
            if (r.kind == (resource_kind) && r.first <= (last_kept) && (first_kept) <= r.last) \
                boot_error("the console UART is read for stdin and owned by module ", m.name);
            ATH_EXCLUDES_STDIN(EXCLUDED)
#undef EXCLUDED
        }
    }
}

void ath_wasi_init(const struct ath_image *image)
{
    file_count = image->file_count;
    files = ath_alloc((file_count ? file_count : 1) * sizeof *files);
    if (!files)
        boot_error("no memory for the file table", "");
    for (uint32_t i = 0; i < file_count; i++) {
        struct ath_image_file f;
        ath_image_file_at(image, i, &f);
        files[i] = (alk_wasi_file){ f.path, f.data, f.size };
    }
    check_console_input(image);
}

void ath_wasi_load(struct ath_task *task)
{
    const struct ath_image_module *m = &task->record;
    task->wasi_args = ath_alloc((1 + (size_t)m->args_count) * sizeof *task->wasi_args);
    task->wasi_env = ath_alloc((m->env_count ? m->env_count : 1) * sizeof *task->wasi_env);
    if (!task->wasi_args || !task->wasi_env)
        boot_error("no memory for the arguments of module ", m->name);
    task->wasi_args[0] = m->name;
    uint32_t at = m->args_offset;
    for (uint32_t i = 0; i < m->args_count; i++)
        task->wasi_args[1 + i] = ath_image_string(task->image, at, &at);
    at = m->env_offset;
    for (uint32_t i = 0; i < m->env_count; i++)
        task->wasi_env[i] = ath_image_string(task->image, at, &at);
}

/* fd_read in a module without `stdin`: descriptor 0 is not its own, and the shared
 * implementation says EBADF; the first time, the kernel also says which grant would give it. */
typedef int32_t (*fd_read_function)(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count,
                                    uint32_t nread);
static fd_read_function shared_fd_read;

static int32_t fd_read_without_stdin(void *vmctx, uint32_t fd, uint32_t iovs, uint32_t count,
                                     uint32_t nread)
{
    int32_t error = shared_fd_read(vmctx, fd, iovs, count, nread);
    if (fd == 0 && error == ALK_WASI_EBADF)
        return ath_refuse_ungranted(ath_caller(vmctx), error, "fd_read(0)",
                                    "add \"stdin\" to its grants");
    return error;
}

const void *ath_wasi_bind(const struct ath_task *task, const struct ath_abi_function *f)
{
    if (strcmp(f->module, "wasi_snapshot_preview1") || strcmp(f->field, "fd_read") ||
        granted(&task->record, ATH_CAPABILITY_STDIN))
        return f->entry;
    shared_fd_read = (fd_read_function)f->code;
    return ath_kcall_entry((const void *)fd_read_without_stdin, f->params);
}

alk_wasi *ath_wasi_reset(struct ath_task *task)
{
    const struct ath_image_module *m = &task->record;
    bool has_files = granted(m, ATH_CAPABILITY_FILES);
    uint32_t grants = (granted(m, ATH_CAPABILITY_STDIN) ? ALK_WASI_GRANT_STDIN : 0u) |
                      (granted(m, ATH_CAPABILITY_STDOUT) ? ALK_WASI_GRANT_STDOUT : 0u) |
                      (has_files ? ALK_WASI_GRANT_FILES : 0u);
    alk_wasi_init(&task->wasi, &platform, grants, task->wasi_args, 1 + m->args_count,
                  task->wasi_env, m->env_count, has_files ? files : NULL,
                  has_files ? file_count : 0);
    task->wasi_cpu_origin = ath_task_cpu_ns(task);
    if (ath_sockets_instance(task, &task->wasi) != 0)
        return NULL;
    return &task->wasi;
}
