/*
 * Virtio devices (virtio 1.x, PCI transport), the one family of bus-mastering devices the kernel
 * lets a driver use: it knows every register through which a virtio device learns a memory
 * address, so it can keep all of them to itself (docs/runtime.md, "DMA without an IOMMU").
 *
 * The driver, in Wasm, does everything else with its device (status, features, configuration,
 * notifications, interrupts: appliances/drivers/virtio/) and keeps its split virtqueues in its
 * own memory. The device never sees those: it sees the kernel's copy of each queue, in kernel
 * memory, which only athanor.virtq_sync writes, after it has read each new descriptor of the
 * driver's once, checked that it names a buffer inside the driver's DMA region and nothing
 * else (no indirect tables, no loops, no descriptor the device still holds), and translated
 * its address. The used entries the device returns are copied back into the driver's ring.
 *
 *   the driver's ring (its memory)        the device's ring (kernel memory, device-visible)
 *     desc[i] = { linear address,  --->     desc[i] = { physical address in the region,
 *                 len, flags, next }  check             len, flags, next }
 *     avail ring                     --->     avail ring
 *     used ring                      <---     used ring (the device writes it)
 *
 * Registers: the common configuration's queue address, size and enable fields, and the
 * feature bits that would change the rings' layout (packed rings, event indexes), are the
 * kernel's; a driver's write to them is refused. Nothing else of the device can name memory.
 * Resetting the device (status 0, read back until 0) makes it forget every queue: the kernel
 * does it before a driver starts and after it stops, before the queues' memory or the DMA
 * region is reused.
 *
 * The same holds for the virtio-mmio transport (virtio 1.x, 4.2.2; version 2 only, the legacy
 * interface's single page-frame register is not supported), whose register window is a platform
 * function's BAR 0 (kernel.h, pci.c): QueueNum, QueueReady and the six queue address registers are the
 * kernel's; the driver's feature writes are watched (its DriverFeatures cannot be read back).
 */
#include "kernel.h"
#include "kernel_abi.h"

#define VIRTIO_CAP_COMMON 1
#define VIRTIO_CAP_NOTIFY 2
#define VIRTIO_CAP_ISR 3
#define VIRTIO_CAP_DEVICE 4

/* Common configuration (virtio 1.x, 4.1.4.3). */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0c
#define COMMON_MSIX_CONFIG 0x10
#define COMMON_NUM_QUEUES 0x12
#define COMMON_STATUS 0x14
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_MSIX_VECTOR 0x1a
#define COMMON_QUEUE_ENABLE 0x1c
#define COMMON_QUEUE_NOTIFY_OFF 0x1e
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30
#define COMMON_SIZE 0x38

#define STATUS_FEATURES_OK 0x08
#define STATUS_FAILED 0x80
#define FEATURE_EVENT_IDX (1ull << 29)
#define FEATURE_VERSION_1 (1ull << 32)
#define FEATURE_RING_PACKED (1ull << 34)

#define DESC_NEXT 1
#define DESC_WRITE 2
#define AVAIL_NO_INTERRUPT 1
#define USED_NO_NOTIFY 1
#define RESET_POLLS 1000000

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct used_elem {
    uint32_t id, len;
};

/* One queue as the device sees it, and what the kernel knows of the driver's copy. */
struct virtq {
    uint16_t size, notify_off;
    uint64_t phys;                     /* the device's rings: desc | avail | used, contiguous */
    size_t pages;
    volatile struct desc *desc;
    volatile uint16_t *avail;          /* flags, idx, ring[size] */
    volatile uint16_t *used;           /* flags, idx, then used_elem[size] */
    uint32_t driver_desc, driver_avail, driver_used;   /* the driver's, in its memory */
    uint16_t driver_seen;              /* the driver's avail idx taken so far */
    uint16_t avail_idx;                /* the device's avail idx */
    uint16_t used_seen;                /* the device's used idx taken so far */
    uint16_t driver_used_idx;          /* the driver's used idx */
    struct desc *scratch;              /* the driver's descriptors, read once */
    uint16_t *heads;                   /* the chains a sync publishes */
    uint8_t *in_flight, *is_head, *staged;   /* a bit per descriptor */
};

struct region {
    uint8_t bar;
    uint32_t offset, length;
    volatile uint8_t *at;              /* NULL: absent */
};

struct ath_virtio {
    struct region common, notify, isr, device;   /* virtio-mmio: common is registers 0..0xff */
    uint32_t notify_multiplier;
    bool mmio;
    uint32_t features_select, features[2];       /* virtio-mmio: the driver's writes, watched */
    struct virtq *queues[ATH_VIRTQUEUES_MAX];
};

/* virtio-mmio registers (virtio 1.x, 4.2.2), 32-bit accesses only. */
#define MMIO_MAGIC 0x000
#define MMIO_VERSION 0x004
#define MMIO_DEVICE_ID 0x008
#define MMIO_DEVICE_FEATURES_SEL 0x014
#define MMIO_DRIVER_FEATURES 0x020
#define MMIO_DRIVER_FEATURES_SEL 0x024
#define MMIO_QUEUE_SEL 0x030
#define MMIO_QUEUE_NUM_MAX 0x034
#define MMIO_QUEUE_NUM 0x038
#define MMIO_QUEUE_READY 0x044
#define MMIO_QUEUE_NOTIFY 0x050
#define MMIO_INTERRUPT_STATUS 0x060
#define MMIO_INTERRUPT_ACK 0x064
#define MMIO_STATUS 0x070
#define MMIO_QUEUE_DESC 0x080                  /* low, high */
#define MMIO_QUEUE_DRIVER 0x090
#define MMIO_QUEUE_DEVICE 0x0a0
#define MMIO_CONFIG 0x100
#define MMIO_MAGIC_VALUE 0x74726976u           /* "virt" */

static bool bit(const uint8_t *bits, unsigned i) { return bits[i / 8] >> (i % 8) & 1; }
static void set_bit(uint8_t *bits, unsigned i, bool on)
{
    bits[i / 8] = (uint8_t)(on ? bits[i / 8] | 1u << (i % 8) : bits[i / 8] & ~(1u << (i % 8)));
}

static void barrier(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static uint8_t read8(const struct region *r, unsigned offset) { return r->at[offset]; }
static uint16_t read16(const struct region *r, unsigned offset)
{
    return *(volatile uint16_t *)(r->at + offset);
}
static uint32_t read32(const struct region *r, unsigned offset)
{
    return *(volatile uint32_t *)(r->at + offset);
}
static void write8(const struct region *r, unsigned offset, uint8_t v) { r->at[offset] = v; }
static void write16(const struct region *r, unsigned offset, uint16_t v)
{
    *(volatile uint16_t *)(r->at + offset) = v;
}
static void write32(const struct region *r, unsigned offset, uint32_t v)
{
    *(volatile uint32_t *)(r->at + offset) = v;
}
static void write64(const struct region *r, unsigned offset, uint64_t v)
{
    write32(r, offset, (uint32_t)v);
    write32(r, offset + 4, (uint32_t)(v >> 32));
}

/* ---- Probe --------------------------------------------------------------------------------- */
static bool region_from_cap(struct ath_pci_function *f, unsigned cap, struct region *r)
{
    unsigned bar = ath_pci_read(f, cap + 4, 1);
    uint32_t offset = ath_pci_read(f, cap + 8, 4), length = ath_pci_read(f, cap + 12, 4);
    if (bar >= 6 || f->bars[bar].kind != PCI_BAR_MEMORY || length == 0 ||
        (uint64_t)offset + length > f->bars[bar].size)
        return false;
    uintptr_t at = ath_pci_bar_address(f, bar);
    if (!at)
        return false;
    *r = (struct region){ (uint8_t)bar, offset, length, (volatile uint8_t *)(at + offset) };
    return true;
}

void ath_virtio_probe(struct ath_pci_function *f)
{
    if (f->vendor != PCI_VENDOR_VIRTIO || f->device < 0x1000 || f->device > 0x107f ||
        !(ath_pci_read(f, PCI_STATUS, 2) & PCI_STATUS_CAPS))
        return;
    struct ath_virtio v = { 0 };
    unsigned at = ath_pci_read(f, PCI_CAPABILITIES, 1) & 0xfc;
    for (unsigned hops = 0; at >= 0x40 && hops < 48; hops++) {
        if (ath_pci_read(f, at, 1) == PCI_CAP_VENDOR && ath_pci_read(f, at + 2, 1) >= 16) {
            unsigned type = ath_pci_read(f, at + 3, 1);
            struct region *r = type == VIRTIO_CAP_COMMON ? &v.common :
                               type == VIRTIO_CAP_NOTIFY ? &v.notify :
                               type == VIRTIO_CAP_ISR ? &v.isr :
                               type == VIRTIO_CAP_DEVICE ? &v.device : NULL;
            /* The first structure of each type is the one to use (virtio 1.x, 4.1.4). */
            if (r && !r->at && region_from_cap(f, at, r) && type == VIRTIO_CAP_NOTIFY)
                v.notify_multiplier = ath_pci_read(f, at + 16, 4);
        }
        at = ath_pci_read(f, at + 1, 1) & 0xfc;
    }
    if (!v.common.at || v.common.length < COMMON_SIZE || !v.notify.at || !v.isr.at)
        return;                         /* no modern interface: never masters the bus */
    f->virtio = ath_alloc(sizeof *f->virtio);
    if (!f->virtio)
        return;
    *f->virtio = v;
    ath_virtio_reset(f);
}

/* virtio device types with a PCI class of their own (virtio 1.x, 4.1.2.1 keeps the transitional
 * devices' classes; the kernel gives a platform function the same). */
static void mmio_class(struct ath_pci_function *f, uint32_t type)
{
    if (type == 1) {                    /* network */
        f->class = 0x02;
    } else if (type == 2) {             /* block */
        f->class = 0x01;
    } else {
        f->class = 0xff;
    }
}

bool ath_virtio_probe_mmio(struct ath_pci_function *f)
{
    uintptr_t at = ath_pci_bar_address(f, 0);
    if (!at || f->bars[0].size < MMIO_CONFIG)
        return false;
    volatile uint8_t *regs = (volatile uint8_t *)at;
    uint32_t magic = *(volatile uint32_t *)(regs + MMIO_MAGIC);
    uint32_t version = *(volatile uint32_t *)(regs + MMIO_VERSION);
    uint32_t type = *(volatile uint32_t *)(regs + MMIO_DEVICE_ID);
    if (magic != MMIO_MAGIC_VALUE || type == 0 || type > 0x3f)
        return false;                   /* not virtio, or a transport with no device */
    if (version != 2) {
        ath_kprintf("[athanor] virtio-mmio 0x%lx: version %u (legacy) is not supported; QEMU: "
                    "-global virtio-mmio.force-legacy=false\n", (unsigned long)f->bars[0].base,
                    version);
        return false;
    }
    struct ath_virtio *v = ath_alloc(sizeof *v);
    if (!v)
        return false;
    uint32_t length = (uint32_t)f->bars[0].size;
    *v = (struct ath_virtio){
        .common = { 0, 0, MMIO_CONFIG, regs },
        .notify = { 0, MMIO_QUEUE_NOTIFY, 4, regs + MMIO_QUEUE_NOTIFY },
        .isr = { 0, MMIO_INTERRUPT_STATUS, 8, regs + MMIO_INTERRUPT_STATUS },
        .device = { 0, MMIO_CONFIG, length - MMIO_CONFIG, regs + MMIO_CONFIG },
        .mmio = true,
    };
    f->vendor = PCI_VENDOR_VIRTIO;
    f->device = (uint16_t)(PCI_DEVICE_VIRTIO_MODERN + type);
    mmio_class(f, type);
    f->virtio = v;
    ath_virtio_reset(f);
    return true;
}

bool ath_virtio_bar_visible(const struct ath_pci_function *f, unsigned bar)
{
    const struct ath_virtio *v = f->virtio;
    return (v->common.at && v->common.bar == bar) || (v->notify.at && v->notify.bar == bar) ||
           (v->isr.at && v->isr.bar == bar) || (v->device.at && v->device.bar == bar);
}

/* ---- What a driver may touch ----------------------------------------------------------------- */
static bool inside(const struct region *r, unsigned bar, uint64_t offset, unsigned width)
{
    return r->at && r->bar == bar && offset >= r->offset &&
           offset + width <= (uint64_t)r->offset + r->length;
}

/* The common configuration's registers a driver writes itself: feature selection and feature
 * bits, the MSI-X vectors' numbers, the status, the queue selector. Not the queue size,
 * enable and addresses: athanor.virtq_setup writes those (and the addresses are not even
 * read: they are kernel memory). */
static bool common_writable(unsigned offset, unsigned width)
{
    switch (offset) {
    case COMMON_DEVICE_FEATURE_SELECT: case COMMON_DRIVER_FEATURE_SELECT:
    case COMMON_DRIVER_FEATURE:
        return width == 4;
    case COMMON_MSIX_CONFIG: case COMMON_QUEUE_SELECT: case COMMON_QUEUE_MSIX_VECTOR:
        return width == 2;
    case COMMON_STATUS:
        return width == 1;
    default:
        return false;
    }
}

/* virtio-mmio: the registers below the configuration space a driver writes itself (feature
 * selection and bits, the queue selector, notification, interrupt acknowledgement, status) and
 * the ones it may read (all but the queue addresses and the shared memory regions'). */
static int32_t mmio_access(struct ath_virtio *v, uint64_t offset, unsigned width, bool write,
                           uint64_t value)
{
    if (offset >= MMIO_CONFIG)
        return offset + width <= MMIO_CONFIG + (uint64_t)v->device.length ? 0 : ATH_E_RANGE;
    if (width != 4 || offset % 4)
        return ATH_E_DENIED;            /* registers are 32-bit (virtio 1.x, 4.2.2) */
    if (!write)
        return offset >= MMIO_QUEUE_DESC && offset < MMIO_CONFIG - 4 ? ATH_E_DENIED : 0;
    switch (offset) {
    case MMIO_DRIVER_FEATURES_SEL:
        v->features_select = (uint32_t)value;
        return 0;
    case MMIO_DRIVER_FEATURES: {
        uint64_t bits = v->features_select == 0 ? (uint32_t)value :
                        v->features_select == 1 ? (uint64_t)(uint32_t)value << 32 : 0;
        if (bits & (FEATURE_RING_PACKED | FEATURE_EVENT_IDX))
            return ATH_E_DENIED;
        if (v->features_select < 2)
            v->features[v->features_select] = (uint32_t)value;
        return 0;
    }
    case MMIO_DEVICE_FEATURES_SEL: case MMIO_QUEUE_SEL: case MMIO_QUEUE_NOTIFY:
    case MMIO_INTERRUPT_ACK: case MMIO_STATUS:
        return 0;
    default:
        return ATH_E_DENIED;
    }
}

int32_t ath_virtio_bar_access(const struct ath_pci_function *f, unsigned bar, uint64_t offset,
                              unsigned width, bool write, uint64_t value)
{
    struct ath_virtio *v = f->virtio;
    if (v->mmio)
        return bar == 0 ? mmio_access(v, offset, width, write, value) : ATH_E_RANGE;
    if (inside(&v->common, bar, offset, width)) {
        unsigned at = (unsigned)(offset - v->common.offset);
        if (!write)     /* where the kernel put the device's rings is the kernel's to know */
            return at + width > COMMON_QUEUE_DESC && at < COMMON_SIZE ? ATH_E_DENIED : 0;
        if (!common_writable(at, width))
            return ATH_E_DENIED;
        if (at == COMMON_DRIVER_FEATURE) {
            /* Packed rings and event indexes would change what the device reads in the
             * kernel's rings. */
            uint32_t select = read32(&v->common, COMMON_DRIVER_FEATURE_SELECT);
            uint64_t bits = select == 0 ? (uint32_t)value : select == 1 ? value << 32 : 0;
            if (bits & (FEATURE_RING_PACKED | FEATURE_EVENT_IDX))
                return ATH_E_DENIED;
        }
        return 0;
    }
    if (inside(&v->notify, bar, offset, width) || inside(&v->device, bar, offset, width))
        return 0;
    if (inside(&v->isr, bar, offset, width))
        return write ? ATH_E_DENIED : 0;
    return ATH_E_RANGE;
}

/* ---- Reset ------------------------------------------------------------------------------------ */
bool ath_virtio_is_reset(const struct ath_pci_function *f, unsigned bar, uint64_t offset,
                         unsigned width, uint64_t value)
{
    const struct region *c = &f->virtio->common;
    if (f->virtio->mmio)
        return bar == 0 && offset == MMIO_STATUS && (uint8_t)value == 0;
    return inside(c, bar, offset, width) && offset - c->offset == COMMON_STATUS &&
           (uint8_t)value == 0;
}

static void queue_free(struct virtq *q)
{
    ath_page_free_contiguous(q->phys, q->pages);
    ath_free(q->scratch);
    ath_free(q);
}

static uint8_t device_status(const struct ath_virtio *v)
{
    return v->mmio ? (uint8_t)read32(&v->common, MMIO_STATUS) : read8(&v->common, COMMON_STATUS);
}

void ath_virtio_reset(struct ath_pci_function *f)
{
    struct ath_virtio *v = f->virtio;
    if (v->mmio)
        write32(&v->common, MMIO_STATUS, 0);
    else
        write8(&v->common, COMMON_STATUS, 0);
    for (unsigned polls = 0; device_status(v) != 0 && polls < RESET_POLLS; polls++)
        ;
    v->features_select = 0;
    v->features[0] = v->features[1] = 0;
    if (device_status(v) != 0) {
        /* It does not say it has stopped: it may not master the bus again until reset. */
        ath_pci_write(f, PCI_COMMAND, 2, ath_pci_read(f, PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER);
        ath_kprintf("[athanor] pci %02x:%02x.%u: virtio device does not reset; bus mastering "
                    "off\n", f->bus, f->slot, f->function);
    }
    for (unsigned i = 0; i < ATH_VIRTQUEUES_MAX; i++) {
        if (v->queues[i])
            queue_free(v->queues[i]);
        v->queues[i] = NULL;
    }
}

/* ---- athanor.virtq_setup ------------------------------------------------------------------------ */
static int32_t virtio_of(void *vmctx, uint32_t handle, struct ath_task **task,
                         struct ath_pci_function **f)
{
    *task = ath_caller(vmctx);
    int32_t error = ath_pci_of(*task, handle, f);
    if (error)
        return error;
    return (*f)->virtio ? 0 : ath_refuse(ATH_E_TYPE);
}

static uint64_t negotiated(const struct ath_virtio *v)
{
    if (v->mmio)
        return v->features[0] | (uint64_t)v->features[1] << 32;
    const struct region *c = &v->common;
    uint32_t select = read32(c, COMMON_DRIVER_FEATURE_SELECT);
    write32(c, COMMON_DRIVER_FEATURE_SELECT, 0);
    uint64_t features = read32(c, COMMON_DRIVER_FEATURE);
    write32(c, COMMON_DRIVER_FEATURE_SELECT, 1);
    features |= (uint64_t)read32(c, COMMON_DRIVER_FEATURE) << 32;
    write32(c, COMMON_DRIVER_FEATURE_SELECT, select);
    return features;
}

/* athanor.virtq_setup(handle, queue, ptr): ptr holds u32 size, desc, avail, used */
int32_t ath_abi_virtq_setup(void *vmctx, uint32_t handle, uint32_t queue, uint32_t ptr)
{
    struct ath_task *task;
    struct ath_pci_function *f;
    int32_t error = virtio_of(vmctx, handle, &task, &f);
    if (error)
        return error;
    const uint8_t *layout = ath_user_memory(vmctx, ptr, 16);
    if (!layout)
        return ath_refuse(ATH_E_FAULT);
    uint32_t words[4];
    memcpy(words, layout, sizeof words);            /* read once */
    uint32_t size = words[0], desc = words[1], avail = words[2], used = words[3];

    struct ath_virtio *v = f->virtio;
    const struct region *c = &v->common;
    if (!task->dma.ready)
        return ATH_E_INVALID;           /* no DMA region mapped: nothing to point at */
    if (queue >= ATH_VIRTQUEUES_MAX || (!v->mmio && queue >= read16(c, COMMON_NUM_QUEUES)))
        return ath_refuse(ATH_E_RANGE);
    if (v->queues[queue])
        return ATH_E_BUSY;
    uint8_t status = device_status(v);
    uint64_t features = negotiated(v);
    if (!(status & STATUS_FEATURES_OK) || (status & STATUS_FAILED) ||
        !(features & FEATURE_VERSION_1) || (features & (FEATURE_RING_PACKED | FEATURE_EVENT_IDX)))
        return ATH_E_INVALID;
    uint32_t largest;
    uint16_t notify_off = 0;
    if (v->mmio) {
        write32(c, MMIO_QUEUE_SEL, queue);
        largest = read32(c, MMIO_QUEUE_NUM_MAX);
        if (largest == 0)
            return ath_refuse(ATH_E_RANGE);     /* no such queue */
        if (read32(c, MMIO_QUEUE_READY))
            return ATH_E_BUSY;
    } else {
        write16(c, COMMON_QUEUE_SELECT, (uint16_t)queue);
        largest = read16(c, COMMON_QUEUE_SIZE);
        if (largest == 0)
            return ath_refuse(ATH_E_RANGE);
        if (read16(c, COMMON_QUEUE_ENABLE))
            return ATH_E_BUSY;
        notify_off = read16(c, COMMON_QUEUE_NOTIFY_OFF);
    }
    if (size == 0 || (size & (size - 1)) || size > largest || size > ATH_VIRTQUEUE_SIZE_MAX ||
        (uint64_t)notify_off * v->notify_multiplier + 2 > v->notify.length ||
        desc % 16 || avail % 2 || used % 4)
        return ATH_E_INVALID;
    uint8_t *driver_used = ath_user_memory(vmctx, used, 6 + 8ull * size);
    if (!ath_user_memory(vmctx, desc, 16ull * size) || !ath_user_memory(vmctx, avail, 6 + 2ull * size) ||
        !driver_used)
        return ath_refuse(ATH_E_FAULT);

    /* The device's rings, and the kernel's bookkeeping, in one allocation each. */
    uint64_t avail_at = 16ull * size, used_at = ATH_ALIGN_UP(avail_at + 6 + 2ull * size, 4);
    uint64_t bytes = used_at + 6 + 8ull * size;
    size_t pages = (size_t)(ATH_ALIGN_UP(bytes, ATH_PAGE_SIZE) / ATH_PAGE_SIZE);
    size_t bitmap = (size + 7) / 8;
    struct virtq *q = ath_alloc(sizeof *q);
    uint8_t *book = ath_alloc(16 * (size_t)size + 2 * (size_t)size + 3 * bitmap);
    uint64_t phys = ath_page_alloc_contiguous(pages);
    if (!q || !book || !phys) {
        ath_free(q);
        ath_free(book);
        if (phys)
            ath_page_free_contiguous(phys, pages);
        return ATH_E_NOMEM;
    }
    memset((void *)(uintptr_t)phys, 0, pages * ATH_PAGE_SIZE);
    memset(book, 0, 16 * (size_t)size + 2 * (size_t)size + 3 * bitmap);
    *q = (struct virtq){
        .size = (uint16_t)size, .notify_off = notify_off, .phys = phys, .pages = pages,
        .desc = (volatile struct desc *)(uintptr_t)phys,
        .avail = (volatile uint16_t *)(uintptr_t)(phys + avail_at),
        .used = (volatile uint16_t *)(uintptr_t)(phys + used_at),
        .driver_desc = desc, .driver_avail = avail, .driver_used = used,
        .scratch = (struct desc *)book, .heads = (uint16_t *)(book + 16 * (size_t)size),
        .in_flight = book + 18 * (size_t)size, .is_head = book + 18 * (size_t)size + bitmap,
        .staged = book + 18 * (size_t)size + 2 * bitmap,
    };
    uint16_t seen;
    memcpy(&seen, ath_user_memory(vmctx, avail + 2, 2), 2);
    q->driver_seen = seen;
    memset(driver_used, 0, 4);          /* the driver's used ring is the kernel's to write */

    if (v->mmio) {
        write32(c, MMIO_QUEUE_SEL, queue);
        write32(c, MMIO_QUEUE_NUM, size);
        write64(c, MMIO_QUEUE_DESC, phys);
        write64(c, MMIO_QUEUE_DRIVER, phys + avail_at);
        write64(c, MMIO_QUEUE_DEVICE, phys + used_at);
        write32(c, MMIO_QUEUE_READY, 1);
    } else {
        write16(c, COMMON_QUEUE_SELECT, (uint16_t)queue);
        write16(c, COMMON_QUEUE_SIZE, (uint16_t)size);
        write64(c, COMMON_QUEUE_DESC, phys);
        write64(c, COMMON_QUEUE_DRIVER, phys + avail_at);
        write64(c, COMMON_QUEUE_DEVICE, phys + used_at);
        write16(c, COMMON_QUEUE_ENABLE, 1);
    }
    v->queues[queue] = q;
    return 0;
}

/* ---- athanor.virtq_sync ------------------------------------------------------------------------ */
/* The used entries the device returned since the last sync, into the driver's used ring. An
 * entry that names no chain in flight is dropped (a device that follows the specification
 * never returns one). Returns how many were delivered. */
static uint32_t harvest(struct virtq *q, uint8_t *driver_used)
{
    uint16_t used_idx = q->used[1];
    uint16_t count = (uint16_t)(used_idx - q->used_seen);
    uint32_t delivered = 0;
    if (count > q->size)
        count = 0;
    barrier();
    for (uint16_t j = 0; j < count; j++) {
        volatile struct used_elem *e =
            (volatile struct used_elem *)(q->used + 2) + (uint16_t)(q->used_seen + j) % q->size;
        uint32_t id = e->id, len = e->len;
        if (id >= q->size || !bit(q->is_head, id) || !bit(q->in_flight, id))
            continue;
        uint64_t writable = 0;
        uint32_t i = id;
        for (unsigned steps = 0; steps < q->size; steps++) {
            set_bit(q->in_flight, i, false);
            uint16_t flags = q->desc[i].flags;
            if (flags & DESC_WRITE)
                writable += q->desc[i].len;
            if (!(flags & DESC_NEXT))
                break;
            i = q->desc[i].next;
        }
        set_bit(q->is_head, id, false);
        struct used_elem out = { id, (uint32_t)ATH_MIN((uint64_t)len, writable) };
        memcpy(driver_used + 4 + 8 * (size_t)(q->driver_used_idx % q->size), &out, sizeof out);
        q->driver_used_idx++;
        delivered++;
    }
    q->used_seen = (uint16_t)(q->used_seen + count);
    barrier();
    memcpy(driver_used + 2, &q->driver_used_idx, 2);
    return delivered;
}

/* The chains the driver made available since the last sync: every descriptor read once into
 * the kernel's scratch, checked, its address translated. 0, or why not (nothing staged). */
static int32_t check(struct ath_task *task, struct virtq *q, const uint8_t *driver_desc,
                     const uint8_t *driver_avail, uint16_t count)
{
    memset(q->staged, 0, (q->size + 7u) / 8);
    for (uint16_t k = 0; k < count; k++) {
        uint16_t head;
        memcpy(&head, driver_avail + 4 + 2 * (size_t)((uint16_t)(q->driver_seen + k) % q->size), 2);
        if (head >= q->size)
            return ATH_E_INVALID;
        q->heads[k] = head;
        uint32_t i = head;
        for (unsigned steps = 0;; steps++) {
            if (steps == q->size || bit(q->in_flight, i) || bit(q->staged, i))
                return ATH_E_INVALID;   /* a loop, or a descriptor in use */
            struct desc *d = &q->scratch[i];
            memcpy(d, driver_desc + 16 * (size_t)i, sizeof *d);
            uint64_t phys;
            if (d->flags & ~(DESC_NEXT | DESC_WRITE))
                return ATH_E_INVALID;   /* indirect tables are not followed */
            if (!ath_dma_device_address(task, d->addr, d->len, &phys))
                return ATH_E_RANGE;
            d->addr = phys;
            set_bit(q->staged, i, true);
            if (!(d->flags & DESC_NEXT))
                break;
            if (d->next >= q->size)
                return ATH_E_INVALID;
            i = d->next;
        }
    }
    return 0;
}

/* athanor.virtq_sync(handle, queue): used entries back to the driver, then its new chains to
 * the device (all of them, or none), then a notification. The number of used entries. */
int32_t ath_abi_virtq_sync(void *vmctx, uint32_t handle, uint32_t queue)
{
    struct ath_task *task;
    struct ath_pci_function *f;
    int32_t error = virtio_of(vmctx, handle, &task, &f);
    if (error)
        return error;
    struct virtq *q = queue < ATH_VIRTQUEUES_MAX ? f->virtio->queues[queue] : NULL;
    if (!q)
        return ATH_E_INVALID;
    const uint8_t *driver_desc = ath_user_memory(vmctx, q->driver_desc, 16ull * q->size);
    const uint8_t *driver_avail = ath_user_memory(vmctx, q->driver_avail, 6 + 2ull * q->size);
    uint8_t *driver_used = ath_user_memory(vmctx, q->driver_used, 6 + 8ull * q->size);
    if (!driver_desc || !driver_avail || !driver_used)
        return ath_refuse(ATH_E_FAULT);

    uint32_t delivered = harvest(q, driver_used);

    uint16_t header[2];
    memcpy(header, driver_avail, sizeof header);    /* flags, idx: read once */
    uint16_t count = (uint16_t)(header[1] - q->driver_seen);
    if (count > q->size)
        return ath_refuse(ATH_E_INVALID);
    error = check(task, q, driver_desc, driver_avail, count);
    if (error) {
        static uint64_t told;           /* bit per module: its first such refusal said */
        if (error == ATH_E_RANGE && !(told >> task->index & 1)) {
            told |= 1ull << task->index;
            ath_kprintf("[athanor] module %s: virtq_sync refused: a descriptor of queue %u "
                        "points outside its DMA region\n", task->record.name, queue);
        }
        return ath_refuse(error);
    }
    for (uint16_t i = 0; i < q->size && count; i++) {
        if (!bit(q->staged, i))
            continue;
        q->desc[i].addr = q->scratch[i].addr;
        q->desc[i].len = q->scratch[i].len;
        q->desc[i].flags = q->scratch[i].flags;
        q->desc[i].next = q->scratch[i].next;
        set_bit(q->in_flight, i, true);
    }
    for (uint16_t k = 0; k < count; k++) {
        q->avail[2 + (uint16_t)(q->avail_idx + k) % q->size] = q->heads[k];
        set_bit(q->is_head, q->heads[k], true);
    }
    q->avail[0] = header[0] & AVAIL_NO_INTERRUPT;
    barrier();                          /* the ring entries before the index */
    q->avail_idx = (uint16_t)(q->avail_idx + count);
    q->avail[1] = q->avail_idx;
    q->driver_seen = header[1];
    barrier();                          /* the index before the device's flags are read */
    if (count && !(q->used[0] & USED_NO_NOTIFY)) {
        if (f->virtio->mmio)
            write32(&f->virtio->notify, 0, queue);
        else
            write16(&f->virtio->notify, (unsigned)q->notify_off * f->virtio->notify_multiplier,
                    (uint16_t)queue);
    }
    return (int32_t)delivered;
}
