/* An ordinary C program: printf, malloc, qsort, args, environment, clock_gettime and a file
 * (argv[1] names it). As an appliance (appliance.toml: grants stdout, args, env, clock, files)
 * it prints under ./build.py run exactly what its native build (gcc -O2) prints, and its exit
 * code, 7, comes back; tests/test_wasi.py checks that, and the same under `alkahest run`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int by_value(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    /* argv[1] is the file to read: its path differs inside and outside, so it is not printed */
    printf("argc=%d\n", argc);
    for (int i = 2; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    printf("MISSING=%s\n", getenv("MISSING") ? "set" : "(unset)");

    int n = 1000;
    int *values = malloc(n * sizeof *values);
    if (!values)
        return 2;
    for (int i = 0; i < n; i++)
        values[i] = (i * 7919 + 13) % 1009;
    qsort(values, n, sizeof *values, by_value);
    long sum = 0;
    for (int i = 0; i < n; i++)
        sum += (long)values[i] * (i + 1);
    printf("sorted: first %d, last %d, weighted sum %ld\n", values[0], values[n - 1], sum);
    free(values);

    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    volatile double x = 0;
    for (int i = 1; i < 200000; i++)
        x += 1.0 / i;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long elapsed = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("clock advances: %s; harmonic %.9f\n", elapsed > 0 ? "yes" : "no", x);

    if (argc > 1) {
        FILE *f = fopen(argv[1], "r");
        if (!f) {
            printf("cannot open %s\n", argv[1]);
            return 3;
        }
        char line[128];
        int lines = 0;
        while (fgets(line, sizeof line, f)) {
            lines++;
            if (lines == 1)
                printf("first line: %s", line);
        }
        fseek(f, 0, SEEK_END);
        printf("lines %d, bytes %ld\n", lines, ftell(f));
        fclose(f);
    }
    return 7;
}
