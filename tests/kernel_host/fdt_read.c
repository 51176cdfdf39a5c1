/*
 * Runs the AArch64 kernel's device tree reader (athanor/arch/aarch64/fdt.c) on the host under
 * ASan and UBSan, so that hostile blobs can be tried by the thousand:
 *
 *   fdt_read DTB                 read once; print what the kernel would take from it
 *   fdt_read DTB --mutate N      N mutated copies of the blob (its free space at the end cut off) (bytes flipped, header fields and properties'
 *                                lengths and name offsets set to edge values, truncations):
 *                                each is read from a buffer of exactly its claimed size, so
 *                                any read outside it stops the run; prints how many were
 *                                accepted and refused
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aarch64.h"

/* ---- The few kernel services fdt.c uses, on libc --------------------------------------------- */
size_t ath_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size) {
        size_t m = n < size - 1 ? n : size - 1;
        memcpy(dst, src, m);
        dst[m] = 0;
    }
    return n;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = calloc(1, (size_t)n + 8);     /* room to round up to 8, zeroed */
    if (!bytes || fread(bytes, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put_be32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

/* Reads the blob from a heap copy of exactly the size its header claims (when that is one the
 * reader may accept; else of the file's size), zero-padded: a read past the claimed end is a
 * read past the allocation, which ASan stops. */
static bool read_blob(const unsigned char *blob, size_t size, struct ath_boot_info *info, const char **error)
{
    size_t claimed = size >= 8 ? be32(blob + 4) : 0;
    size_t n = claimed >= 40 && claimed <= ATH_FDT_SIZE_MAX ? claimed : size;
    unsigned char *copy = calloc(1, n);
    memcpy(copy, blob, n < size ? n : size);
    bool ok = aarch64_fdt_read((uintptr_t)copy, info, error);
    free(copy);
    return ok;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t random32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Offsets of every property's length field in the structure block. */
static size_t property_fields(const unsigned char *b, size_t size, size_t *out, size_t max)
{
    size_t count = 0, at = be32(b + 8), end = at + be32(b + 36);
    if (end > size)
        return 0;
    while (at + 4 <= end && count < max) {
        uint32_t token = be32(b + at);
        at += 4;
        if (token == 1) {
            while (at < end && b[at])
                at++;
            at = (at + 4) & ~(size_t)3;
        } else if (token == 3) {
            out[count++] = at;
            at = (at + 8 + be32(b + at) + 3) & ~(size_t)3;
        } else if (token != 2 && token != 4) {
            break;
        }
    }
    return count;
}

static const uint32_t edges[] = { 0, 1, 3, 4, 7, 8, 0x28, 0x7fffffff, 0x80000000, 0xfffffff8, 0xfffffffc, 0xffffffff };

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--mutate"))) {
        fprintf(stderr, "usage: fdt_read DTB [--mutate N]\n");
        return 2;
    }
    size_t size;
    unsigned char *blob = read_file(argv[1], &size);
    static struct ath_boot_info info;
    const char *error = NULL;
    if (argc == 2) {
        bool ok = read_blob(blob, size, &info, &error);
        free(blob);
        if (!ok) {
            printf("refused: %s\n", error);
            return 1;
        }
        const struct aarch64_machine *m = &aarch64_machine;
        printf("model %s\ncmdline '%s'\n", m->model, info.cmdline);
        for (unsigned i = 0; i < info.mem_count; i++)
            printf("memory 0x%llx 0x%llx\n", (unsigned long long)info.mem[i].start,
                   (unsigned long long)info.mem[i].size);
        for (unsigned i = 0; i < info.reserved_count; i++)
            printf("reserved 0x%llx 0x%llx\n", (unsigned long long)info.reserved[i].start,
                   (unsigned long long)info.reserved[i].size);
        for (unsigned i = 0; i < info.module_count; i++)
            printf("module 0x%llx 0x%llx\n", (unsigned long long)info.modules[i].start,
                   (unsigned long long)info.modules[i].size);
        printf("uart 0x%llx irq %u\ngic v%u dist 0x%llx cpu 0x%llx redist 0x%llx\ntimer irq %u\n"
               "psci %s\nrtc 0x%llx\n", (unsigned long long)m->uart_base, m->uart_irq, m->gic_version,
               (unsigned long long)m->gic_dist, (unsigned long long)m->gic_cpu,
               (unsigned long long)m->gic_redist, m->timer_irq,
               m->psci ? (m->psci_hvc ? "hvc" : "smc") : "none", (unsigned long long)m->rtc_base);
        printf("bcm2836 local 0x%llx armctrl 0x%llx pm 0x%llx\n", (unsigned long long)m->bcm_local,
               (unsigned long long)m->bcm_armctrl, (unsigned long long)m->bcm_pm);
        for (unsigned i = 0; i < m->spin_cpu_count; i++)
            printf("spin-table cpu 0x%llx release 0x%llx\n", (unsigned long long)m->spin_cpus[i].mpidr,
                   (unsigned long long)m->spin_cpus[i].release);
        return 0;
    }

    long count = strtol(argv[3], NULL, 10);
    /* QEMU's blobs end in free space (1 MiB in all): cut it off, so that a mutated copy is
     * small (the strings block comes last, as libfdt lays blobs out). */
    if (size >= 40) {
        size_t end = be32(blob + 12) + (size_t)be32(blob + 32);
        if (end >= 40 && end <= size && be32(blob + 8) + (size_t)be32(blob + 36) <= be32(blob + 12)) {
            size = (end + 7) & ~(size_t)7;
            put_be32(blob + 4, (uint32_t)size);
        }
    }
    unsigned char *work = malloc(size);
    size_t fields[4096];
    size_t field_count = property_fields(blob, size, fields, 4096);
    unsigned accepted = 0, refused = 0;
    for (long i = 0; i < count; i++) {
        memcpy(work, blob, size);
        size_t n = size;
        switch (i % 5) {
        case 0:             /* a few random bytes */
            for (unsigned k = 1 + random32() % 4; k; k--)
                work[random32() % size] ^= (unsigned char)(1 + random32() % 255);
            break;
        case 1:             /* a header field at an edge */
            put_be32(work + 4 * (1 + random32() % 9), edges[random32() % (sizeof edges / sizeof *edges)]);
            break;
        case 2:             /* a property's length or name offset at an edge */
            if (field_count)
                put_be32(work + fields[random32() % field_count] + 4 * (random32() % 2),
                         edges[random32() % (sizeof edges / sizeof *edges)]);
            break;
        case 3:             /* truncated, header saying so */
            n = 40 + random32() % (size - 40);
            put_be32(work + 4, (uint32_t)n);
            break;
        case 4:             /* a token replaced */
            if (field_count)
                put_be32(work + fields[random32() % field_count] - 4, random32() % 12);
            break;
        }
        if (read_blob(work, n, &info, &error))
            accepted++;
        else
            refused++;
    }
    free(work);
    free(blob);
    printf("%u accepted, %u refused\n", accepted, refused);
    return 0;
}
