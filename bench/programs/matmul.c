/* Dense float arithmetic on arrays: double-precision matrix multiplication (i-k-j order) and
 * a 5-point stencil relaxation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int32_t n = argc > 1 ? atoi(argv[1]) : 500;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n);
    double *c = calloc((size_t)n * n, sizeof(double));
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < n; j++) {
            a[i * n + j] = (double)((i * 31 + j * 17) % 100) / 10.0;
            b[i * n + j] = (double)((i * 13 + j * 7) % 100) / 25.0;
        }
    for (int32_t i = 0; i < n; i++)
        for (int32_t k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (int32_t j = 0; j < n; j++)
                c[i * n + j] += aik * b[k * n + j];
        }
    double trace = 0;
    for (int32_t i = 0; i < n; i++)
        trace += c[i * n + i];
    for (int32_t iteration = 0; iteration < 50; iteration++)
        for (int32_t i = 1; i < n - 1; i++)
            for (int32_t j = 1; j < n - 1; j++)
                a[i * n + j] = 0.2 * (a[i * n + j] + a[(i - 1) * n + j] + a[(i + 1) * n + j] +
                                      a[i * n + j - 1] + a[i * n + j + 1]);
    double sum = 0;
    for (int32_t i = 0; i < n * n; i++)
        sum += a[i];
    printf("trace %.6f relaxed sum %.6f\n", trace, sum);
    free(a);
    free(b);
    free(c);
    return 0;
}
