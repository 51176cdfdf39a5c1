/* Reads its args, its environment and a file, through wasi-libc (docs/kernel-abi.md, WASI). */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *greeting = getenv("GREETING");
    printf("%s from C:", greeting ? greeting : "Hi");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");

    FILE *file = fopen("/etc/motd", "r");
    if (!file) {
        perror("/etc/motd");
        return 1;
    }
    char line[256];
    while (fgets(line, sizeof line, file))
        printf("/etc/motd: %s", line);
    fclose(file);
    return 0;
}
