/*
 * Diagnostics: names and summaries from include/alkahest_diagnostics.def, filling and formatting
 * alk_diag. Nothing here prints.
 */
#include "alk_internal.h"

typedef struct diag_entry {
    int code;
    char name[9]; /* "ALK-E012" */
    const char *summary;
} diag_entry;

#define ALK_DIAG(name, number, text)                                                       \
    {number,                                                                               \
     {'A', 'L', 'K', '-', 'E', (char)('0' + (number) / 100 % 10),                          \
      (char)('0' + (number) / 10 % 10), (char)('0' + (number) % 10), '\0'},                \
     text},
static const diag_entry diag_entries[] = {
#include "alkahest_diagnostics.def"
};
#undef ALK_DIAG

static const diag_entry *find(int code)
{
    for (size_t i = 0; i < sizeof diag_entries / sizeof diag_entries[0]; i++)
        if (diag_entries[i].code == code)
            return &diag_entries[i];
    return NULL;
}

const char *alk_diag_code_name(int code)
{
    if (code == ALK_OK)
        return "ALK-OK";
    const diag_entry *entry = find(code);
    return entry ? entry->name : "ALK-E???";
}

const char *alk_diag_summary(int code)
{
    if (code == ALK_OK)
        return "ok";
    const diag_entry *entry = find(code);
    return entry ? entry->summary : "unknown diagnostic code";
}

int alk_fail(alk_diag *diag, int code, uint32_t offset, uint32_t function, const char *format, ...)
{
    if (!diag)
        return code;
    diag->code = code;
    diag->offset = offset;
    diag->function = function;
    diag->function_name[0] = '\0';
    size_t n = (size_t)alk_snprintf(diag->message, sizeof diag->message, "%s",
                                    alk_diag_summary(code));
    if (format && *format && n + 1 < sizeof diag->message) {
        va_list args;
        va_start(args, format);
        alk_vsnprintf(diag->message + n, sizeof diag->message - n, format, args);
        va_end(args);
    }
    return code;
}

void alk_diag_format(const alk_diag *diag, char *buf, size_t size)
{
    const char *name = alk_diag_code_name(diag->code);
    if (diag->function == ALK_NO_FUNCTION)
        alk_snprintf(buf, size, "%s at 0x%x: %s", name, diag->offset, diag->message);
    else if (diag->function_name[0])
        alk_snprintf(buf, size, "%s at 0x%x in function %u (%s): %s", name, diag->offset,
                     diag->function, diag->function_name, diag->message);
    else
        alk_snprintf(buf, size, "%s at 0x%x in function %u: %s", name, diag->offset,
                     diag->function, diag->message);
}
