/*
 * Boot entry: the Linux arm64 Image header (so QEMU -kernel and the boot loaders that load
 * Linux load Athanor), the drop from EL2 to EL1, the boot page tables and the MMU, the stacks.
 *
 * State on entry (the arm64 boot protocol, Documentation/arch/arm64/booting.rst): x0 = the
 * physical address of the device tree blob, x1..x3 = 0, MMU off, D-cache off, interrupts
 * masked, at EL2 or EL1 (QEMU virt: EL1, or EL2 with virtualization=on).
 *
 * The kernel runs where it was loaded (4 KiB aligned, below 4 GiB): first it applies its own
 * relocations (kernel.ld: .rela.dyn, R_AARCH64_RELATIVE only, each adding the distance from
 * the link address), using PC-relative addresses only; from then on every absolute address
 * (literal pools, pointers in data) is the one it runs at.
 *
 * The boot page tables identity-map the first 4 GiB, in one of two layouts chosen by where the
 * kernel was loaded:
 *   - above 1 GiB (QEMU virt): [0, 1 GiB) device memory (virt's UART, GIC and virtio-mmio live
 *     there), [1 GiB, 4 GiB) normal memory, in 1 GiB blocks;
 *   - below 1 GiB (the Raspberry Pi 3: RAM from 0): [0, RPI_PERIPHERALS) normal memory in 2 MiB
 *     blocks, [RPI_PERIPHERALS, 1 GiB) device memory (the BCM2837's peripherals: UART,
 *     interrupt controller, PM watchdog), [1 GiB, 2 GiB) device memory (the BCM2836 local
 *     interrupt controller at 1 GiB), nothing above.
 * Normal memory is read/write/execute. vm.c replaces these tables with the final ones once the
 * page allocator runs.
 *
 * Only the first CPU boots: a loader that starts every core at the entry (rather than parking
 * the others in a spin table, as QEMU's raspi machines and the Pi firmware do) finds the
 * others parked here in a WFE loop, with the MMU off and touching no memory.
 * C needs the MMU on: with it off every access is to device memory, where an unaligned access
 * faults.
 *
 * Stacks: kernel C code runs on SP_EL0 (EL1t: the boot stack, later each task's stack), so
 * every exception is taken on SP_EL1 (EL1h), the exception stack or the running task's kernel
 * stack (ath_arch_use_kernel_stack): an exception never pushes on the stack it interrupted.
 */
#include "param.h"

#define SCTLR_RES1      0x30d00800      /* the bits SCTLR_EL1 must have set (ARMv8.0) */
#define SCTLR_M         (1 << 0)        /* MMU */
#define SCTLR_C         (1 << 2)        /* data cache */
#define SCTLR_SA        (1 << 3)        /* sp alignment check */
#define SCTLR_I         (1 << 12)       /* instruction cache */
#define HCR_RW          (1 << 31)       /* EL1 is AArch64 */
#define SPSR_EL1H_MASKED 0x3c5          /* EL1 on SP_EL1, D A I F masked */
#define CPACR_FPEN      (3 << 20)       /* FP/SIMD at EL1 and EL0 without traps */
#define CPTR_EL2_RES1   0x33ff
#define ICC_SRE_EL2     s3_4_c12_c9_5
#define ICC_SRE_EL2_SRE_ENABLE 9        /* system registers at EL2, and EL1 may use them */

/* MAIR_EL1: attribute 0 normal write-back, 1 device nGnRE, 2 normal non-cacheable. */
#define MAIR_VALUE      0x4404ff
/* TCR_EL1: T0SZ 16 (48-bit addresses, the walk starts at level 0), 4 KiB granule, walks
 * write-back cacheable inner shareable; TTBR1 walks off (EPD1); IPS from the CPU. */
#define TCR_VALUE       (16 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23))

/* Block descriptors: AF | SH inner | attr 0 | block, and AF | attr 1 | block | PXN | UXN. */
#define BLOCK_NORMAL    0x701
#define BLOCK_DEVICE_LO 0x405
#define BLOCK_DEVICE_XN 0x60            /* PXN, UXN: bits 53 and 54, in the top 16 bits */
#define TABLE           3
#define GIB             0x40000000
#define RPI_PERIPHERALS 0x3f000000      /* BCM2837: the peripherals' window, to 1 GiB */
#define MPIDR_AFF0      0xff
#define R_AARCH64_NONE      0
#define R_AARCH64_RELATIVE  1027
#define RELA_SIZE       24              /* Elf64_Rela: offset, info, addend */

    .section .head, "ax"
    .globl _head
_head:
    b ath_entry                         /* code0 */
    .long 0                             /* code1 */
    .quad __text_offset                 /* from RAM's base (kernel.ld) */
    .quad __image_size                  /* bytes from _head to the end of .bss */
    .quad 2                             /* flags: little endian, 4 KiB pages, near RAM's base */
    .quad 0, 0, 0
    .ascii "ARM\x64"                    /* magic */
    .long 0                             /* no PE header */

    .text
    .globl ath_entry
ath_entry:
    mov x19, x0                         /* the device tree */

    /* Every core but the first waits here for ever. */
    mrs x1, mpidr_el1
    and x1, x1, #MPIDR_AFF0
    cbnz x1, park

    /* Relocate: x3 = where the kernel runs minus where it was linked. Stop (where no one can
     * tell) if it is not page aligned or a relocation is of a kind this loop does not know. */
    adr x1, _head
    tst x1, #0xfff
    b.ne park
    ldr x2, =__link_base                /* an absolute symbol: no relocation of its own */
    sub x3, x1, x2
    adrp x4, __rela_start
    add x4, x4, :lo12:__rela_start
    adrp x5, __rela_end
    add x5, x5, :lo12:__rela_end
1:  cmp x4, x5
    b.hs 3f
    ldp x6, x7, [x4]                    /* r_offset, r_info */
    ldr x8, [x4, #16]                   /* r_addend */
    add x4, x4, #RELA_SIZE
    and x7, x7, #0xffffffff             /* the type */
    cbz x7, 1b                          /* R_AARCH64_NONE */
    cmp x7, #R_AARCH64_RELATIVE
    b.ne park
    add x8, x8, x3
    str x8, [x6, x3]
    b 1b
3:
    mrs x20, CurrentEL
    lsr x20, x20, #2                    /* kept for aarch64_boot_el */
    cmp x20, #2
    b.ne at_el1
    /* EL2: EL1 is AArch64, its timer and counter reachable, then return into EL1h. */
    mov x1, #HCR_RW
    msr hcr_el2, x1
    mov x1, #3                          /* CNTHCTL_EL2.EL1PCTEN, EL1PCEN */
    msr cnthctl_el2, x1
    msr cntvoff_el2, xzr
    msr vttbr_el2, xzr
    mov x1, #CPTR_EL2_RES1              /* no FP/SIMD traps to EL2 */
    msr cptr_el2, x1
    msr hstr_el2, xzr
    /* A GICv3 CPU interface: its system registers usable from EL1. */
    mrs x1, id_aa64pfr0_el1
    ubfx x1, x1, #24, #4
    cbz x1, 1f
    mrs x1, ICC_SRE_EL2
    mov x2, #ICC_SRE_EL2_SRE_ENABLE
    orr x1, x1, x2
    msr ICC_SRE_EL2, x1
    isb
1:
    ldr x1, =SCTLR_RES1
    msr sctlr_el1, x1
    mov x1, #SPSR_EL1H_MASKED
    msr spsr_el2, x1
    adr x1, at_el1
    msr elr_el2, x1
    eret

at_el1:
    msr daifset, #0xf
    ldr x1, =SCTLR_RES1
    msr sctlr_el1, x1
    isb
    mov x1, #CPACR_FPEN
    msr cpacr_el1, x1
    isb
    msr spsel, #1
    ldr x1, =ath_exception_stack_top
    mov sp, x1

    /* .bss (8-byte aligned stores: the MMU is still off) */
    ldr x1, =__bss_start
    ldr x2, =__bss_end
1:  cmp x1, x2
    b.hs 2f
    str xzr, [x1], #8
    b 1b
2:
    ldr x1, =ath_arch_vectors
    msr vbar_el1, x1

    /* Boot page tables (the layouts above): L0[0] -> L1. */
    ldr x1, =boot_l0
    ldr x2, =boot_l1
    orr x3, x2, #TABLE
    str x3, [x1]
    mov x6, #BLOCK_DEVICE_LO
    movk x6, #BLOCK_DEVICE_XN, lsl #48  /* x6: a device block's attributes */
    mov x5, #BLOCK_NORMAL               /* x5: a normal block's */
    adr x1, _head
    mov x7, #GIB
    cmp x1, x7
    b.lo 4f
    /* virt: L1[0] device, L1[1..3] normal. */
    str x6, [x2]
    mov x4, #1
3:  lsl x3, x4, #30
    orr x3, x3, x5
    str x3, [x2, x4, lsl #3]
    add x4, x4, #1
    cmp x4, #4
    b.lo 3b
    b 6f
4:  /* The Pi: L1[0] -> L2 (2 MiB blocks, normal below the peripherals), L1[1] device. */
    ldr x1, =boot_l2
    orr x3, x1, #TABLE
    str x3, [x2]
    orr x3, x7, x6
    str x3, [x2, #8]
    mov x4, #0
    ldr x8, =(RPI_PERIPHERALS >> 21)
5:  lsl x3, x4, #21
    cmp x4, x8
    csel x9, x5, x6, lo
    orr x3, x3, x9
    str x3, [x1, x4, lsl #3]
    add x4, x4, #1
    cmp x4, #512
    b.lo 5b
6:  dsb sy

    ldr x1, =MAIR_VALUE
    msr mair_el1, x1
    ldr x1, =TCR_VALUE
    mrs x2, id_aa64mmfr0_el1
    and x2, x2, #7                      /* PARange */
    cmp x2, #5
    mov x3, #5
    csel x2, x2, x3, ls                 /* 48 bits at most */
    orr x1, x1, x2, lsl #32             /* IPS */
    msr tcr_el1, x1
    ldr x1, =boot_l0
    msr ttbr0_el1, x1
    isb
    tlbi vmalle1
    dsb nsh
    isb
    ldr x1, =(SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I)
    msr sctlr_el1, x1
    isb

    /* Kernel code on SP_EL0 from here; SP_EL1 stays the exception stack's top. */
    msr spsel, #0
    ldr x1, =ath_boot_stack_top
    mov sp, x1
    ldr x1, =aarch64_boot_dtb
    str x19, [x1]
    ldr x1, =aarch64_boot_el
    str x20, [x1]
    mov x29, #0
    mov x30, #0
    mov w0, #0                          /* no boot loader magic: the device tree says it all */
    mov x1, x19
    bl ath_main
park:
    wfe
    b park

/* A secondary core the kernel released from its loader's spin table (cpu.c) comes here, at
 * the level and with the MMU state the loader left it in: masked, halted for good. */
    .globl aarch64_secondary_park
aarch64_secondary_park:
    msr daifset, #0xf
1:  wfi
    b 1b

    .section .bss.boot, "aw", %nobits
    .balign 4096
boot_l0: .skip 4096
boot_l1: .skip 4096
boot_l2: .skip 4096

/* The boot stack (SP_EL0) and the exception stack (SP_EL1). The guard page below each is
 * unmapped by vm.c. */
    .globl ath_boot_stack_guard, ath_boot_stack_bottom, ath_boot_stack_top
ath_boot_stack_guard:      .skip 4096
ath_boot_stack_bottom:     .skip ATH_KSTACK_SIZE
ath_boot_stack_top:
    .globl ath_exception_stack_guard, ath_exception_stack_bottom, ath_exception_stack_top
ath_exception_stack_guard:  .skip 4096
ath_exception_stack_bottom: .skip ATH_IST_STACK_SIZE
ath_exception_stack_top:
/* Where an exception taken with SP_EL1 about to overflow is reported from (vectors.S). */
    .globl ath_overflow_stack_guard, ath_overflow_stack_top
ath_overflow_stack_guard:   .skip 4096
ath_overflow_stack_bottom:  .skip 8192
ath_overflow_stack_top:

    .section .note.GNU-stack, "", %progbits
