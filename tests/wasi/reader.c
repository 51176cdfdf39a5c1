/* Reads stdin line by line until its end (^D on an empty line, on the console) and exits with
 * the number of lines (tests/test_wasi_kernel.py pipes the input). */
#include <stdio.h>
#include <string.h>

int main(void)
{
    char line[256];
    int lines = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        printf("got '%s'\n", line);
        lines++;
    }
    printf("end of input after %d lines\n", lines);
    return lines;
}
