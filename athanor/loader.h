/*
 * The appliance loader: verify the signed image (image.c), instantiate its modules with the
 * Alkahest runtime core (wasm.c), link the kernel ABI (abi.c), run them (appliance.c). A small
 * heap (heap.c) serves the runtime's allocations.
 */
#ifndef ATH_LOADER_H
#define ATH_LOADER_H

#include "kernel.h"
#include "alkahest_runtime.h"

/* ---- heap.c ---------------------------------------------------------------------------------- */
void *ath_alloc(size_t size);          /* 16-byte aligned; NULL when out of memory */
void ath_free(void *ptr);              /* NULL is fine */

/* ---- image.c: the appliance image (docs/image-format.md) -------------------------------------- */
#define ATH_IMAGE_NAME_MAX 32

struct ath_image {
    const uint8_t *bytes;
    uint64_t size;
    char name[ATH_IMAGE_NAME_MAX + 1];
    char version[17];
    uint32_t flags;                    /* bit 0: guard bounds */
    uint32_t module_count, blob_count;
    uint32_t memory_mib;
    const uint8_t *modules;            /* module records, 128 bytes each */
    const uint8_t *blobs;              /* blob records, 64 bytes each */
    const uint8_t *import_map;         /* u32 kernel import id per function import */
    uint32_t import_map_count;
    const uint8_t *strings;
    uint32_t strings_size;
};

enum ath_module_kind { ATH_MODULE_DRIVER = 0, ATH_MODULE_APP = 1 };

struct ath_image_module {
    char name[ATH_IMAGE_NAME_MAX + 1];
    uint32_t kind, restart;
    uint64_t grants, max_memory;
    uint32_t first_blob, blob_count;
    uint64_t object_offset, object_size;
    uint32_t import_first, import_count;
    uint32_t args_offset, args_count, env_offset, env_count;
};

/* Verifies everything (header, signature, every blob's hash, zero padding, table bounds)
 * before anything is used. On failure prints "[athanor] verify: ..." and returns false. */
bool ath_image_verify(const void *bytes, uint64_t size, struct ath_image *out);
void ath_image_module_at(const struct ath_image *image, uint32_t index,
                         struct ath_image_module *out);
uint32_t ath_image_import_id(const struct ath_image *image, uint32_t index);

/* ---- abi.c: the kernel functions modules import ----------------------------------------------- */
struct ath_abi_function {
    const char *module, *field;
    const void *code;
    const char *params, *results;      /* type letters as in object signatures */
};
/* The kernel function with that id, or NULL (docs/kernel-abi.md, manifest/capabilities.toml). */
const struct ath_abi_function *ath_abi_function(uint32_t id);

/* ---- wasm.c: the runtime core's platform in the kernel ------------------------------------------ */
extern const alk_platform ath_wasm_platform;
/* Runs fn(arg) on a fresh stack of `size` bytes (plus a guard page below), returning its
 * result; the stack is released afterwards. */
uint32_t ath_run_on_stack(size_t size, uint32_t (*fn)(void *arg), void *arg, uint64_t *limit_out);
/* Calls an instance's function; returns 0 or the trap code. */
uint32_t ath_wasm_invoke(alk_instance *instance, uint32_t function, const uint64_t *args,
                         uint64_t *results);
void ath_wasm_install_fault_hook(void);
const char *ath_trap_name(uint32_t code);

#endif
