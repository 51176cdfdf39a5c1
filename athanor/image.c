/*
 * Verifying an appliance image (docs/image-format.md) before anything in it is used:
 *
 *   1. the header's own fields are in bounds (they are signed too, but must be safe to read);
 *   2. the Ed25519 signature over header[0, 192) || tables, with the key built into the kernel;
 *   3. every blob's SHA-256 (module sections and files' contents), blobs in order inside the
 *      payload, and every byte between and after them zero, so that no byte of the image
 *      escapes verification;
 *   4. every table record points inside the image, every string it names is whole.
 * Only then does the loader read a record.
 */
#include "kernel.h"
#include "crypto/crypto.h"

#include "image_format.h"

#define HEADER_SIZE ATH_IMG_HEADER_RECORD_SIZE

static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t u64(const uint8_t *p) { return u32(p) | (uint64_t)u32(p + 4) << 32; }

/* A module's blob kinds: 0 its object's header and section table, else a section id. */
static const char *blob_names[ALK_SECTION_LIMIT] = {
    [0] = "object-header",
#define BLOB_NAME(name, id, text, size) [id] = text,
    ALK_OBJ_SECTIONS(BLOB_NAME)
#undef BLOB_NAME
};

static const char *blob_name(uint32_t kind)
{
    if (kind == ATH_BLOB_FILE)
        return "file";
    return kind < ATH_ARRAY_SIZE(blob_names) && blob_names[kind] ? blob_names[kind] : "unknown";
}

static bool fail(const char *what)
{
    ath_kprintf("[athanor] verify: %s\n", what);
    return false;
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void copy_name(char *dst, const uint8_t *src, size_t size)
{
    size_t i = 0;
    for (; i < size && src[i]; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
    dst[i] = 0;
}

void ath_image_module_at(const struct ath_image *image, uint32_t index, struct ath_image_module *m)
{
    const uint8_t *r = image->modules + (size_t)index * ATH_IMG_MODULE_RECORD_SIZE;
    copy_name(m->name, r + ATH_IMG_MODULE_NAME, ATH_IMAGE_NAME_MAX);
    m->kind = u32(r + ATH_IMG_MODULE_KIND);
    m->restart = u32(r + ATH_IMG_MODULE_RESTART);
    m->grants = u64(r + ATH_IMG_MODULE_GRANTS);
    m->max_memory = u64(r + ATH_IMG_MODULE_MAX_MEMORY);
    m->first_blob = u32(r + ATH_IMG_MODULE_FIRST_BLOB);
    m->blob_count = u32(r + ATH_IMG_MODULE_BLOB_COUNT);
    m->object_offset = u32(r + ATH_IMG_MODULE_OBJECT_OFFSET);
    m->object_size = u32(r + ATH_IMG_MODULE_OBJECT_SIZE);
    m->import_first = u32(r + ATH_IMG_MODULE_IMPORT_FIRST);
    m->import_count = u32(r + ATH_IMG_MODULE_IMPORT_COUNT);
    m->args_offset = u32(r + ATH_IMG_MODULE_ARGS_OFFSET);
    m->args_count = u32(r + ATH_IMG_MODULE_ARGS_COUNT);
    m->env_offset = u32(r + ATH_IMG_MODULE_ENV_OFFSET);
    m->env_count = u32(r + ATH_IMG_MODULE_ENV_COUNT);
    m->supervisor = u32(r + ATH_IMG_MODULE_SUPERVISOR);
    m->resource_first = u32(r + ATH_IMG_MODULE_RESOURCE_FIRST);
    m->resource_count = u32(r + ATH_IMG_MODULE_RESOURCE_COUNT);
    m->stack_size = u32(r + ATH_IMG_MODULE_STACK_SIZE);
}

void ath_image_resource_at(const struct ath_image *image, uint32_t index,
                           struct ath_image_resource *out)
{
    const uint8_t *r = image->resources + (size_t)index * ATH_IMG_RESOURCE_RECORD_SIZE;
    out->kind = u32(r + ATH_IMG_RESOURCE_KIND);
    out->flags = u32(r + ATH_IMG_RESOURCE_FLAGS);
    out->first = u64(r + ATH_IMG_RESOURCE_FIRST);
    out->last = u64(r + ATH_IMG_RESOURCE_LAST);
}

void ath_image_channel_at(const struct ath_image *image, uint32_t index,
                          struct ath_image_channel *out)
{
    const uint8_t *r = image->channels + (size_t)index * ATH_IMG_CHANNEL_RECORD_SIZE;
    copy_name(out->name, r + ATH_IMG_CHANNEL_NAME, ATH_IMAGE_NAME_MAX);
    out->sender = u32(r + ATH_IMG_CHANNEL_SENDER);
    out->receiver = u32(r + ATH_IMG_CHANNEL_RECEIVER);
    out->depth = u32(r + ATH_IMG_CHANNEL_DEPTH);
    out->message_size = u32(r + ATH_IMG_CHANNEL_MESSAGE_SIZE);
}

void ath_image_supervisor_at(const struct ath_image *image, uint32_t index,
                             struct ath_image_supervisor *out)
{
    const uint8_t *r = image->supervisors + (size_t)index * ATH_IMG_SUPERVISOR_RECORD_SIZE;
    copy_name(out->name, r + ATH_IMG_SUPERVISOR_NAME, ATH_IMAGE_NAME_MAX);
    out->parent = u32(r + ATH_IMG_SUPERVISOR_PARENT);
    out->strategy = u32(r + ATH_IMG_SUPERVISOR_STRATEGY);
    out->max_restarts = u32(r + ATH_IMG_SUPERVISOR_MAX_RESTARTS);
    out->on_exhausted = u32(r + ATH_IMG_SUPERVISOR_ON_EXHAUSTED);
    out->window_ns = u64(r + ATH_IMG_SUPERVISOR_WINDOW_NS);
    out->first_child = u32(r + ATH_IMG_SUPERVISOR_FIRST_CHILD);
    out->child_count = u32(r + ATH_IMG_SUPERVISOR_CHILD_COUNT);
}

uint32_t ath_image_child(const struct ath_image *image, uint32_t index)
{
    return u32(image->children + ATH_IMG_CHILD_RECORD_SIZE * (size_t)index + ATH_IMG_CHILD_CHILD);
}

uint32_t ath_image_import_id(const struct ath_image *image, uint32_t index)
{
    return u32(image->import_map + ATH_IMG_IMPORT_RECORD_SIZE * (size_t)index + ATH_IMG_IMPORT_ID);
}

/* String pool entry:  u32 length | bytes | NUL | zero padding to 4 */
const char *ath_image_string(const struct ath_image *image, uint32_t offset, uint32_t *next)
{
    uint32_t length = u32(image->strings + offset);
    *next = (uint32_t)ATH_ALIGN_UP((uint64_t)offset + 4 + length + 1, 4);
    return (const char *)image->strings + offset + 4;
}

void ath_image_file_at(const struct ath_image *image, uint32_t index, struct ath_image_file *out)
{
    const uint8_t *r = image->files + (size_t)index * ATH_IMG_FILE_RECORD_SIZE;
    const uint8_t *blob = image->blobs + (size_t)u32(r + ATH_IMG_FILE_BLOB) *
                          ATH_IMG_BLOB_RECORD_SIZE;
    uint32_t next;
    out->path = ath_image_string(image, u32(r + ATH_IMG_FILE_PATH), &next);
    out->data = image->bytes + u64(blob + ATH_IMG_BLOB_OFFSET);
    out->size = u64(blob + ATH_IMG_BLOB_SIZE);
}

/* `count` strings of the pool from `offset`, each inside it, NUL-terminated, without a NUL
 * within (so that a C string and its recorded length agree); the longest length in *longest. */
static bool strings_ok(const struct ath_image *image, uint32_t offset, uint32_t count,
                       uint32_t *longest)
{
    uint64_t at = offset;
    *longest = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (at + 4 > image->strings_size)
            return false;
        uint32_t length = u32(image->strings + at);
        if ((uint64_t)length + 5 > image->strings_size - at)
            return false;
        const uint8_t *bytes = image->strings + at + 4;
        if (bytes[length] != 0)
            return false;
        for (uint32_t k = 0; k < length; k++)
            if (bytes[k] == 0)
                return false;
        *longest = ATH_MAX(*longest, length);
        at = ATH_ALIGN_UP(at + 4 + length + 1, 4);
    }
    return true;
}

static bool check_signature(const uint8_t *b, uint64_t tables_size)
{
    size_t length = ATH_IMG_SIGNED_HEADER + (size_t)tables_size;
    uint8_t *message = ath_alloc(length);
    if (!message)
        return fail("out of memory for the signed message");
    memcpy(message, b, ATH_IMG_SIGNED_HEADER);
    memcpy(message + ATH_IMG_SIGNED_HEADER, b + HEADER_SIZE, (size_t)tables_size);
    bool ok = ath_ed25519_verify(ath_signing_pubkey, message, length,
                                 b + ATH_IMG_HEADER_SIGNATURE);
    ath_free(message);
    return ok;
}

bool ath_image_verify(const void *bytes, uint64_t size, struct ath_image *out)
{
    const uint8_t *b = bytes;
    char what[160];

    /* 1. The header, read defensively. */
    if (size < HEADER_SIZE)
        return fail("image shorter than its header");
    if (memcmp(b + ATH_IMG_HEADER_MAGIC, ATH_IMG_MAGIC, 8))
        return fail("not an Azoth image (bad magic)");
    if (u32(b + ATH_IMG_HEADER_VERSION) != ATH_IMG_VERSION ||
        u32(b + ATH_IMG_HEADER_HEADER_SIZE) != HEADER_SIZE)
        return fail("unsupported image format version");
    uint64_t image_size = u64(b + ATH_IMG_HEADER_IMAGE_SIZE);
    uint32_t module_count = u32(b + ATH_IMG_HEADER_MODULE_COUNT);
    uint32_t blob_count = u32(b + ATH_IMG_HEADER_BLOB_COUNT);
    uint32_t tables_offset = u32(b + ATH_IMG_HEADER_TABLES_OFFSET);
    uint32_t tables_size = u32(b + ATH_IMG_HEADER_TABLES_SIZE);
    uint32_t payload = u32(b + ATH_IMG_HEADER_PAYLOAD_OFFSET);
    uint32_t strings_offset = u32(b + ATH_IMG_HEADER_STRINGS_OFFSET);
    uint32_t import_count = u32(b + ATH_IMG_HEADER_IMPORT_COUNT);
    uint32_t resource_count = u32(b + ATH_IMG_HEADER_RESOURCE_COUNT);
    uint32_t channel_count = u32(b + ATH_IMG_HEADER_CHANNEL_COUNT);
    uint32_t supervisor_count = u32(b + ATH_IMG_HEADER_SUPERVISOR_COUNT);
    uint32_t children_count = u32(b + ATH_IMG_HEADER_CHILDREN_COUNT);
    uint32_t file_count = u32(b + ATH_IMG_HEADER_FILE_COUNT);
    if (image_size != size) {
        ath_snprintf(what, sizeof what, "image size %lu in the header, %lu loaded",
                     (unsigned long)image_size, (unsigned long)size);
        return fail(what);
    }
    if (tables_offset != HEADER_SIZE || (uint64_t)tables_offset + tables_size > payload ||
        payload > size || payload % ATH_IMG_PAGE)
        return fail("header: tables or payload out of bounds");
    /* modules | blobs | import map | pad to 8 | resources | channels | supervisors | children |
     * files */
    uint64_t maps = (uint64_t)module_count * ATH_IMG_MODULE_RECORD_SIZE +
                    (uint64_t)blob_count * ATH_IMG_BLOB_RECORD_SIZE;
    uint64_t after_imports = ATH_ALIGN_UP(maps + (uint64_t)ATH_IMG_IMPORT_RECORD_SIZE * import_count,
                                          ATH_IMG_TABLE_ALIGN);
    uint64_t fixed = after_imports + (uint64_t)resource_count * ATH_IMG_RESOURCE_RECORD_SIZE +
                     (uint64_t)channel_count * ATH_IMG_CHANNEL_RECORD_SIZE +
                     (uint64_t)supervisor_count * ATH_IMG_SUPERVISOR_RECORD_SIZE +
                     (uint64_t)children_count * ATH_IMG_CHILD_RECORD_SIZE +
                     (uint64_t)file_count * ATH_IMG_FILE_RECORD_SIZE;
    if (fixed > tables_size || strings_offset > tables_size || strings_offset < fixed)
        return fail("header: tables too small for their records");
    if (!all_zero(b + ATH_IMG_RESERVED_HEADER, ATH_IMG_SIGNED_HEADER - ATH_IMG_RESERVED_HEADER))
        return fail("header: reserved bytes are not zero");

    /* 2. The signature over header and tables. */
    if (!check_signature(b, tables_size))
        return fail("signature does not match (image tampered with, or signed with another key)");

    /* From here the header and tables are authentic; their contents are still checked. */
    out->bytes = b;
    out->size = size;
    out->flags = u32(b + ATH_IMG_HEADER_FLAGS);
    out->module_count = module_count;
    out->blob_count = blob_count;
    out->memory_mib = u32(b + ATH_IMG_HEADER_MEMORY_MIB);
    out->arch = u32(b + ATH_IMG_HEADER_ARCH);
    copy_name(out->name, b + ATH_IMG_HEADER_NAME, ATH_IMAGE_NAME_MAX);
    copy_name(out->version, b + ATH_IMG_HEADER_VERSION_STRING, sizeof out->version - 1);
    out->modules = b + tables_offset;
    out->blobs = out->modules + (size_t)module_count * ATH_IMG_MODULE_RECORD_SIZE;
    out->import_map = out->blobs + (size_t)blob_count * ATH_IMG_BLOB_RECORD_SIZE;
    out->import_map_count = import_count;
    out->resources = out->modules + after_imports;
    out->resource_count = resource_count;
    out->channels = out->resources + (size_t)resource_count * ATH_IMG_RESOURCE_RECORD_SIZE;
    out->channel_count = channel_count;
    out->supervisors = out->channels + (size_t)channel_count * ATH_IMG_CHANNEL_RECORD_SIZE;
    out->supervisor_count = supervisor_count;
    out->children = out->supervisors + (size_t)supervisor_count * ATH_IMG_SUPERVISOR_RECORD_SIZE;
    out->children_count = children_count;
    out->files = out->children + (size_t)children_count * ATH_IMG_CHILD_RECORD_SIZE;
    out->file_count = file_count;
    out->strings = b + tables_offset + strings_offset;
    out->strings_size = tables_size - strings_offset;

    /* 3. Blobs: in order, hashes match, nothing unsigned in between. */
    if (!all_zero(b + tables_offset + tables_size, payload - tables_offset - tables_size))
        return fail("non-zero bytes between the tables and the payload");
    uint64_t position = payload;
    for (uint32_t i = 0; i < blob_count; i++) {
        const uint8_t *r = out->blobs + (size_t)i * ATH_IMG_BLOB_RECORD_SIZE;
        uint32_t module = u32(r + ATH_IMG_BLOB_MODULE), kind = u32(r + ATH_IMG_BLOB_KIND);
        uint64_t offset = u64(r + ATH_IMG_BLOB_OFFSET), length = u64(r + ATH_IMG_BLOB_SIZE);
        /* a module's blob, or a file's (no module) */
        bool file = module == ATH_IMAGE_NO_MODULE;
        struct ath_image_module m = { .name = "?" };
        if (module < module_count)
            ath_image_module_at(out, module, &m);
        char owner[64];
        if (file)
            ath_snprintf(owner, sizeof owner, "file contents (blob %u)", i);
        else
            ath_snprintf(owner, sizeof owner, "module %s, blob %s", m.name, blob_name(kind));
        if ((file ? kind != ATH_BLOB_FILE : (module >= module_count || kind == ATH_BLOB_FILE)) ||
            offset < position || offset > size || length > size - offset) {
            ath_snprintf(what, sizeof what, "blob %u (%s) out of order or out of bounds", i, owner);
            return fail(what);
        }
        if (!all_zero(b + position, offset - position)) {
            ath_snprintf(what, sizeof what, "non-zero unsigned bytes before %s", owner);
            return fail(what);
        }
        uint8_t digest[ATH_SHA256_DIGEST_SIZE];
        ath_sha256(b + offset, (size_t)length, digest);
        if (memcmp(digest, r + ATH_IMG_BLOB_SHA256, sizeof digest)) {
            ath_snprintf(what, sizeof what, "%s: SHA-256 mismatch", owner);
            return fail(what);
        }
        position = offset + length;
    }
    if (!all_zero(b + position, size - position))
        return fail("non-zero unsigned bytes after the last blob");

    /* 4. Records point inside the image and its tables; every index names something. */
    if (supervisor_count == 0)
        return fail("no supervisor (the root is supervisor 0)");
    for (uint32_t i = 0; i < module_count; i++) {
        struct ath_image_module m;
        uint32_t longest;
        ath_image_module_at(out, i, &m);
        bool blobs_ok = (uint64_t)m.first_blob + m.blob_count <= blob_count;
        for (uint32_t k = 0; blobs_ok && k < m.blob_count; k++)
            blobs_ok = u32(out->blobs + (size_t)(m.first_blob + k) * ATH_IMG_BLOB_RECORD_SIZE +
                           ATH_IMG_BLOB_MODULE) == i;
        if (!blobs_ok || !strings_ok(out, m.args_offset, m.args_count, &longest) ||
            !strings_ok(out, m.env_offset, m.env_count, &longest)) {
            ath_snprintf(what, sizeof what, "module %s: blobs, args or env out of bounds", m.name);
            return fail(what);
        }
        if (m.object_offset % ATH_IMG_PAGE || m.object_offset < payload || m.object_size > size ||
            m.object_offset > size - m.object_size ||
            (uint64_t)m.first_blob + m.blob_count > blob_count ||
            (uint64_t)m.import_first + m.import_count > out->import_map_count ||
            (uint64_t)m.resource_first + m.resource_count > resource_count ||
            m.args_offset > out->strings_size || m.env_offset > out->strings_size ||
            m.kind > ATH_MODULE_APP || m.restart > ATH_RESTART_ALWAYS ||
            m.max_memory > ATH_MODULE_MEMORY_MAX || m.supervisor >= supervisor_count ||
            m.stack_size % ATH_PAGE_SIZE || m.stack_size < ATH_STACK_MIN || m.stack_size > ATH_STACK_MAX) {
            ath_snprintf(what, sizeof what, "module %s: record out of bounds", m.name);
            return fail(what);
        }
    }
    for (uint32_t i = 0; i < channel_count; i++) {
        struct ath_image_channel c;
        ath_image_channel_at(out, i, &c);
        if (c.sender >= module_count || c.receiver >= module_count || c.depth == 0 ||
            c.depth > ATH_CHANNEL_DEPTH_MAX || c.message_size == 0 ||
            c.message_size > ATH_CHANNEL_MESSAGE_MAX ||
            (uint64_t)c.depth * c.message_size > ATH_CHANNEL_BYTES_MAX) {
            ath_snprintf(what, sizeof what, "channel %s: record out of bounds", c.name);
            return fail(what);
        }
    }
    for (uint32_t i = 0; i < supervisor_count; i++) {
        struct ath_image_supervisor s;
        ath_image_supervisor_at(out, i, &s);
        bool root_ok = i == 0 ? s.parent == ATH_IMAGE_NO_PARENT : s.parent < supervisor_count;
        if (!root_ok || s.parent == i || s.strategy > ATH_REST_FOR_ONE ||
            s.on_exhausted > ATH_EXHAUSTED_FAIL || s.window_ns == 0 ||
            (uint64_t)s.first_child + s.child_count > children_count) {
            ath_snprintf(what, sizeof what, "supervisor %s: record out of bounds", s.name);
            return fail(what);
        }
    }
    for (uint32_t i = 0; i < children_count; i++) {
        uint32_t c = ath_image_child(out, i);
        uint32_t index = c & ~ATH_IMAGE_CHILD_SUPERVISOR;
        if (index >= ((c & ATH_IMAGE_CHILD_SUPERVISOR) ? supervisor_count : module_count))
            return fail("supervision tree: a child that does not exist");
    }
    for (uint32_t i = 0; i < file_count; i++) {
        const uint8_t *r = out->files + (size_t)i * ATH_IMG_FILE_RECORD_SIZE;
        uint32_t path = u32(r + ATH_IMG_FILE_PATH), blob = u32(r + ATH_IMG_FILE_BLOB), length;
        if (blob >= blob_count ||
            u32(out->blobs + (size_t)blob * ATH_IMG_BLOB_RECORD_SIZE + ATH_IMG_BLOB_MODULE) !=
                ATH_IMAGE_NO_MODULE ||
            !strings_ok(out, path, 1, &length) || length < 2 || length > ATH_FILE_PATH_MAX ||
            out->strings[path + 4] != '/') {
            ath_snprintf(what, sizeof what, "file %u: record out of bounds", i);
            return fail(what);
        }
    }
    return true;
}
