/*
 * lwIP's compiler and platform port for the TCP/IP stack module (wasm32-wasi, clang; also the
 * host build of tests/fuzz). lwIP's own defaults cover the types (stdint.h, inttypes.h) and the
 * packing; what is ours: the byte order, where diagnostics go, what a failed assertion does (a
 * trap: the stack's supervisor restarts it, and the fuzzer reports it), and randomness.
 */
#ifndef NET_ARCH_CC_H
#define NET_ARCH_CC_H

#include <stdio.h>
#include <stdlib.h>

#ifndef BYTE_ORDER                  /* a host build has endian.h's */
#define BYTE_ORDER LITTLE_ENDIAN
#endif
#define LWIP_NO_UNISTD_H 1

#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) \
    do { printf("[net] lwIP assertion failed: %s (%s:%d)\n", x, __FILE__, __LINE__); \
         fflush(stdout); abort(); } while (0)

/* Initial sequence numbers, DHCP transaction ids, DNS ids and ports: the kernel's random
 * bytes (net.c). */
unsigned int net_random(void);
#define LWIP_RAND() ((u32_t)net_random())

#endif
