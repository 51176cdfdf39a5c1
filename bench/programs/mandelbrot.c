/* Float loops with data-dependent exits: counts Mandelbrot iterations over a grid. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int32_t size = argc > 1 ? atoi(argv[1]) : 1000;
    const int32_t limit = 200;
    uint64_t total = 0, checksum = 0;
    for (int32_t y = 0; y < size; y++) {
        double ci = 2.0 * y / size - 1.0;
        for (int32_t x = 0; x < size; x++) {
            double cr = 2.5 * x / size - 2.0, zr = 0, zi = 0;
            int32_t i = 0;
            while (i < limit && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                i++;
            }
            total += (uint64_t)i;
            checksum = checksum * 31 + (uint64_t)i;
        }
    }
    printf("iterations %llu checksum %llu\n", (unsigned long long)total,
           (unsigned long long)checksum);
    return 0;
}
