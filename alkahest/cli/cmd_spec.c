/*
 * alkahest spec FILE.json [--bounds checked|guard] [-O] [--lines] [-v]
 *
 * --lines compiles every module as if it carried DWARF line information: a trap stub per
 * trapping instruction and a lines section (docs/object-format.md), the code path that modules
 * built with -g take.
 *
 * Runs one script of the WebAssembly spec testsuite, as converted by wast2json, against the
 * hosted runtime: every command is compiled, instantiated and run on the host over the same
 * machine code the kernel runs. Prints each failure with its .wast line and a reason, and ends
 * with "N passed, N failed, N skipped". Exit status 0 iff nothing failed.
 *
 * Scope: binary modules only (text-form assert_malformed is the text parser's business and is
 * skipped). A module the back end rejects for v128 (the single pass has no SIMD yet), and every
 * action on it, count as skipped; the optimizing tier (-O) runs them all. Every instance lives until the end of the script, including those
 * whose instantiation trapped (their writes into shared tables stay observable).
 *
 * Values travel as 64-bit words, as alk_invoke wants them (a v128 as two, low half first). An externref `ref.extern N` is the
 * word N + 1 (opaque to Wasm, never null, and it round-trips); ref.null is 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "../host/host.h"

typedef struct spec_module {
    char *name;                 /* "$name" from the script, or NULL */
    alk_host_module code;
    alk_instance instance;
    bool loaded, live;          /* code mapped; instance exists (even if it trapped) */
    bool skipped;               /* uses v128: its actions are skipped */
} spec_module;

typedef struct registration {
    char *as;
    spec_module *module;
} registration;

typedef struct spec_run {
    char *directory;            /* of the JSON file: the .wasm files sit next to it */
    const char *script;         /* the .wast's base name, for messages */
    alk_bounds_mode bounds;
    bool verbose;
    spec_module **modules;      /* in creation order; never moved (instances point into them) */
    size_t module_count, module_capacity;
    spec_module *current;       /* the last module defined, or NULL */
    registration *registered;
    size_t registered_count, registered_capacity;
    unsigned passed, failed, skipped;
} spec_run;

typedef enum outcome { PASS, FAIL, SKIP } outcome;

typedef struct verdict {
    outcome outcome;
    char reason[512];
} verdict;

static outcome set(verdict *v, outcome o, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static outcome set(verdict *v, outcome o, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(v->reason, sizeof v->reason, format, args);
    va_end(args);
    v->outcome = o;
    return o;
}

static bool grow(void **array, size_t *capacity, size_t count, size_t element)
{
    if (count < *capacity)
        return true;
    size_t fresh = *capacity ? *capacity * 2 : 16;
    void *bigger = realloc(*array, fresh * element);
    if (!bigger)
        return false;
    *array = bigger;
    *capacity = fresh;
    return true;
}

/* ---- Values --------------------------------------------------------------------------------- */

static bool parse_u64(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!text || !*text || *text == '-')
        return false;
    *out = strtoull(text, &end, 10);
    return !*end && !errno;
}

/* An argument: "i32" "4294967295" and the like, in wast2json's encoding. */
static bool parse_argument(const alk_json *arg, char want, uint64_t *out)
{
    const char *type = alk_json_string(arg, "type"), *text = alk_json_string(arg, "value");
    if (!type || alk_letter_of_name(type) != want || !text)
        return false;
    if (want == ALK_LETTER_FUNCREF || want == ALK_LETTER_EXTERNREF) {
        if (!strcmp(text, "null")) {
            *out = 0;
            return true;
        }
        if (want == ALK_LETTER_FUNCREF || !parse_u64(text, out) || *out == UINT64_MAX)
            return false;           /* a funcref argument other than null cannot be written */
        *out += 1;
        return true;
    }
    if (!parse_u64(text, out))
        return false;
    if (alk_letter_bytes(want) == 4)
        return *out <= UINT32_MAX;
    return true;
}

static bool is_nan_kind(uint64_t bits, char type, bool canonical)
{
    uint64_t exponent_and_quiet = type == ALK_LETTER_F32 ? 0x7fc00000u : 0x7ff8000000000000ull;
    uint64_t magnitude = type == ALK_LETTER_F32 ? bits & 0x7fffffffu : bits & 0x7fffffffffffffffull;
    if (canonical)
        return magnitude == exponent_and_quiet;
    return (magnitude & exponent_and_quiet) == exponent_and_quiet;
}

static void format_value(char *buf, size_t size, char type, uint64_t bits)
{
    switch (type) {
    case ALK_LETTER_F32: {
        uint32_t b = (uint32_t)bits;
        float f;
        memcpy(&f, &b, 4);
        snprintf(buf, size, "f32:0x%08" PRIx32 " (%g)", b, (double)f);
        break;
    }
    case ALK_LETTER_F64: {
        double d;
        memcpy(&d, &bits, 8);
        snprintf(buf, size, "f64:0x%016" PRIx64 " (%g)", bits, d);
        break;
    }
    case ALK_LETTER_FUNCREF:
    case ALK_LETTER_EXTERNREF:
        if (!bits)
            snprintf(buf, size, "%s:null", alk_letter_name(type));
        else
            snprintf(buf, size, "%s:%" PRIu64, alk_letter_name(type),
                     type == ALK_LETTER_EXTERNREF ? bits - 1 : bits);
        break;
    default:
        snprintf(buf, size, "%s:%" PRIu64, alk_letter_name(type), bits);
    }
}

/* Compares one result with its expectation; on a mismatch fills reason. */
static bool check_result(const alk_json *expected, char type, uint64_t bits, char *reason,
                         size_t size)
{
    const char *want_type = alk_json_string(expected, "type");
    const char *text = alk_json_string(expected, "value");
    char got[96];
    format_value(got, sizeof got, type, bits);
    if (!want_type || alk_letter_of_name(want_type) != type || !text) {
        snprintf(reason, size, "expected a %s, the function returns %s",
                 want_type ? want_type : "?", alk_letter_name(type));
        return false;
    }
    bool ok;
    if ((type == ALK_LETTER_F32 || type == ALK_LETTER_F64) && !strncmp(text, "nan:", 4)) {
        ok = is_nan_kind(bits, type, !strcmp(text, "nan:canonical"));
    } else if (type == ALK_LETTER_FUNCREF && strcmp(text, "null")) {
        ok = bits != 0;             /* any function reference */
    } else {
        uint64_t want;
        if (!parse_argument(expected, type, &want)) {
            snprintf(reason, size, "cannot read the expected value %s", text);
            return false;
        }
        ok = bits == want;
    }
    if (!ok)
        snprintf(reason, size, "got %s, expected %s:%s", got, want_type, text);
    return ok;
}

/* A v128 in wast2json's encoding: "lane_type" and one decimal string per lane ("nan:..." in
 * expectations). Fills the two words; *nan_lanes gets bit i for a lane that expects a NaN
 * (bit 16 + i for a canonical one). False when unreadable. */
static bool parse_v128(const alk_json *value, uint64_t words[2], uint32_t *nan_lanes,
                       unsigned *lane_bits)
{
    const char *lane_type = alk_json_string(value, "lane_type");
    const alk_json *lanes = alk_json_member(value, "value");
    if (!lane_type || !lanes || lanes->kind != ALK_JSON_ARRAY)
        return false;
    unsigned bits = !strcmp(lane_type, "i8") ? 8 : !strcmp(lane_type, "i16") ? 16
                  : !strcmp(lane_type, "i32") || !strcmp(lane_type, "f32") ? 32
                  : !strcmp(lane_type, "i64") || !strcmp(lane_type, "f64") ? 64 : 0;
    if (!bits || lanes->count != 128 / bits)
        return false;
    words[0] = words[1] = 0;
    if (nan_lanes)
        *nan_lanes = 0;
    *lane_bits = bits;
    for (size_t i = 0; i < lanes->count; i++) {
        const alk_json *lane = &lanes->items[i];
        if (lane->kind != ALK_JSON_STRING)
            return false;
        uint64_t v;
        if (!strncmp(lane->text, "nan:", 4) && nan_lanes && lane_type[0] == 'f') {
            *nan_lanes |= (1u << i) | (!strcmp(lane->text, "nan:canonical") ? 1u << (16 + i) : 0);
            continue;
        }
        if (!parse_u64(lane->text, &v) || (bits < 64 && v >> bits))
            return false;
        unsigned at = (unsigned)i * bits;
        words[at / 64] |= v << (at % 64);
    }
    return true;
}

static uint64_t v128_lane(const uint64_t words[2], unsigned bits, unsigned i)
{
    unsigned at = i * bits;
    uint64_t v = words[at / 64] >> (at % 64);
    return bits == 64 ? v : v & ((1ull << bits) - 1);
}

static bool check_v128(const alk_json *expected, const uint64_t got[2], char *reason, size_t size)
{
    uint64_t want[2];
    uint32_t nans;
    unsigned bits;
    if (!parse_v128(expected, want, &nans, &bits)) {
        snprintf(reason, size, "cannot read the expected v128");
        return false;
    }
    bool ok = true;
    for (unsigned i = 0; i < 128 / bits; i++) {
        uint64_t lane = v128_lane(got, bits, i);
        if (nans & (1u << i))
            ok &= is_nan_kind(lane, bits == 32 ? ALK_LETTER_F32 : ALK_LETTER_F64,
                              (nans >> (16 + i)) & 1);
        else
            ok &= lane == v128_lane(want, bits, i);
    }
    if (!ok)
        snprintf(reason, size, "got v128 0x%016" PRIx64 "%016" PRIx64 " (%s lanes)", got[1],
                 got[0], alk_json_string(expected, "lane_type"));
    return ok;
}

/* ---- Modules -------------------------------------------------------------------------------- */

static char *path_of(spec_run *run, const char *filename)
{
    size_t n = strlen(run->directory) + strlen(filename) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", run->directory, filename);
    return path;
}

static spec_module *find_module(spec_run *run, const char *name)
{
    if (!name)
        return run->current;
    for (size_t i = run->module_count; i > 0; i--) {
        spec_module *m = run->modules[i - 1];
        if (m->name && !strcmp(m->name, name))
            return m;
    }
    return NULL;
}

static spec_module *find_registered(spec_run *run, const char *as, uint32_t length)
{
    for (size_t i = run->registered_count; i > 0; i--) {
        registration *r = &run->registered[i - 1];
        if (strlen(r->as) == length && !memcmp(r->as, as, length))
            return r->module;
    }
    return NULL;
}

/* Index of the export named (name, length) and its kind, or -1. */
static int64_t find_export(const alk_object *o, const char *name, uint32_t length, uint32_t *kind)
{
    for (uint32_t i = 0; i < alk_object_count(o, ALK_SECTION_EXPORTS); i++) {
        alk_object_export e = alk_object_export_at(o, i);
        if (e.name.length == length && !memcmp(e.name.bytes, name, length)) {
            *kind = e.kind;
            return e.index;
        }
    }
    return -1;
}

/* Compiles the module in FILENAME. SKIP when the back end rejects it for v128. */
static outcome load(spec_run *run, const char *filename, spec_module *m, verdict *v)
{
    char *path = path_of(run, filename);
    uint8_t *wasm = NULL;
    size_t size = 0;
    int error = path ? alk_cli_read_file(path, &wasm, &size) : ENOMEM;
    free(path);
    if (error)
        return set(v, FAIL, "%s: %s", filename, strerror(error));
    alk_diag diag;
    int code = alk_host_load(wasm, size, run->bounds, &m->code, &diag);
    free(wasm);
    if (code == ALK_E_UNSUPPORTED_INSTRUCTION && strstr(diag.message, "v128")) {
        m->skipped = true;
        return set(v, SKIP, "v128");
    }
    if (code) {
        char line[512];
        alk_diag_format(&diag, line, sizeof line);
        return set(v, FAIL, "%s: %s", filename, line);
    }
    m->loaded = true;
    return PASS;
}

typedef enum link_status { LINKED, UNLINKABLE, LINK_SKIP } link_status;

/* Binds every import of m: "spectest" or a registered module's export of the same name. */
static link_status bind_imports(spec_run *run, spec_module *m, alk_extern *imports, verdict *v)
{
    const alk_object *o = &m->code.object;
    for (uint32_t i = 0; i < alk_object_count(o, ALK_SECTION_IMPORTS); i++) {
        alk_object_import imp = alk_object_import_at(o, i);
        if (imp.module.length == 8 && !memcmp(imp.module.bytes, "spectest", 8)) {
            if (alk_spectest_resolve(imp.field.bytes, imp.field.length, imp.kind, &imports[i]))
                continue;
        } else {
            spec_module *from = find_registered(run, imp.module.bytes, imp.module.length);
            uint32_t kind;
            int64_t index = -1;
            if (from && from->skipped) {
                set(v, SKIP, "imports from a module that uses v128");
                return LINK_SKIP;
            }
            if (from && from->live)
                index = find_export(&from->code.object, imp.field.bytes, imp.field.length, &kind);
            if (index >= 0) {
                /* a kind mismatch is left to alk_instantiate: "incompatible import type" */
                imports[i] = alk_instance_export(&from->instance, kind, (uint32_t)index);
                continue;
            }
        }
        set(v, FAIL, "unknown import \"%.*s\" \"%.*s\"", (int)imp.module.length, imp.module.bytes,
            (int)imp.field.length, imp.field.bytes);
        return UNLINKABLE;
    }
    return LINKED;
}

typedef enum instantiate_status {
    INSTANTIATED, LINK_FAILED, TRAPPED, BROKEN, SKIPPED
} instantiate_status;

/* Instantiates a loaded module and runs its start function. TRAPPED sets *trap; the instance
 * stays alive then (its effects on shared tables and memories are observable). */
static instantiate_status instantiate(spec_run *run, spec_module *m, uint32_t *trap, verdict *v)
{
    const alk_object *o = &m->code.object;
    uint32_t count = alk_object_count(o, ALK_SECTION_IMPORTS);
    alk_extern *imports = calloc(count ? count : 1, sizeof *imports);
    if (!imports) {
        set(v, FAIL, "out of memory");
        return BROKEN;
    }
    link_status linked = bind_imports(run, m, imports, v);
    if (linked != LINKED) {
        free(imports);
        return linked == LINK_SKIP ? SKIPPED : LINK_FAILED;
    }
    alk_instantiate_result r = alk_instantiate(&m->instance, o, m->code.code, &alk_host_platform,
                                               imports, 0, m);
    free(imports);
    if (r.status == ALK_INSTANTIATE_LINK) {
        set(v, FAIL, "cannot link: %s", r.message);
        return LINK_FAILED;
    }
    if (r.status != ALK_INSTANTIATE_OK && r.status != ALK_INSTANTIATE_TRAP) {
        set(v, FAIL, "cannot instantiate: %s", r.message);
        return BROKEN;
    }
    m->live = true;
    alk_host_prepare(&m->instance);
    if (r.status == ALK_INSTANTIATE_TRAP) {
        *trap = r.trap_code;
        set(v, FAIL, "instantiation trapped: %s", alk_host_trap_message(r.trap_code));
        return TRAPPED;
    }
    if (o->start != UINT32_MAX) {
        *trap = alk_host_invoke(&m->instance, o->start, NULL, NULL);
        if (*trap) {
            set(v, FAIL, "start function trapped: %s", alk_host_trap_message(*trap));
            return TRAPPED;
        }
    }
    return INSTANTIATED;
}

static spec_module *new_module(spec_run *run, const char *name)
{
    if (!grow((void **)&run->modules, &run->module_capacity, run->module_count,
              sizeof *run->modules))
        return NULL;
    spec_module *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (name && !(m->name = strdup(name))) {
        free(m);
        return NULL;
    }
    run->modules[run->module_count++] = m;
    return m;
}

/* Loads and instantiates FILENAME for a module-form command; *status says how far it got. */
static spec_module *make_module(spec_run *run, const alk_json *command, instantiate_status *status,
                                uint32_t *trap, verdict *v)
{
    const char *filename = alk_json_string(command, "filename");
    spec_module *m = new_module(run, alk_json_string(command, "name"));
    *status = BROKEN;
    if (!filename || !m) {
        set(v, FAIL, filename ? "out of memory" : "no filename");
        return m;
    }
    outcome loaded = load(run, filename, m, v);
    if (loaded == SKIP)
        *status = SKIPPED;
    if (loaded != PASS)
        return m;
    *status = instantiate(run, m, trap, v);
    return m;
}

/* The trap message of `code` matches the script's text: ours may be a prefix of it
 * ("uninitialized element 2"). */
static bool trap_matches(uint32_t code, const char *text)
{
    const char *message = alk_host_trap_message(code);
    return text && !strncmp(text, message, strlen(message));
}

/* ---- Commands ------------------------------------------------------------------------------- */

static outcome command_module(spec_run *run, const alk_json *command, verdict *v)
{
    instantiate_status status;
    uint32_t trap = 0;
    spec_module *m = make_module(run, command, &status, &trap, v);
    run->current = m;
    if (status == SKIPPED)
        return v->outcome == SKIP ? SKIP : set(v, SKIP, "v128");
    if (status != INSTANTIATED)
        return FAIL;
    return PASS;
}

static outcome command_register(spec_run *run, const alk_json *command, verdict *v)
{
    const char *as = alk_json_string(command, "as");
    spec_module *m = find_module(run, alk_json_string(command, "name"));
    if (!as || !m)
        return set(v, FAIL, "no module to register");
    if (!grow((void **)&run->registered, &run->registered_capacity, run->registered_count,
              sizeof *run->registered))
        return set(v, FAIL, "out of memory");
    char *copy = strdup(as);
    if (!copy)
        return set(v, FAIL, "out of memory");
    run->registered[run->registered_count++] = (registration){ copy, m };
    return m->skipped ? set(v, SKIP, "v128") : PASS;
}

/* Runs an action. On PASS, *trap is its trap code (0: returned) and results/types hold what it
 * returned; count is the number of results. */
static outcome perform(spec_run *run, const alk_json *action, uint32_t *trap, uint64_t **results,
                       char **types, uint32_t *count, verdict *v)
{
    const char *kind = alk_json_string(action, "type");
    const alk_json *field_json = alk_json_member(action, "field");
    spec_module *m = find_module(run, alk_json_string(action, "module"));
    *trap = 0;
    *count = 0;
    if (!kind || !field_json || field_json->kind != ALK_JSON_STRING)
        return set(v, FAIL, "malformed action");
    const char *field = field_json->text;
    if (m && m->skipped)
        return set(v, SKIP, "v128");
    if (!m || !m->live)
        return set(v, FAIL, "no instance for the action");
    const alk_object *o = &m->code.object;
    uint32_t export_kind;
    int64_t index = find_export(o, field, (uint32_t)field_json->length, &export_kind);

    if (!strcmp(kind, "get")) {
        if (index < 0 || export_kind != 3)
            return set(v, FAIL, "no exported global \"%s\"", field);
        alk_extern e = alk_instance_export(&m->instance, 3, (uint32_t)index);
        char letter = alk_letter_of_code(e.as.global.type);
        *results = calloc(2, sizeof **results);
        *types = malloc(1);
        if (!*results || !*types)
            return set(v, FAIL, "out of memory");
        memcpy(*results, e.as.global.slot, 8 * alk_letter_words(letter));
        if (alk_letter_bytes(letter) == 4)
            (*results)[0] &= UINT32_MAX;
        (*types)[0] = letter;
        *count = 1;
        return PASS;
    }
    if (strcmp(kind, "invoke"))
        return set(v, FAIL, "unknown action %s", kind);
    if (index < 0 || export_kind != 0)
        return set(v, FAIL, "no exported function \"%s\"", field);
    const alk_json *args = alk_json_member(action, "args");
    alk_str sig = alk_object_type(o, alk_object_function_type(o, (uint32_t)index));
    uint32_t params = 0;
    while (params < sig.length && sig.bytes[params] != ':')
        params++;
    uint32_t result_count = params < sig.length ? sig.length - params - 1 : 0;
    size_t arg_count = args && args->kind == ALK_JSON_ARRAY ? args->count : 0;
    if (arg_count != params)
        return set(v, FAIL, "\"%s\" takes %u arguments, the script passes %zu", field, params,
                   arg_count);
    /* two words per value: enough for v128s (alk_invoke's layout) */
    uint64_t *words = calloc(2 * params + 1, sizeof *words);
    *results = calloc(2 * result_count + 1, sizeof **results);
    *types = malloc(result_count + 1);
    if (!words || !*results || !*types) {
        free(words);
        return set(v, FAIL, "out of memory");
    }
    for (uint32_t i = 0, at = 0; i < params; i++) {
        unsigned lane_bits;
        bool ok = sig.bytes[i] == ALK_LETTER_V128
                      ? parse_v128(&args->items[i], &words[at], NULL, &lane_bits)
                      : parse_argument(&args->items[i], sig.bytes[i], &words[at]);
        if (!ok) {
            free(words);
            return set(v, FAIL, "cannot pass argument %u as %s", i + 1, alk_letter_name(sig.bytes[i]));
        }
        at += alk_letter_words(sig.bytes[i]);
    }
    memcpy(*types, sig.bytes + params + 1, result_count);
    *trap = alk_host_invoke(&m->instance, (uint32_t)index, words, *results);
    *count = result_count;
    free(words);
    return PASS;
}

static outcome command_action(spec_run *run, const alk_json *command, verdict *v, bool check)
{
    const alk_json *action = alk_json_member(command, "action");
    const alk_json *expected = alk_json_member(command, "expected");
    uint32_t trap, count;
    uint64_t *results = NULL;
    char *types = NULL;
    outcome o = perform(run, action, &trap, &results, &types, &count, v);
    if (o == PASS) {
        if (trap) {
            o = set(v, FAIL, "trapped: %s", alk_host_trap_message(trap));
        } else if (check) {
            size_t want = expected && expected->kind == ALK_JSON_ARRAY ? expected->count : 0;
            if (want != count)
                o = set(v, FAIL, "%u results, expected %zu", count, want);
            for (uint32_t i = 0, at = 0; i < count && o == PASS; i++) {
                char reason[256];
                bool ok = types[i] == ALK_LETTER_V128
                              ? check_v128(&expected->items[i], &results[at], reason, sizeof reason)
                              : check_result(&expected->items[i], types[i], results[at], reason,
                                             sizeof reason);
                if (!ok)
                    o = set(v, FAIL, "result %u: %s", i + 1, reason);
                at += alk_letter_words(types[i]);
            }
        }
    }
    free(results);
    free(types);
    return o;
}

static outcome command_trap(spec_run *run, const alk_json *command, verdict *v, bool exhaustion)
{
    const char *text = alk_json_string(command, "text");
    uint32_t trap, count;
    uint64_t *results = NULL;
    char *types = NULL;
    const alk_json *action = alk_json_member(command, "action");
    outcome o = perform(run, action, &trap, &results, &types, &count, v);
    free(results);
    free(types);
    if (o != PASS)
        return o;
    if (!trap)
        return set(v, FAIL, "returned, expected the trap \"%s\"", text ? text : "?");
    if (exhaustion ? trap != ALK_TRAP_STACK_EXHAUSTED : !trap_matches(trap, text))
        return set(v, FAIL, "trapped with \"%s\", expected \"%s\"", alk_host_trap_message(trap),
                   text ? text : "?");
    return PASS;
}

/* assert_invalid / assert_malformed (binary): the pipeline must reject the module. */
static outcome command_reject(spec_run *run, const alk_json *command, verdict *v)
{
    const char *type = alk_json_string(command, "module_type");
    const char *filename = alk_json_string(command, "filename");
    if (type && strcmp(type, "binary"))
        return set(v, SKIP, "text module");
    if (!filename)
        return set(v, FAIL, "no filename");
    char *path = path_of(run, filename);
    uint8_t *wasm = NULL;
    size_t size = 0;
    int error = path ? alk_cli_read_file(path, &wasm, &size) : ENOMEM;
    free(path);
    if (error)
        return set(v, FAIL, "%s: %s", filename, strerror(error));
    alk_compile_options options = { .bounds = run->bounds };
    uint8_t *object = NULL;
    size_t object_size;
    alk_diag diag;
    int code = alk_build(wasm, size, &options, &alk_cli_allocator, &object, &object_size, &diag);
    free(wasm);
    alk_cli_allocator.free(NULL, object);
    if (!code)
        return set(v, FAIL, "%s: accepted, expected \"%s\"", filename,
                   alk_json_string(command, "text") ? alk_json_string(command, "text") : "?");
    if (code == ALK_E_OUT_OF_MEMORY || code >= ALK_E_INTERNAL) {
        char line[512];
        alk_diag_format(&diag, line, sizeof line);
        return set(v, FAIL, "%s: rejected by the back end, not the front end: %s", filename, line);
    }
    return PASS;
}

static outcome command_unlinkable(spec_run *run, const alk_json *command, verdict *v)
{
    instantiate_status status;
    uint32_t trap = 0;
    make_module(run, command, &status, &trap, v);
    switch (status) {
    case LINK_FAILED: return PASS;
    case SKIPPED: return set(v, SKIP, "v128");
    case INSTANTIATED:
        return set(v, FAIL, "linked, expected \"%s\"",
                   alk_json_string(command, "text") ? alk_json_string(command, "text") : "?");
    default: return FAIL;
    }
}

static outcome command_uninstantiable(spec_run *run, const alk_json *command, verdict *v)
{
    const char *text = alk_json_string(command, "text");
    instantiate_status status;
    uint32_t trap = 0;
    make_module(run, command, &status, &trap, v);
    switch (status) {
    case TRAPPED:
        if (trap_matches(trap, text))
            return PASS;
        return set(v, FAIL, "trapped with \"%s\", expected \"%s\"", alk_host_trap_message(trap),
                   text ? text : "?");
    case SKIPPED: return set(v, SKIP, "v128");
    case INSTANTIATED: return set(v, FAIL, "instantiated, expected \"%s\"", text ? text : "?");
    default: return FAIL;
    }
}

static outcome run_command(spec_run *run, const alk_json *command, verdict *v)
{
    const char *type = alk_json_string(command, "type");
    v->outcome = PASS;
    v->reason[0] = 0;
    if (!type)
        return set(v, FAIL, "command without a type");
    if (!strcmp(type, "module"))
        return command_module(run, command, v);
    if (!strcmp(type, "register"))
        return command_register(run, command, v);
    if (!strcmp(type, "action"))
        return command_action(run, command, v, false);
    if (!strcmp(type, "assert_return"))
        return command_action(run, command, v, true);
    if (!strcmp(type, "assert_trap"))
        return command_trap(run, command, v, false);
    if (!strcmp(type, "assert_exhaustion"))
        return command_trap(run, command, v, true);
    if (!strcmp(type, "assert_invalid") || !strcmp(type, "assert_malformed"))
        return command_reject(run, command, v);
    if (!strcmp(type, "assert_unlinkable"))
        return command_unlinkable(run, command, v);
    if (!strcmp(type, "assert_uninstantiable"))
        return command_uninstantiable(run, command, v);
    return set(v, SKIP, "unknown command %s", type);
}

/* ---- Driver --------------------------------------------------------------------------------- */

static void finish(spec_run *run)
{
    /* newest first: an importer lets go of an exporter's memory before the exporter frees it */
    for (size_t i = run->module_count; i > 0; i--) {
        spec_module *m = run->modules[i - 1];
        if (m->live)
            alk_instance_free(&m->instance);
        if (m->loaded)
            alk_host_unload(&m->code);
        free(m->name);
        free(m);
    }
    for (size_t i = 0; i < run->registered_count; i++)
        free(run->registered[i].as);
    free(run->modules);
    free(run->registered);
    free(run->directory);
}

static int usage(void)
{
    fprintf(stderr, "usage: alkahest spec FILE.json [--bounds checked|guard] [-O] [--lines] [-v]\n");
    return ALK_EXIT_USAGE;
}

int alk_cmd_spec(int argc, char **argv)
{
    spec_run run = { .bounds = ALK_BOUNDS_GUARD };
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bounds") && i + 1 < argc) {
            if (alk_cli_parse_bounds(argv[++i], &run.bounds))
                return usage();
        } else if (!strcmp(argv[i], "-O")) {
            alk_cli_tier = ALK_TIER_OPTIMIZED;
        } else if (!strcmp(argv[i], "-v")) {
            run.verbose = true;
        } else if (!strcmp(argv[i], "--lines")) {
            alk_cli_always_lines = true;        /* the back end's path for modules with DWARF */
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            return usage();
        }
    }
    if (!path)
        return usage();
    uint8_t *text;
    size_t size;
    int error = alk_cli_read_file(path, &text, &size);
    if (error) {
        fprintf(stderr, "alkahest spec: %s: %s\n", path, strerror(error));
        return ALK_EXIT_USAGE;
    }
    char message[128];
    alk_json *root = alk_json_parse((const char *)text, size, message, sizeof message);
    free(text);
    const alk_json *commands = alk_json_member(root, "commands");
    if (!root || !commands || commands->kind != ALK_JSON_ARRAY) {
        fprintf(stderr, "alkahest spec: %s: %s\n", path, root ? "no commands" : message);
        alk_json_free(root);
        return ALK_EXIT_USAGE;
    }
    const char *slash = strrchr(path, '/');
    run.directory = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    const char *source = alk_json_string(root, "source_filename");
    run.script = source ? (strrchr(source, '/') ? strrchr(source, '/') + 1 : source) : path;
    if (!run.directory) {
        alk_json_free(root);
        return ALK_EXIT_USAGE;
    }

    alk_host_init();
    for (size_t i = 0; i < commands->count; i++) {
        const alk_json *command = &commands->items[i];
        const alk_json *line = alk_json_member(command, "line");
        const char *type = alk_json_string(command, "type");
        verdict v;
        outcome o = run_command(&run, command, &v);
        if (o == PASS)
            run.passed++;
        else if (o == FAIL)
            run.failed++;
        else
            run.skipped++;
        if (o == FAIL || run.verbose) {
            fflush(stdout);
            printf("%s:%s: %s: %s%s%s\n", run.script, line && line->text ? line->text : "?",
                   type ? type : "?", o == PASS ? "ok" : o == FAIL ? "FAIL" : "skipped",
                   v.reason[0] ? ": " : "", v.reason);
        }
    }
    printf("%u passed, %u failed, %u skipped\n", run.passed, run.failed, run.skipped);
    finish(&run);
    alk_json_free(root);
    return run.failed ? ALK_EXIT_INVALID : ALK_EXIT_OK;
}
