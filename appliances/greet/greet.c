/* Greets the people named in its arguments, in the language its environment asks for, and
 * exits with the number of people greeted. Grants: stdout, args, env. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *lang = getenv("GREETING_LANG");
    const char *hello = "Hello";
    if (lang && strcmp(lang, "fr") == 0)
        hello = "Bonjour";
    else if (lang && strcmp(lang, "de") == 0)
        hello = "Hallo";
    const char *punctuation = getenv("PUNCTUATION");
    for (int i = 1; i < argc; i++)
        printf("%s, %s%s\n", hello, argv[i], punctuation ? punctuation : ".");
    if (argc == 1)
        printf("%s, whoever you are%s\n", hello, punctuation ? punctuation : ".");
    return argc - 1;
}
