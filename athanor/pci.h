/*
 * PCI inside the kernel: what pci.c records of each function, shared with virtio.c (the one
 * device family the kernel lets master the bus: it knows every register through which a
 * virtio device is told a memory address). Registers from the PCI Local Bus specification 3.0.
 */
#ifndef ATH_PCI_H
#define ATH_PCI_H

#include "loader.h"

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

#endif
