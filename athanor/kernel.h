/*
 * Athanor's one internal header: what the kernel's own files call in each other, grouped by
 * file (xv6's defs.h). Two others sit beside it: athanor.h, the small set every file and every
 * port shares (ending the run, the console, errors, boot information, pages, virtual memory,
 * faults, the C library), and arch.h, what each arch/<arch>/ folder implements (docs/ports.md).
 *
 * The first part is the machine-level kernel (ACPI, the command line, pages, virtual memory,
 * faults, self-tests); the second the appliance runtime: verify the signed image (image.c),
 * load its modules (module.c) with the Alkahest runtime core (wasm.c is its platform), run each
 * as a task (task.c) with its own capability table (cap.c), channels (channel.c), devices
 * (device.c, pci.c, virtio.c, dma.c), supervision (supervisor.c) and a trace of events
 * (trace.c); the kernel functions modules import live in abi.c and the files of their
 * subsystem. docs/runtime.md describes the model; docs/kernel-abi.md the functions.
 */
#ifndef ATH_KERNEL_H
#define ATH_KERNEL_H

#include "athanor.h"
#include "alkahest_runtime.h"
#include "alkahest_wasi.h"

#define ATH_ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))
#define ATH_ALIGN_UP(x, a)   ATH_ALIGN_DOWN((x) + (uint64_t)(a) - 1, (a))
#define ATH_ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define ATH_MIN(a, b)        ((a) < (b) ? (a) : (b))
#define ATH_MAX(a, b)        ((a) > (b) ? (a) : (b))

/* Linker script symbols (arch/<arch>/kernel.ld), all page aligned:
 * [kernel_start, text_end) code, [rodata_start, rodata_end) read-only data,
 * [data_start, kernel_end) data and bss. */
extern char __kernel_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __kernel_end[];

#include "arch.h"

/* ---- acpi.c ------------------------------------------------------------ */
/* What the kernel takes from ACPI (the MCFG and MADT tables); all zero when there is none. */
struct ath_acpi_override {             /* an ISA line wired to another I/O APIC input */
    bool present;
    uint32_t gsi;
    uint16_t flags;                    /* MPS INTI flags: bits 0-1 polarity, 2-3 trigger */
};
/* A Generic Address Structure: a register in memory (space 0) or I/O ports (space 1). */
enum { ATH_ACPI_SPACE_MEMORY = 0, ATH_ACPI_SPACE_IO = 1 };
struct ath_acpi_register {
    uint8_t space, bit_width, bit_offset, access_size;
    uint64_t address;                  /* 0: absent */
};
struct ath_acpi {
    bool searched;                     /* ath_acpi_init has run */
    bool found;                        /* an RSDP and a root table were found */
    /* FADT: how to power off and reset. */
    bool fadt;
    bool hardware_reduced;             /* no PM1 blocks: sleep_control instead */
    struct ath_acpi_register pm1a_control, pm1b_control, sleep_control, reset;
    uint8_t reset_value;
    uint32_t smi_command;              /* I/O port; 0: ACPI mode is always on */
    uint8_t acpi_enable;               /* written to smi_command to enter ACPI mode */
    bool s5;                           /* \_S5 found in the DSDT or an SSDT */
    uint8_t s5_type_a, s5_type_b;      /* SLP_TYPa and SLP_TYPb of \_S5 */
    /* virtio-mmio devices the DSDT declares (_HID "LNRO0005": QEMU microvm) */
    struct ath_acpi_virtio_mmio { uint64_t base; uint32_t size, gsi; } virtio_mmio[ATH_VIRTIO_MMIO_MAX];
    unsigned virtio_mmio_count;
    bool ecam;                         /* PCI configuration space, memory-mapped (segment 0) */
    uint64_t ecam_base;
    uint8_t ecam_bus_first, ecam_bus_last;
    struct { uint32_t address, gsi_base; } ioapics[4];
    unsigned ioapic_count;
    struct ath_acpi_override isa[16];
};
/* Reads the tables once (boot, before interrupts and PCI). */
void ath_acpi_init(const struct ath_boot_info *info);
const struct ath_acpi *ath_acpi(void);
/* Enter S5 (soft off) / reset through the FADT's registers. False when the firmware gives no
 * way; true when the request was written (the machine may still take a moment to stop). */
bool ath_acpi_power_off(void);
bool ath_acpi_reset(void);

/* ---- cmdline.c --------------------------------------------------------- */
void ath_cmdline_parse(const char *cmdline);

/* ---- exit.c ------------------------------------------------------------ */
bool ath_is_panicking(void);
/* Called once by ath_fail before a panic or appliance failure ends the run (trace.c sets it). */
extern void (*ath_failure_hook)(enum ath_failure failure);

/* ---- palloc.c ---------------------------------------------------------- */
/* Builds the allocator from the boot info; fails the boot if impossible. */
void ath_page_alloc_init(const struct ath_boot_info *info);
/* The ranges the allocator never hands out (for tests and fault reports). */
const struct ath_range *ath_page_exclusions(unsigned *count);

/* ---- vm.c -------------------------------------------------------------- */
/* Builds the final page tables: RAM, modules, kernel sections. */
void ath_vm_init(const struct ath_boot_info *info);
uintptr_t ath_vm_window_base(void);

/* ---- fault.c ----------------------------------------------------------- */
/* Prints " in module NAME+0xOFF", " in kernel" or nothing for addr. */
void ath_fault_describe_address(uintptr_t addr);
/* The stack whose guard page holds addr (the kernel's own, or a task's), or NULL. */
const struct ath_kstack *ath_fault_guard_stack(uintptr_t addr);
/* Registers a task's stack for that question; stacks live as long as the kernel. */
void ath_fault_add_stack(const struct ath_kstack *stack);
/* True if the 8 bytes at addr can be read without faulting (mapped, aligned). */
bool ath_fault_readable_u64(uintptr_t addr);
/* Prints "[athanor]   backtrace: RET ..." along the frame-pointer chain from fp: each frame
 * record is {the caller's frame pointer, the return address} at fp, as both ports keep it
 * (x86-64's rbp, AArch64's x29); stops at an unreadable or non-increasing record. */
void ath_fault_print_backtrace(uintptr_t fp);
/* The name of the kernel or task stack the caller runs on ("an unknown stack"). */
const char *ath_fault_current_stack_name(void);

/* ---- selftest.c -------------------------------------------------------- */
/* Runs the named in-kernel test; never returns. */
ATH_NORETURN void ath_selftest_run(const char *name, const struct ath_boot_info *info);

/* ======== the appliance runtime ========================================================== */

/* ---- heap.c ---------------------------------------------------------------------------------- */
void *ath_alloc(size_t size);          /* 16-byte aligned; NULL when out of memory */
void ath_free(void *ptr);              /* NULL is fine */

/* ---- image.c: the appliance image (docs/image-format.md) -------------------------------------- */
#include "image_format.h"                  /* formats/image.toml: the records' layout */
#define ATH_IMAGE_NO_PARENT ATH_IMG_NO_PARENT
#define ATH_IMAGE_CHILD_SUPERVISOR ATH_IMG_CHILD_SUPERVISOR   /* a children entry naming a supervisor */
#define ATH_IMAGE_NO_MODULE ATH_IMG_NO_MODULE      /* a blob of no module: a file's contents */
#define ATH_BLOB_FILE ATH_IMG_BLOB_FILE            /* the kind of a file's blob */

struct ath_image {
    const uint8_t *bytes;
    uint64_t size;
    char name[ATH_IMAGE_NAME_MAX + 1];
    char version[17];
    uint32_t flags;                    /* bit 0: guard bounds */
    uint32_t module_count, blob_count;
    uint32_t memory_mib;
    uint32_t arch;                  /* the machine its modules are for: ALK_OBJ_TARGET_* */
    const uint8_t *modules;            /* module records, 128 bytes each */
    const uint8_t *blobs;              /* blob records, 64 bytes each */
    const uint8_t *import_map;         /* u32 kernel import id per function import */
    uint32_t import_map_count;
    const uint8_t *resources;          /* 32 bytes each */
    uint32_t resource_count;
    const uint8_t *channels;           /* 64 bytes each */
    uint32_t channel_count;
    const uint8_t *supervisors;        /* 64 bytes each */
    uint32_t supervisor_count;
    const uint8_t *children;           /* u32 each */
    uint32_t children_count;
    const uint8_t *files;              /* 16 bytes each */
    uint32_t file_count;
    const uint8_t *strings;
    uint32_t strings_size;
};

enum ath_module_kind { ATH_MODULE_DRIVER = ATH_IMG_MODULE_KIND_DRIVER, ATH_MODULE_APP = ATH_IMG_MODULE_KIND_APP };
enum ath_restart_policy {
    ATH_RESTART_NEVER = ATH_IMG_RESTART_NEVER, ATH_RESTART_ON_FAILURE = ATH_IMG_RESTART_ON_FAILURE,
    ATH_RESTART_ALWAYS = ATH_IMG_RESTART_ALWAYS,
};

struct ath_image_module {
    char name[ATH_IMAGE_NAME_MAX + 1];
    uint32_t kind, restart;
    uint64_t grants, max_memory;
    uint32_t first_blob, blob_count;
    uint64_t object_offset, object_size;
    uint32_t import_first, import_count;
    uint32_t args_offset, args_count, env_offset, env_count;
    uint32_t supervisor, resource_first, resource_count, stack_size;
};

/* A run-time resource a grant gives (a port range, an IRQ line, an MMIO window, a channel end). */
struct ath_image_resource {
    uint32_t kind;                     /* ATH_RESOURCE_* (kernel_abi.h) */
    uint32_t flags;                    /* channels: ATH_CHANNEL_SEND | ATH_CHANNEL_RECEIVE */
    uint64_t first, last;              /* inclusive; a channel's index twice */
};

struct ath_image_channel {
    char name[ATH_IMAGE_NAME_MAX + 1];
    uint32_t sender, receiver;         /* module indices */
    uint32_t depth, message_size;
};

enum ath_strategy {
    ATH_ONE_FOR_ONE = ATH_IMG_STRATEGY_ONE_FOR_ONE, ATH_ONE_FOR_ALL = ATH_IMG_STRATEGY_ONE_FOR_ALL,
    ATH_REST_FOR_ONE = ATH_IMG_STRATEGY_REST_FOR_ONE,
};
enum ath_on_exhausted {
    ATH_EXHAUSTED_ESCALATE = ATH_IMG_ON_EXHAUSTED_ESCALATE, ATH_EXHAUSTED_FAIL = ATH_IMG_ON_EXHAUSTED_FAIL,
};

/* A read-only file for WASI (manifest [[file]]): its contents are a verified blob. */
struct ath_image_file {
    const char *path;                  /* absolute, NUL-terminated, in the string pool */
    const uint8_t *data;
    uint64_t size;
};

struct ath_image_supervisor {
    char name[ATH_IMAGE_NAME_MAX + 1];
    uint32_t parent;                   /* ATH_IMAGE_NO_PARENT: the root */
    uint32_t strategy, max_restarts, on_exhausted;
    uint64_t window_ns;
    uint32_t first_child, child_count; /* entries of the children table */
};

/* Verifies everything (header, signature, every blob's hash, zero padding, table bounds and
 * every index in the tables) before anything is used. On failure prints "[athanor] verify: ..."
 * and returns false. */
bool ath_image_verify(const void *bytes, uint64_t size, struct ath_image *out);
void ath_image_module_at(const struct ath_image *image, uint32_t index,
                         struct ath_image_module *out);
uint32_t ath_image_import_id(const struct ath_image *image, uint32_t index);
void ath_image_resource_at(const struct ath_image *image, uint32_t index,
                           struct ath_image_resource *out);
void ath_image_channel_at(const struct ath_image *image, uint32_t index,
                          struct ath_image_channel *out);
void ath_image_supervisor_at(const struct ath_image *image, uint32_t index,
                             struct ath_image_supervisor *out);
uint32_t ath_image_child(const struct ath_image *image, uint32_t index);
void ath_image_file_at(const struct ath_image *image, uint32_t index, struct ath_image_file *out);
/* The string at `offset` of the pool (verified: inside it, NUL-terminated, no NUL within), and
 * in *next the offset of the string after it. */
const char *ath_image_string(const struct ath_image *image, uint32_t offset, uint32_t *next);

/* ---- kcall.c: the entries compiled code calls kernel functions through ------------------------- */
/* The entry for target (registered on first use): switches to the running task's kernel stack,
 * calls target with the same arguments, switches back. params: the function's Wasm parameter
 * letters after the vmctx (they say which arguments are on the stack). Boot time only. */
const void *ath_kcall_entry(const void *target, const char *params);
/* In a kernel function entered from module code: the return address into the module's code
 * of that call (0 when the running task did not come from its module's code). */
uintptr_t ath_kcall_return_address(void);

/* ---- abi.c: the kernel functions modules import, and their checks ------------------------------ */
struct ath_abi_function {
    const char *module, *field;
    const void *code;
    const void *entry;                 /* what an import is bound to: code's kernel call entry */
    const char *params, *results;      /* type letters as in object signatures */
};
/* The kernel function with that id, or NULL (docs/kernel-abi.md, manifest/capabilities.toml). */
const struct ath_abi_function *ath_abi_function(uint32_t id);
/* The task calling a kernel function with vmctx (the running one; anything else panics). */
struct ath_task *ath_caller(void *vmctx);
/* [ptr, ptr + length) of the caller's linear memory, or NULL when it is not all inside it. */
uint8_t *ath_user_memory(void *vmctx, uint64_t ptr, uint64_t length);
/* Builds the import table's WASI part from alkahest/runtime/wasi.c, checking each function's
 * type against the catalogue's (a mismatch is a build defect: panic). Once, before loading. */
void ath_abi_init(void);
/* Starts the clocks: the monotonic origin and the wall clock (read once from the RTC). */
void ath_clock_init(void);
/* Nanoseconds since boot. */
uint64_t ath_clock_ns(void);
/* Nanoseconds since 1970-01-01 UTC: the RTC's reading at boot plus the time since; with no RTC,
 * the time since boot (so 1970-01-01 is boot). */
uint64_t ath_realtime_ns(void);
uint64_t ath_cycles_to_ns(uint64_t cycles);
/* Blocks the running task for at least ns (to the next tick after it); 0 or less yields. */
void ath_sleep_ns(int64_t ns);
/* Bytes from a module's memory to the console, copied a chunk at a time, preemptible (the
 * kernel's own messages use ath_console_write). */
void ath_console_write_guest(const uint8_t *bytes, size_t length);

/* ---- wasm.c: the runtime core's platform in the kernel ------------------------------------------ */
extern alk_platform ath_wasm_platform;
/* The kernel call entries of the trap handler and the builtins, and the fault hook. Once. */
void ath_wasm_init(void);
/* Calls a task's function through the entry trampoline; returns 0 or the trap code. */
uint32_t ath_wasm_invoke(struct ath_task *task, uint32_t function);
/* Traps the running module (kernel code entered from it: builtins, athanor.log). */
ATH_NORETURN void ath_wasm_trap(void *vmctx, uint32_t code);
/* Makes the task's linear memory ready for its next instance: `reserve` bytes of address
 * space, [0, size) mapped and zero, nothing mapped above. Preemptible; returns an ath_error. */
int ath_wasm_memory_prepare(struct ath_task *task, uint64_t reserve, uint64_t size);
/* Unmaps and releases the task's linear memory (the module finished). Preemptible. */
void ath_wasm_memory_release(struct ath_task *task);
/* Whether the distinct signatures of the object, with those already registered, stay within
 * ATH_SIGNATURES_MAX. */
bool ath_wasm_signatures_fit(const alk_object *object);
const char *ath_trap_name(uint32_t code);

/* ---- cap.c: the per-module capability table ----------------------------------------------------- */
enum ath_handle_kind {
    ATH_HANDLE_FREE = 0, ATH_HANDLE_CHANNEL, ATH_HANDLE_PORT, ATH_HANDLE_IRQ, ATH_HANDLE_MMIO,
    ATH_HANDLE_PCI, ATH_HANDLE_NET,
};
#define ATH_CHANNEL_SEND    ATH_IMG_CHANNEL_SEND
#define ATH_CHANNEL_RECEIVE ATH_IMG_CHANNEL_RECEIVE
#define ATH_HANDLE_RELATIVE 0x80u      /* ports: addressed from the range's start (a BAR) */
#define ATH_HANDLE_BAR_MASK 0x07u      /* a BAR's handle: which BAR, in the flags */

/*
 * One slot of a module's capability table. A handle is (generation << 8) | slot, always > 0:
 *
 *   31  30 ............. 8  7 ...... 0
 *    0     generation         slot
 *
 * A slot's generation grows each time its handle is closed and when the module restarts, so a
 * handle from before is stale; a generation the slot never issued is a forgery.
 */
struct ath_handle {
    uint8_t kind;                      /* enum ath_handle_kind */
    uint8_t flags;                     /* channels: ATH_CHANNEL_SEND / ATH_CHANNEL_RECEIVE;
                                        * a BAR's: ATH_HANDLE_RELATIVE, its number */
    uint16_t device;                   /* opened through a PCI function: its index + 1 (its
                                        * BARs, interrupts and the function itself), else 0 */
    uint32_t generation;               /* of the live handle, or of the next one issued here */
    uint64_t first, last;              /* ports, MMIO window, channel index, interrupt source,
                                        * PCI function index */
};

/* A new handle, or ATH_E_FULL. */
/* A refusal of something no grant of the module covers (a port, an IRQ line, an MMIO window, a
 * channel, a WASI descriptor): the first one of each module prints one line naming the module,
 * the call and what would grant it, FIX as printf formats it ("add \"irq:5\" to its grants");
 * later ones only go to the trace ring. Returns error, for `return ath_refuse_ungranted(...)`. */
int32_t ath_refuse_ungranted(struct ath_task *task, int32_t error, const char *call,
                             const char *fix, ...);
int32_t ath_handle_new(struct ath_task *task, uint8_t kind, uint8_t flags, uint64_t first,
                       uint64_t last);
/* The slot of a live handle of that kind: 0 and *out, or ATH_E_BADHANDLE / _STALE / _TYPE. */
int32_t ath_handle_get(struct ath_task *task, int32_t handle, uint8_t kind,
                       struct ath_handle **out);
/* Closes one handle (a PCI function's closes those opened through it too). */
void ath_handle_release(struct ath_task *task, struct ath_handle *h);
/* Closes every handle (a restart); their generations move on. */
void ath_handles_reset(struct ath_task *task);
/* The resource of the task's image record of that kind covering [first, last], or false. */
bool ath_resource_find(const struct ath_task *task, uint32_t kind, uint64_t first, uint64_t last,
                       struct ath_image_resource *out);

/* ---- task.c: tasks and the scheduler ----------------------------------------------------------- */
enum ath_task_state {
    ATH_TASK_NEW = 0,                  /* not started yet */
    ATH_TASK_READY, ATH_TASK_RUNNING,
    ATH_TASK_BLOCKED,                  /* waiting for a channel, an IRQ, a deadline */
    ATH_TASK_DONE,                     /* returned, not restarted */
};

/* Restart profile steps (supervisor.c; athanor.profile=restart prints them). */
enum ath_restart_step {
    ATH_STEP_TRAP, ATH_STEP_UNWOUND, ATH_STEP_DECIDED, ATH_STEP_FREED, ATH_STEP_INSTANTIATED,
    ATH_STEP_READY, ATH_STEP_COUNT,
};

/* Everything about one module of the appliance: it runs as one task. Fields are grouped by the
 * file that owns them; no other file writes them. */
struct ath_task {
    /* task.c */
    uint64_t sp;                       /* saved stack pointer while switched out */
    enum ath_task_state state;
    uint32_t index;                    /* the module's index in the image */
    uint64_t deadline;                 /* blocked: wake at this ath_clock_ns (0: no deadline) */
    uint64_t wait_send, wait_receive;  /* blocked: the channels (bits) it waits on */
    uint64_t wait_irqs;                /* blocked: the interrupt sources (bits) it waits on */
    bool wait_sockets;                 /* blocked: on its sockets (socket.c) */
    bool wait_net;                     /* blocked: the stack, on socket events (socket.c) */
    uint64_t slice_start;              /* tick at which it last got the CPU */
    uint64_t cpu_cycles;               /* cycles it ran before its last switch in */
    uint64_t switched_in;              /* cycles at its last switch in */
    /* Its stack (the task's own bookkeeping at the top, then Wasm frames) and its kernel
     * stack (kernel calls, interrupts and faults from its module's code). */
    struct ath_kstack stack, kstack;
    char stack_names[2][ATH_IMAGE_NAME_MAX + 24];

    /* wasm.c: its linear memory, for the task's whole life */
    struct ath_task_memory {
        uintptr_t base;                /* the reservation (0: none yet) */
        uint64_t reserve, mapped;      /* bytes reserved; bytes mapped from base */
        uint64_t prepared;             /* the size ath_wasm_memory_prepare made it */
        bool lent;                     /* an instance uses it */
    } memory;

    /* module.c */
    const struct ath_image *image;
    struct ath_image_module record;
    alk_object object;
    alk_extern *imports;
    alk_instance instance;
    bool instantiated;                 /* `instance` holds something to free (maybe half-made) */
    bool fresh_needed;                 /* it must be instantiated afresh before it runs again */
    char problem[128];                 /* why it could not be (ath_module_reinstantiate) */
    alk_entry_frame entry;             /* where a trap unwinds to */
    uint32_t trap_code;                /* 0: returned normally */
    uintptr_t trap_pc;                 /* where it trapped (a return address into its code) */
    uint32_t trap_frames[ATH_TRAP_FRAMES_MAX];  /* its Wasm frames then, as code offsets */
    uint32_t trap_frame_count;
    bool trap_from_host;               /* a kernel function it called trapped it */
    uint64_t steps[ATH_STEP_COUNT];    /* cycles at each step of its last end and restart */

    /* cap.c */
    struct ath_handle handles[ATH_HANDLES_MAX];

    /* dma.c: its DMA region (dma:SIZE), for the task's whole life, and where it is mapped */
    struct ath_task_dma {
        uint64_t phys, size;           /* physically contiguous; size 0: no region */
        uint32_t at;                   /* its linear-memory address while mapped */
        uint64_t mapped;               /* bytes of it mapped from `at` (they lie in memory) */
        uint64_t length;               /* bytes the module asked for (dma_map's len) */
        bool ready;                    /* all `length` mapped: devices may use it */
        uint64_t *saved;               /* the memory's own frame of each page mapped over */
    } dma;

    /* wasi.c */
    alk_wasi wasi;                     /* made afresh with each instance */
    const char **wasi_args, **wasi_env;
    uint64_t wasi_cpu_origin;          /* ath_task_cpu_ns when the state was made */

    /* supervisor.c */
    uint32_t restarts;
    uint64_t restart_ns;               /* the last restart, end to running again */
    bool finishing;                    /* ended for good; its memory is being given back */
    struct {                           /* the restart under way (fresh_needed) */
        uint32_t failed;               /* the module whose end caused it */
        uint32_t trap_code;            /* its trap (0: it returned) */
        uint64_t since;                /* cycles at its end */
    } restart;
};

/* Its stack and kernel stack, each with a guard page, in reservations of their own. */
void ath_task_init(struct ath_task *task, uint32_t index, const char *name, size_t stack_size);
/* Gives the task a fresh context on its own stack that runs entry(task) when it is switched to. */
void ath_task_start(struct ath_task *task, void (*entry)(void *));
struct ath_task *ath_task_current(void);              /* NULL in the scheduler */
struct ath_task *ath_task_at(uint32_t index);
uint32_t ath_task_count(void);
void ath_task_set_count(uint32_t count);
/* Runs tasks until the appliance ends; never returns. */
ATH_NORETURN void ath_sched_run(void);
void ath_sched_yield(void);
/* Blocks the running task until ath_task_wake or the deadline (ns, 0: none). Callers loop on
 * their condition (wakeups may be spurious), and keep interrupts off from testing it to here
 * when an interrupt handler may change it (IRQ counts, deadlines). */
void ath_sched_block(uint64_t deadline);
/* Makes a blocked task ready (any context, interrupts on or off). */
void ath_task_wake(struct ath_task *task);
/* The running task is done for good (it returned and is not restarted). */
ATH_NORETURN void ath_task_exit(void);
/* Forgets whatever a task that is not running was doing (it will not run until started). */
void ath_task_stop(struct ath_task *task);
/*
 * A kernel function doing long work for the running module calls this between chunks, at a
 * point where it holds nothing (no allocation, no half-made change that another task could
 * see or that a restart would leave behind): when the module's slice is spent or another task
 * was woken, the others run first. So no kernel call keeps a sibling from running for more
 * than a chunk (docs/runtime.md, "Bounded kernel work"). A no-op at boot.
 */
void ath_sched_preempt_point(void);
/* Interrupts off, from an interrupt handler that woke a task: switch to it now if the
 * interrupted code is module code. */
void ath_sched_interrupted(struct ath_trap_frame *frame);
/* Nanoseconds the task has run (its CPU time, interrupts taken meanwhile included). */
uint64_t ath_task_cpu_ns(const struct ath_task *task);

/* ---- module.c: a module's life ----------------------------------------------------------------- */
/* Loads module `index` of the image into `task` (code mapped read+execute, imports linked) and
 * instantiates it; fails the appliance with the reason if it cannot. */
void ath_module_load(struct ath_task *task, const struct ath_image *image, uint32_t index);
/* A fresh instance (memory from its data segments, globals, tables) in place of the old one,
 * in the task's own context, preemptible. Returns NULL or why it could not. */
const char *ath_module_reinstantiate(struct ath_task *task);
/* The task body: runs the module's start function and `_start`, then asks its supervisor. */
void ath_module_main(void *task);
/* Prints "[athanor] module NAME: trapped: KIND (in FUNCTION+OFFSET)", the function when the
 * trap came from the module's own code, then one line per Wasm frame (its backtrace). */
void ath_module_report_trap(const struct ath_task *task);
/* At the trap, before the stacks unwind: records the module's Wasm frames from task->trap_pc,
 * finding the module's frame pointer through the kernel stack's frame chain from kernel_frame
 * (the frame pointer of the trap path's own function). */
void ath_module_record_frames(struct ath_task *task, uintptr_t kernel_frame);

/* ---- channel.c -------------------------------------------------------------------------------- */
void ath_channels_init(const struct ath_image *image);
/* For cap.c's wait: is the channel end behind this handle ready? */
bool ath_channel_ready(const struct ath_handle *handle);
/* A task that restarts no longer waits on anything. */
uint32_t ath_channel_count(void);
const char *ath_channel_name(uint32_t index);

/* ---- device.c: ports, IRQ lines, MMIO windows --------------------------------------------------- */
/* Checks every device resource of every module (ranges the kernel keeps, RAM under an MMIO
 * window); fails the boot with the reason. */
void ath_devices_check(const struct ath_image *image, const struct ath_boot_info *info);
bool ath_irq_ready(const struct ath_handle *handle);
/* The source of an IRQ handle is waited on from now: unmask it. */
void ath_irq_arm(const struct ath_handle *handle);
/* The task closes (or loses, on restart) an IRQ handle. */
void ath_irq_release(struct ath_task *task, uint64_t source);
/* Device sources (pci.c): the one of an I/O APIC input (made and routed, masked, on first
 * use: level-triggered, active low as PCI's INTx is, or active high as a platform device's),
 * a new one for an MSI-X vector; -1 when there is none left (or no I/O APIC has it). */
int ath_irq_source_gsi(uint32_t gsi, bool active_high);
int ath_irq_source_msix(uint16_t device, uint16_t entry);
/* A handle on an interrupt source for the task (ATH_E_BUSY while another module holds one);
 * device: the PCI function's index + 1 it was opened through, or 0. */
int32_t ath_irq_handle(struct ath_task *task, unsigned source, uint16_t device);
/* Identity-maps [base, base + size) uncached, a chunk at a time; 0 or ATH_E_NOMEM. */
int32_t ath_device_map_window(uint64_t base, uint64_t size);
/* The fault hook's first question (wasm.c): a driver's MMIO access that the bus aborted
 * resumes as the call's ATH_E_BUS. */
bool ath_device_fault(struct ath_trap_frame *frame);

/* ---- pci.c: PCI functions as capabilities (docs/runtime.md, "PCI devices") --------------------- */
/* Enumerates the machine's PCI functions once (boot), turns bus mastering off on every one. */
void ath_pci_init(void);
/* Resolves every module's pci grants to functions (each to one module), checks port and MMIO
 * grants stay clear of PCI (configuration space, BARs); fails the boot naming the module. */
void ath_pci_check_grants(const struct ath_image *image);
/* A BAR handle's access: 0, or the error (the MSI-X table, a virtio queue's registers). */
int32_t ath_pci_bar_access(const struct ath_handle *h, uint32_t offset, uint32_t width,
                           bool write, uint64_t value);
/* After a write through a BAR handle: a virtio driver that reset its device (status 0) has its
 * queues forgotten by the kernel too, once the device has stopped. */
void ath_pci_bar_written(const struct ath_handle *h, uint32_t offset, uint32_t width,
                         uint64_t value);
/* The function behind a PCI handle is released (closed, or its module restarts or ends): the
 * device is reset and stops mastering the bus before anything it used is reused. */
void ath_pci_release(struct ath_task *task, struct ath_handle *h);
/* Masks or unmasks one of the function's MSI-X vectors (interrupts off). */
void ath_pci_msix_mask(uint16_t device, uint16_t entry, bool masked);

/* What pci.c records of each function and the registers it and virtio.c (the one device
 * family the kernel lets master the bus: it knows every register through which a virtio
 * device is told a memory address) use; from the PCI Local Bus specification 3.0. */
/* Configuration space, type 0 header (and what a bridge's type 1 header adds). */
#define PCI_VENDOR          0x00
#define PCI_DEVICE          0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_REVISION        0x08        /* then programming interface, subclass, class */
#define PCI_HEADER_TYPE     0x0e
#define PCI_BAR0            0x10        /* six of them, to 0x27 */
#define PCI_SECONDARY_BUS   0x19        /* type 1 */
#define PCI_ROM             0x30
#define PCI_CAPABILITIES    0x34
#define PCI_INTERRUPT_LINE  0x3c
#define PCI_INTERRUPT_PIN   0x3d

#define PCI_COMMAND_IO      0x0001
#define PCI_COMMAND_MEMORY  0x0002
#define PCI_COMMAND_MASTER  0x0004
#define PCI_COMMAND_INTX_OFF 0x0400
#define PCI_STATUS_CAPS     0x0010

#define PCI_CAP_VENDOR      0x09
#define PCI_CAP_MSIX        0x11
#define PCI_MSIX_ENABLE     0x8000      /* message control */
#define PCI_MSIX_MASK_ALL   0x4000
#define PCI_VENDOR_VIRTIO   0x1af4
#define PCI_DEVICE_VIRTIO_MODERN 0x1040 /* a modern virtio device's ID: 0x1040 + its type */

enum ath_pci_bar_kind { PCI_BAR_NONE = 0, PCI_BAR_MEMORY, PCI_BAR_IO, PCI_BAR_UPPER };

struct ath_pci_bar {
    uint64_t base, size;
    uint8_t kind;                      /* enum ath_pci_bar_kind (UPPER: a 64-bit BAR's high half) */
    uintptr_t mapped;                  /* a memory BAR: where the kernel mapped it (0: not yet) */
};

struct ath_virtio;

struct ath_pci_function {
    uint8_t bus, slot, function, header;
    uint16_t vendor, device;
    uint8_t class, subclass, progif, revision;
    uint8_t irq_line, irq_pin;         /* as the firmware left them; pin 0: no INTx */
    uint16_t config_size;              /* 4096 through ECAM, else 256 */
    struct ath_pci_bar bars[6];
    struct {
        uint8_t cap;                   /* offset of the MSI-X capability; 0: none */
        uint16_t count;                /* vectors in its table */
        uint8_t table_bar, pba_bar;
        uint32_t table_offset, pba_offset;
        volatile uint32_t *table;      /* mapped by the kernel, never by a driver */
        uint16_t programmed;           /* entries the kernel filled in (sources below) */
        bool enabled;
        int8_t sources[ATH_MSIX_VECTORS_MAX];
    } msix;
    int8_t intx_source;                /* its I/O APIC input's source; -1: none yet */
    struct ath_task *owner;            /* the module granted it, or NULL */
    uint32_t grant;                    /* which of the owner's pci grants (0: the first) */
    bool open;                         /* the owner holds a handle on it */
    struct ath_virtio *virtio;         /* a modern virtio device's structures, else NULL */
    /* A virtio-mmio device (no PCI at all: QEMU microvm, Firecracker), which the kernel
     * presents as a function so that a driver and its pci grant work on either transport: no
     * configuration space (reads give a header with the virtio IDs and no capabilities, writes
     * are dropped), BAR 0 its register window, INTx its interrupt (irq_line the GSI, level,
     * active high), never MSI-X. */
    bool platform;
};

/* Where a memory BAR is mapped (uncached), mapping it the first time: its physical address
 * when the identity map reaches it, else a reservation of the kernel's (a firmware may place
 * 64-bit BARs far above memory: OVMF does). 0 when it cannot be mapped. */
uintptr_t ath_pci_bar_address(struct ath_pci_function *f, unsigned bar);
/* Configuration space of a recorded function (offset aligned to width, inside it). */
uint32_t ath_pci_read(const struct ath_pci_function *f, unsigned offset, unsigned width);
void ath_pci_write(const struct ath_pci_function *f, unsigned offset, unsigned width,
                   uint32_t value);
/* The function behind the calling task's PCI handle: 0 and *out, or a handle error. */
int32_t ath_pci_of(struct ath_task *task, uint32_t handle, struct ath_pci_function **out);

/* After enumeration: the virtio-mmio devices the ACPI tables and the command line
 * (virtio_mmio.device=SIZE@BASE:IRQ, Linux's syntax) declare, as platform functions. */
void ath_pci_add_virtio_mmio(void);

/* ---- virtio.c ---------------------------------------------------------------------------------- */
/* A platform function's virtio-mmio window: its f->virtio if it is a version 2 (modern) device
 * with a device ID, reset; false (and no f->virtio) otherwise. */
bool ath_virtio_probe_mmio(struct ath_pci_function *f);
/* At enumeration: a virtio device with the modern (1.0) structures gets its f->virtio (mapped
 * for the kernel) and is reset; any other function keeps NULL and never masters the bus. */
void ath_virtio_probe(struct ath_pci_function *f);
/* Whether a driver may open that BAR: one holding a virtio structure (not the legacy I/O BAR,
 * not the MSI-X table's). */
bool ath_virtio_bar_visible(const struct ath_pci_function *f, unsigned bar);
/* A driver's access to [offset, offset + width) of that BAR: 0, or why not (ATH_E_RANGE
 * outside the virtio structures; ATH_E_DENIED for a register only the kernel writes). */
int32_t ath_virtio_bar_access(const struct ath_pci_function *f, unsigned bar, uint64_t offset,
                              unsigned width, bool write, uint64_t value);
/* Whether that write (allowed) was the driver resetting its device: status 0. */
bool ath_virtio_is_reset(const struct ath_pci_function *f, unsigned bar, uint64_t offset,
                         unsigned width, uint64_t value);
/* Resets the device (status 0, then waits until it reads back 0) and frees its virtqueues: the
 * device touches none of their memory, nor its driver's DMA region, afterwards. */
void ath_virtio_reset(struct ath_pci_function *f);

/* ---- dma.c: DMA regions -------------------------------------------------------------------------- */
/* Every module's region, allocated (physically contiguous) and zeroed at boot; fails the boot
 * naming the module when there is no room. */
void ath_dma_init(const struct ath_image *image);
/* The physical address a device is given for [addr, addr + length) of the task's linear memory:
 * true only if it lies wholly inside its mapped DMA region. */
bool ath_dma_device_address(const struct ath_task *task, uint64_t addr, uint64_t length,
                            uint64_t *phys);
/* Gives the memory back its own pages where the region was mapped (its devices are reset
 * already): before a new instance, and when the module ends. Preemptible. */
void ath_dma_unmap(struct ath_task *task);

/* ---- supervisor.c ------------------------------------------------------------------------------ */
void ath_supervisors_init(const struct ath_image *image);
/* The running task's module ended (trap_code 0: it returned). Decides what happens next, in its
 * own context: returns when the task must run again (fresh_needed: module.c makes its new
 * instance); otherwise the task is done or the appliance ends. */
void ath_supervise(struct ath_task *task);
/* The running task made its new instance after a restart (problem: NULL, or why it could
 * not, which ends the appliance): counts and reports the restart. */
void ath_supervisor_restarted(struct ath_task *task, const char *problem);

/* ---- trace.c: the kernel's event ring ---------------------------------------------------------- */
enum ath_trace_event {
    ATH_TRACE_START = 1,               /* a = restart count */
    ATH_TRACE_TRAP,                    /* a = trap code, b = pc */
    ATH_TRACE_RESTART,                 /* a = ns it took */
    ATH_TRACE_EXIT,                    /* the module returned */
    ATH_TRACE_SEND,                    /* a = channel, b = messages */
    ATH_TRACE_RECEIVE,                 /* a = channel, b = messages */
    ATH_TRACE_IRQ,                     /* a = line */
    ATH_TRACE_SWITCH,                  /* task = to, a = from (ATH_TRACE_IDLE: the scheduler) */
    ATH_TRACE_ESCALATE,                /* task = supervisor index, a = restarts in the window */
    ATH_TRACE_REFUSED,                 /* a kernel function refused a module: a = the error */
};
#define ATH_TRACE_IDLE 0xffffffffu
/* Records an event; safe in interrupt handlers (a slot is claimed with one atomic add). */
void ath_trace(enum ath_trace_event event, uint32_t task, uint64_t a, uint64_t b);
/* Records that the running module was refused (a forged or stale handle, a grant it lacks, a
 * range outside its memory) and returns the error, for `return ath_refuse(ATH_E_...)`. */
int32_t ath_refuse(int32_t error);
/* Prints the last `count` events, oldest first. */
void ath_trace_print(unsigned count);
void ath_trace_init(void);

/* ---- wasi.c: WASI preview1 in the kernel (docs/kernel-abi.md) -------------------------------- */
/* The image's files, and the console-input rule (no `stdin` grant while a module owns the
 * console UART's ports); fails the boot if it is broken. */
void ath_wasi_init(const struct ath_image *image);
/* Once per module at load: its argv (its name, then its args) and environment from the image. */
void ath_wasi_load(struct ath_task *task);
/* A fresh WASI state for the task's new instance: the descriptors its grants give, nothing
 * open, its CPU time from zero. Returns it, for the instance's `wasi`. */
alk_wasi *ath_wasi_reset(struct ath_task *task);
/* The entry an import of the module binds to: the function's kernel call entry, or for WASI
 * fd_read in a module without `stdin`, a wrapper's that says which grant descriptor 0 needs
 * when refused. Boot time only (kernel call entries are registered then). */
const void *ath_wasi_bind(const struct ath_task *task, const struct ath_abi_function *f);

/* ---- socket.c: the sockets between the apps and the TCP/IP stack (docs/kernel-abi.md) ---- */
/* Finds the stack (the module granted netstack; two fail the boot). After the modules are
 * loaded: their first instances have made their listening sockets already. */
void ath_sockets_init(const struct ath_image *image);
/* The task's handles go (restart or end): its sockets close; if it is the stack, its
 * connections are reset and its listening and datagram sockets wait for the next one. */
void ath_sockets_task_reset(struct ath_task *task);
/* A new instance of an app: its listening sockets (tcp-listen grants) at descriptors
 * ATH_LISTEN_FIRST_FD, ... of its fresh WASI state; 0 or an error. */
int32_t ath_sockets_instance(struct ath_task *task, alk_wasi *wasi);
/* For cap.c's wait: the stack's handle is ready when a socket has events. */
bool ath_net_ready(const struct ath_handle *handle);
/* The WASI platform's sockets (wasi.c). */
extern const alk_wasi_sockets ath_wasi_sockets;

/* ---- random.c ---------------------------------------------------------------------------------- */
void ath_random_init(void);
/* After the modules are loaded: `modules` names those granted entropy (NULL: none), whose
 * feed the pool then waits for where the CPU has no RDRAND; says which source seeds it. */
void ath_random_expect_feed(const char *modules);
void ath_random_fill(uint8_t *out, size_t length);

#endif
