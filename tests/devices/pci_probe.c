/*
 * Tests: what a module granted PCI functions sees of them (tests/test_pci.py). For each of its
 * PROBE_GRANTS pci grants it logs what athanor.pci_open returned, the function's IDs and class
 * as configuration space shows them, whether the kernel let it master the bus, and whether
 * MSI-X is on. With PROBE_DMA it maps a DMA region first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../appliances/include/athanor.h"

#ifndef PROBE_GRANTS
#define PROBE_GRANTS 1
#endif

static void say(const char *format, ...)
{
    char line[200];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    ath_log(line, n < (int)sizeof line ? n : (int)sizeof line - 1);
}

static uint32_t config(int32_t h, int offset, int width)
{
    return (uint32_t)ath_pci_config_read(h, offset, width);
}

#ifdef PROBE_DMA
static unsigned char area[65536] __attribute__((aligned(4096)));
#endif

int main(void)
{
#ifdef PROBE_DMA
    say("probe: dma_map %d", ath_dma_map(area, sizeof area));
#endif
    for (int g = 0; g < PROBE_GRANTS; g++) {
        int32_t h = ath_pci_open(g);
        if (h < 0) {
            say("probe: grant %d: pci_open %d", g, h);
            continue;
        }
        uint32_t id = config(h, 0, 4), class = config(h, 8, 4) >> 8, command = config(h, 4, 2);
        const char *msix = "none";
        if (config(h, 6, 2) & 0x10) {
            for (int at = config(h, 0x34, 1) & 0xfc, hops = 0; at >= 0x40 && hops < 48; hops++) {
                if (config(h, at, 1) == 0x11)
                    msix = config(h, at + 2, 2) & 0x8000 ? "on" : "off";
                at = config(h, at + 1, 1) & 0xfc;
            }
        }
        say("probe: grant %d: %04x:%04x class %06x master %u msi-x %s", g, id & 0xffff, id >> 16,
            class, (command >> 2) & 1, msix);
    }
    return 0;
}
