/* Memory-bound random access: pointer chasing through a random cyclic permutation of a
 * 8 MiB array (one dependent load per step, mostly cache misses). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int32_t steps = argc > 1 ? atoi(argv[1]) : 4000000;
    const uint32_t n = 1u << 21;      /* 2 Mi entries of 4 bytes */
    uint32_t *next = malloc(n * sizeof *next), *order = malloc(n * sizeof *order);
    uint64_t state = 0x2545F4914F6CDD1Dull;
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {          /* Fisher-Yates */
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        uint32_t j = (uint32_t)((state * 2685821657736338717ull) >> 32) % (i + 1);
        uint32_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        next[order[i]] = order[(i + 1) % n];
    uint32_t at = order[0];
    uint64_t sum = 0;
    for (int32_t s = 0; s < steps; s++) {
        at = next[at];
        sum += at;
    }
    printf("after %d steps at %u, sum %llu\n", steps, at, (unsigned long long)sum);
    free(next);
    free(order);
    return 0;
}
