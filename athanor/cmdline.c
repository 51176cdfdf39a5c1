/*
 * The kernel command line: words separated by spaces or tabs, each
 * "key=value" or a bare "key" (value ""). Parsed once at boot into a
 * private copy; when a key repeats, the last word wins.
 */
#include "kernel.h"

struct arg {
    const char *key;
    const char *value;
};

static char storage[ATH_CMDLINE_MAX];
static struct arg args[ATH_CMDLINE_ARGS_MAX];
static unsigned arg_count;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void ath_cmdline_parse(const char *cmdline)
{
    ath_strlcpy(storage, cmdline, sizeof storage);
    arg_count = 0;
    char *p = storage;
    for (;;) {
        while (is_space(*p))
            *p++ = '\0';
        if (!*p)
            break;
        char *word = p;
        while (*p && !is_space(*p))
            p++;
        if (*p)
            *p++ = '\0';
        if (arg_count == ATH_CMDLINE_ARGS_MAX) {
            ath_kprintf("[athanor] command line: too many words, ignoring '%s' and after\n", word);
            break;
        }
        char *eq = strchr(word, '=');
        if (eq)
            *eq = '\0';
        args[arg_count++] = (struct arg){ word, eq ? eq + 1 : "" };
    }
}

const char *ath_cmdline_get_nth(const char *key, unsigned n)
{
    for (unsigned i = 0; i < arg_count; i++)
        if (strcmp(args[i].key, key) == 0 && n-- == 0)
            return args[i].value;
    return NULL;
}

const char *ath_cmdline_get(const char *key)
{
    for (unsigned i = arg_count; i-- > 0; )
        if (strcmp(args[i].key, key) == 0)
            return args[i].value;
    return NULL;
}
