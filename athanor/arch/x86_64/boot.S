/*
 * Boot entry: both multiboot headers and the PVH note, the 32-bit protected-mode entries that
 * multiboot1 (QEMU -kernel), multiboot2 (GRUB, BIOS or UEFI) and PVH (the x86/HVM direct boot
 * ABI: Firecracker, Cloud Hypervisor, QEMU -kernel of an ELF without multiboot headers) jump
 * to, and the switch to 64-bit long mode.
 *
 * State on entry (all three): 32-bit protected mode, paging off, flat code and data segments
 * (PVH leaves ss unspecified: nothing here touches the stack before long mode reloads it),
 * interrupts off, ebx = physical address of the boot information; eax = the loader's magic
 * (multiboot), which the PVH entry sets to the start info's own magic. No stack.
 *
 * The boot page tables identity-map the first 4 GiB with 2 MiB pages,
 * read/write/execute: enough to reach the kernel, the boot information and
 * the modules (multiboot keeps them below 4 GiB). vm.c replaces them with
 * the final tables once the page allocator runs.
 */
#include "param.h"
#include "exit_protocol.h"

#define MB1_MAGIC      0x1badb002
#define MB1_FLAGS      0x00000003   /* bit 0: page-align modules, bit 1: memory info */
#define MB2_MAGIC      0xe85250d6
#define MB2_ARCH_I386  0
#define PVH_MAGIC      0x336ec578   /* hvm_start_info.magic: what ath_main sees as the magic */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define COM1           0x3f8
#define DEBUG_EXIT     0xf4

    .section .multiboot, "a"
    .balign 8
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long 0x100000000 - (MB1_MAGIC + MB1_FLAGS)

    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    /* information request (optional): cmdline 1, modules 3, basic meminfo 4,
     * memory map 6, ACPI RSDP 14 and 15 */
    .balign 8
mb2_info_request:
    .short 1, 1
    .long mb2_info_request_end - mb2_info_request
    .long 1, 3, 4, 6, 14, 15
mb2_info_request_end:
    /* module alignment: modules start on page boundaries */
    .balign 8
    .short 6, 0
    .long 8
    /* end */
    .balign 8
    .short 0, 0
    .long 8
mb2_header_end:

/* The PVH note: "Xen", type PHYS32_ENTRY, the 32-bit physical address of the entry. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 4, XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long ath_entry_pvh

    .section .boot, "ax"
    .code32
    .globl ath_entry_pvh
ath_entry_pvh:
    movl $PVH_MAGIC, %eax
    /* fall through: ebx is the start info's address */
    .globl ath_entry32
ath_entry32:
    cli
    cld
    movl %eax, %esi                 /* loader magic; ebx: boot info address */

    /* Zero .bss ourselves rather than trust every loader to. */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    movl %esi, ath_boot_magic
    movl %ebx, ath_boot_info_addr
    movl $ath_boot_stack_top, %esp

    /* Long mode (CPUID 0x80000001 EDX bit 29) and NX (bit 20) are required. */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz no_long_mode
    testl $(1 << 20), %edx
    jz no_long_mode

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories; each PD maps
     * 1 GiB with 512 2 MiB pages (P | W | PS). */
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4

    movl $boot_pd, %eax
    orl $0x3, %eax
    movl $boot_pdpt, %edi
    movl $4, %ecx
1:  movl %eax, (%edi)
    addl $0x1000, %eax
    addl $8, %edi
    loop 1b

    movl $boot_pd, %edi
    movl $0x83, %eax
    movl $2048, %ecx
2:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 2b

    movl %cr4, %eax
    orl $(1 << 5), %eax             /* PAE */
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3

    movl $0xc0000080, %ecx          /* EFER */
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax   /* LME | NXE */
    wrmsr

    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax   /* PG | WP | PE */
    movl %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $entry64

/* Say why on COM1 (QEMU's UART needs no setup to transmit) and leave with
 * the boot-error status; halt if there is no debug-exit device. */
no_long_mode:
    movl $no_long_mode_message, %esi
    movw $COM1, %dx
3:  lodsb
    testb %al, %al
    jz 4f
    outb %al, %dx
    jmp 3b
4:  movw $DEBUG_EXIT, %dx
    movb $ATH_FAIL_BOOT, %al
    outb %al, %dx
5:  hlt
    jmp 5b

    .code64
entry64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movl $ath_boot_stack_top, %esp  /* zero-extends into rsp */
    movl ath_boot_magic(%rip), %edi
    movl ath_boot_info_addr(%rip), %esi
    xorl %ebp, %ebp                 /* ends frame-pointer backtraces */
    call ath_main
6:  cli
    hlt
    jmp 6b

    .section .rodata
no_long_mode_message:
    .asciz "[athanor] boot error: this CPU lacks 64-bit long mode or NX\r\n"

/* Boot GDT: null, 64-bit code (0x08), data (0x10). Accessed bits are preset
 * so the CPU never writes here. cpu.c loads the kernel's own GDT. */
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00209b0000000000
    .quad 0x0000930000000000
boot_gdt_end:
boot_gdt_pointer:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .data
    .balign 4
    .globl ath_boot_magic, ath_boot_info_addr
ath_boot_magic:     .long 0
ath_boot_info_addr: .long 0

    .section .bss
    .balign 4096
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4 * 4096

/* The kernel stack. The guard page below it is unmapped by vm.c. */
    .balign 4096
    .globl ath_boot_stack_guard, ath_boot_stack_bottom, ath_boot_stack_top
ath_boot_stack_guard:  .skip 4096
ath_boot_stack_bottom: .skip ATH_KSTACK_SIZE
ath_boot_stack_top:

    .section .note.GNU-stack, "", @progbits
