/*
 * Runs the kernel's image verifier (athanor/image.c, with the kernel's crypto) on the host, so
 * that every single-byte corruption of an image can be tried in seconds:
 *
 *   verify_image IMAGE PUBKEY.raw             verify once; exit 0 if accepted
 *   verify_image IMAGE PUBKEY.raw --flip-all  flip each byte in turn (xor 0xff); print how many
 *                                             corrupted images were accepted (must be 0)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel.h"

/* Defined writable in key_storage.c: the kernel's copy is const, ours is read from a file. */
void set_public_key(const unsigned char key[32]);
static bool quiet;

/* ---- The few kernel services image.c uses, on libc ------------------------------------------ */
void *ath_alloc(size_t size) { return malloc(size); }
void ath_free(void *ptr) { free(ptr); }

void ath_kprintf(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

int ath_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
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
    unsigned char *bytes = malloc((size_t)n + 1);
    if (!bytes || fread(bytes, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: verify_image IMAGE PUBKEY.raw [--flip-all]\n");
        return 2;
    }
    size_t size, key_size;
    unsigned char *image = read_file(argv[1], &size);
    unsigned char *key = read_file(argv[2], &key_size);
    if (key_size != 32) {
        fprintf(stderr, "%s: not a 32-byte raw public key\n", argv[2]);
        return 2;
    }
    set_public_key(key);
    struct ath_image parsed;
    if (argc == 3)
        return ath_image_verify(image, size, &parsed) ? 0 : 1;
    quiet = true;
    if (!ath_image_verify(image, size, &parsed)) {
        fprintf(stderr, "the unmodified image does not verify\n");
        return 2;
    }
    size_t accepted = 0;
    for (size_t i = 0; i < size; i++) {
        image[i] ^= 0xff;
        if (ath_image_verify(image, size, &parsed)) {
            printf("accepted with byte %zu flipped\n", i);
            accepted++;
        }
        image[i] ^= 0xff;
    }
    printf("%zu of %zu corrupted images accepted\n", accepted, size);
    return accepted ? 1 : 0;
}
