/* Memory and integer work: the sieve of Eratosthenes over a byte array, repeated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int32_t limit = argc > 1 ? atoi(argv[1]) : 20000000;
    uint8_t *composite = malloc((size_t)limit + 1);
    uint64_t count = 0, sum = 0;
    for (int32_t round = 0; round < 3; round++) {
        memset(composite, 0, (size_t)limit + 1);
        count = sum = 0;
        for (int32_t i = 2; i <= limit; i++) {
            if (composite[i])
                continue;
            count++;
            sum += (uint64_t)i;
            for (int64_t j = (int64_t)i * i; j <= limit; j += i)
                composite[j] = 1;
        }
    }
    printf("%llu primes up to %d, sum %llu\n", (unsigned long long)count, limit,
           (unsigned long long)sum);
    free(composite);
    return 0;
}
