/*
 * Athanor tunables, in one place (xv6's param.h).
 *
 * Macro-only: the assembly files include this header too, so nothing here
 * may use C syntax beyond integer expressions.
 */
#ifndef ATH_PARAM_H
#define ATH_PARAM_H

/* The limits build.py checks appliances against, generated from manifest/limits.toml:
 * ATH_TASKS_MAX, ATH_CHANNELS_MAX, ATH_HANDLES_MAX, ATH_IMPORTS_MAX, ATH_SIGNATURES_MAX,
 * ATH_IMAGE_NAME_MAX, ATH_FILE_PATH_MAX, ATH_TASK_KSTACK_SIZE, ATH_LOG_LINE_MAX, ... */
#include "kernel_limits.h"

#define ATH_VERSION              "0.1.0"

#define ATH_PAGE_SIZE            4096
#define ATH_LARGE_PAGE_SIZE      (2 * 1024 * 1024)

/* Physical address the kernel image is linked and loaded at (identity). */
#define ATH_KERNEL_BASE          0x100000

/* The boot stack (the scheduler's) and each IST stack (exceptions, interrupts); each task's
 * kernel stack is ATH_TASK_KSTACK_SIZE. Every stack has one unmapped guard page below it. */
#define ATH_KSTACK_SIZE          (64 * 1024)
#define ATH_IST_STACK_SIZE       (16 * 1024)

/* Boot information limits (struct ath_boot_info is a fixed-size copy). */
#define ATH_MEM_RANGES_MAX       256
#define ATH_MODULES_MAX          16
#define ATH_MODULE_STRING_MAX    128
#define ATH_CMDLINE_MAX          1024
#define ATH_CMDLINE_ARGS_MAX     64
#define ATH_BOOT_RESERVED_MAX    64
#define ATH_BOOTLOADER_NAME_MAX  64
#define ATH_FDT_SIZE_MAX         (2u << 20)   /* AArch64: largest device tree blob read */
#define ATH_FDT_DEPTH_MAX        16           /* AArch64: deepest device tree node read */

/* Fault reporting. */
#define ATH_CODE_REGIONS_MAX     64
#define ATH_CODE_REGION_NAME_MAX 32
#define ATH_BACKTRACE_MAX        16

/* Virtual reservations (ath_vm_reserve) live in [window base, window end):
 * the base is 64 GiB or the first GiB boundary above all physical memory,
 * whichever is higher; the end is the top of the lower canonical half. */
#define ATH_VM_WINDOW_MIN_BASE   (64ull << 30)
#define ATH_VM_WINDOW_END        (1ull << 47)
#define ATH_VM_RESERVATION_ALIGN ATH_LARGE_PAGE_SIZE
#define ATH_VM_RESERVATION_GAP   ATH_LARGE_PAGE_SIZE
#define ATH_VM_RESERVATIONS_MAX  256

/* The appliance runtime (docs/runtime.md). */
#define ATH_TRAP_FRAMES_MAX      16      /* Wasm frames of a trap's backtrace */
#define ATH_TICK_HZ              1000    /* the scheduler's tick */
#define ATH_SLICE_TICKS          10      /* a task runs at most this long before another */
#define ATH_STORM_MIN_US         2       /* athanor.storm: the shortest tick interval */
#define ATH_STORM_MAX_US         50000   /*   and the longest (the PIT's 16-bit count) */
#define ATH_TRACE_EVENTS         256     /* power of two */
#define ATH_TRACE_PRINT          32      /* events printed on a panic or on request */
#define ATH_CONSOLE_LINE_MAX     1024    /* WASI stdin: longest line (a longer one is split) */
#define ATH_CONSOLE_POLL_NS      1000000 /* WASI stdin: how often a waiting read polls the UART */
#define ATH_RANDOM_WAIT_MS       2000    /* random calls wait this long for an entropy module */
#define ATH_VIRTIO_MMIO_MAX      32      /* virtio-mmio devices the kernel looks at (cmdline, ACPI) */
#define ATH_KCALLS_MAX           128     /* kernel functions compiled code may call (kcall.c) */
#define ATH_WASM_STACK_SLACK     4096    /* vmctx->stack_limit above a task stack's guard page */
#define ATH_CONSOLE_CHUNK        128     /* console bytes a module writes between preemption points */
#define ATH_LISTEN_FIRST_FD      4       /* WASI descriptor of a module's first tcp-listen socket */

/* Interrupt sources (device.c): the 16 legacy lines of the PICs, then those of PCI devices (I/O
 * APIC inputs and MSI-X vectors), each on a vector of its own. At most 64: a task's wait set is
 * a 64-bit mask. */
#define ATH_IRQ_LEGACY_LINES     16
#define ATH_IRQ_SOURCES          (ATH_IRQ_LEGACY_LINES + ATH_DEVICE_INTERRUPTS_MAX)

#endif
