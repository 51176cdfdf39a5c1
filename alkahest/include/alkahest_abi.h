/*
 * The instance ABI as constants: the one definition that the code generator, the hosted runtime
 * and the Athanor kernel share. docs/abi.md explains each; change them together.
 */
#ifndef ALKAHEST_ABI_H
#define ALKAHEST_ABI_H

/* Instance context (vmctx) header. The variable parts follow at offsets the object gives. */
#define ALK_VMCTX_MEMORY_BASE   0x00
#define ALK_VMCTX_MEMORY_SIZE   0x08
#define ALK_VMCTX_STACK_LIMIT   0x10
#define ALK_VMCTX_TRAP_HANDLER  0x18
#define ALK_VMCTX_BUILTINS      0x20
#define ALK_VMCTX_EMBEDDER      0x28
#define ALK_VMCTX_HEADER_SIZE   0x40

/* Function-reference record: what a funcref points to, one per function in the vmctx. */
#define ALK_FUNCREF_CODE        0x00
#define ALK_FUNCREF_VMCTX       0x08
#define ALK_FUNCREF_TYPE_ID     0x10
#define ALK_FUNCREF_SIZE        0x20

/* Table record (the embedder's): entries, current size, maximum. */
#define ALK_TABLE_ENTRIES       0x00
#define ALK_TABLE_SIZE          0x08
#define ALK_TABLE_MAX           0x0c

#define ALK_GLOBAL_SLOT_SIZE    16

/* Stack the embedder keeps free below stack_limit for host functions called from Wasm. */
#define ALK_STACK_RESERVE       (16 * 1024)

/* Guard mode: bytes of address space reserved per linear memory (4 GiB of index, 4 GiB of
 * offset, and room for the widest access). */
#define ALK_GUARD_RESERVATION   ((8ull << 30) + (64u << 10))

/* Builtins: indices into vmctx->builtins. */
#define ALK_BUILTINS(X) \
    X(MEMORY_GROW, 0)  \
    X(MEMORY_FILL, 1)  \
    X(MEMORY_COPY, 2)  \
    X(MEMORY_INIT, 3)  \
    X(DATA_DROP, 4)    \
    X(TABLE_GROW, 5)   \
    X(TABLE_FILL, 6)   \
    X(TABLE_COPY, 7)   \
    X(TABLE_INIT, 8)   \
    X(ELEM_DROP, 9)

enum alk_builtin {
#define ALK_BUILTIN_ENUM(name, index) ALK_BUILTIN_##name = index,
    ALK_BUILTINS(ALK_BUILTIN_ENUM)
#undef ALK_BUILTIN_ENUM
    ALK_BUILTIN_COUNT
};

/* Trap codes passed to vmctx->trap_handler (docs/abi.md has the spec's message for each). */
#define ALK_TRAPS(X) \
    X(UNREACHABLE, 1, "unreachable") \
    X(MEMORY_OUT_OF_BOUNDS, 2, "out of bounds memory access") \
    X(UNDEFINED_ELEMENT, 3, "undefined element") \
    X(UNINITIALIZED_ELEMENT, 4, "uninitialized element") \
    X(SIGNATURE_MISMATCH, 5, "indirect call type mismatch") \
    X(DIVIDE_BY_ZERO, 6, "integer divide by zero") \
    X(INTEGER_OVERFLOW, 7, "integer overflow") \
    X(INVALID_CONVERSION, 8, "invalid conversion to integer") \
    X(STACK_EXHAUSTED, 9, "call stack exhausted") \
    X(TABLE_OUT_OF_BOUNDS, 10, "out of bounds table access") \
    X(EXIT, 11, "exit")

enum alk_trap {
#define ALK_TRAP_ENUM(name, code, text) ALK_TRAP_##name = code,
    ALK_TRAPS(ALK_TRAP_ENUM)
#undef ALK_TRAP_ENUM
};

#endif
