/* Prints the message of the day baked into the image (/etc/motd), numbering its lines, and
 * counts its words. Grants: stdout, files. */
#include <ctype.h>
#include <stdio.h>

int main(void)
{
    FILE *f = fopen("/etc/motd", "r");
    if (!f) {
        perror("/etc/motd");
        return 1;
    }
    char line[256];
    int number = 0, words = 0;
    while (fgets(line, sizeof line, f)) {
        printf("%2d | %s", ++number, line);
        int in_word = 0;
        for (char *p = line; *p; p++) {
            if (isspace((unsigned char)*p))
                in_word = 0;
            else if (!in_word) {
                in_word = 1;
                words++;
            }
        }
    }
    fclose(f);
    printf("%d lines, %d words\n", number, words);
    return 0;
}
