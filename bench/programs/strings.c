/* String functions: builds text with snprintf, then tokenises, searches, compares and copies
 * it with the C library's string routines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *words[] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                               "hotel", "india", "juliet", "kilo", "lima", "mike", "november" };

int main(int argc, char **argv)
{
    int32_t rounds = argc > 1 ? atoi(argv[1]) : 300;
    const size_t capacity = 1 << 16;
    char *text = malloc(capacity), *copy = malloc(capacity), *line = malloc(256);
    uint64_t checksum = 0;
    for (int32_t r = 0; r < rounds; r++) {
        size_t used = 0;
        for (uint32_t i = 0; used + 64 < capacity; i++) {
            int n = snprintf(text + used, capacity - used, "%s-%u %s;",
                             words[(i * 7 + (uint32_t)r) % 14], i % 1000, words[(i * 3) % 14]);
            used += (size_t)n;
        }
        memcpy(copy, text, used + 1);
        size_t length = strlen(copy);
        uint32_t hotels = 0;
        for (const char *p = copy; (p = strstr(p, "hotel")) != NULL; p++)
            hotels++;
        uint32_t tokens = 0, smaller = 0;
        for (char *token = strtok(copy, " ;"); token; token = strtok(NULL, " ;")) {
            tokens++;
            if (strcmp(token, "golf-500") < 0)
                smaller++;
            if (strncmp(token, "mike", 4) == 0)
                checksum += strlen(token);
        }
        strncpy(line, text + (size_t)r % 1000, 100);
        line[100] = 0;
        checksum = checksum * 31 + length + hotels * 7 + tokens * 13 + smaller + strlen(line);
        char *dot = strchr(text, ';');
        checksum += dot ? (uint64_t)(dot - text) : 0;
    }
    printf("checksum %llu\n", (unsigned long long)checksum);
    free(text);
    free(copy);
    free(line);
    return 0;
}
