/* Sorting: the C library's qsort with a comparison callback, and a hand-written quicksort,
 * on pseudo-random 32-bit integers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void quicksort(uint32_t *v, int32_t lo, int32_t hi)
{
    while (lo < hi) {
        uint32_t pivot = v[lo + (hi - lo) / 2];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                uint32_t t = v[i]; v[i] = v[j]; v[j] = t;
                i++;
                j--;
            }
        }
        if (j - lo < hi - i) {
            quicksort(v, lo, j);
            lo = i;
        } else {
            quicksort(v, i, hi);
            hi = j;
        }
    }
}

int main(int argc, char **argv)
{
    int32_t n = argc > 1 ? atoi(argv[1]) : 1000000;
    uint32_t *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    uint32_t state = 2463534242u;
    for (int32_t i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        a[i] = state;
    }
    memcpy(b, a, (size_t)n * 4);
    qsort(a, (size_t)n, 4, compare);
    quicksort(b, 0, n - 1);
    uint64_t checksum = 0;
    for (int32_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            printf("mismatch at %d\n", i);
            return 1;
        }
        checksum = checksum * 1000003u + a[i];
    }
    printf("sorted %d: min %u max %u checksum %llu\n", n, a[0], a[n - 1],
           (unsigned long long)checksum);
    free(a);
    free(b);
    return 0;
}
