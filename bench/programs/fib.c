/* Call-heavy recursion: naive Fibonacci and Ackermann. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static uint32_t ackermann(uint32_t m, uint32_t n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 40;
    printf("fib(%u) = %u\n", n, fib(n));
    printf("ackermann(2, 2000) = %u\n", ackermann(2, 2000));
    return 0;
}
