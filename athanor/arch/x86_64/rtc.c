/*
 * The wall clock: the PC's CMOS real-time clock (MC146818 and its descendants), read once at
 * boot. Registers are read through index port 0x70 (bit 7 kept clear: NMIs stay enabled) and
 * data port 0x71; a read is repeated until two in a row agree, so that an update in between
 * (once a second) cannot tear it. QEMU keeps the RTC in UTC (its default -rtc base=utc).
 *
 *   0x00 seconds  0x02 minutes  0x04 hours (bit 7: PM in 12-hour mode)
 *   0x07 day      0x08 month    0x09 year (two digits)   0x32 century (where present)
 *   0x0a status A: bit 7 update in progress
 *   0x0b status B: bit 1 24-hour mode, bit 2 binary (else BCD)
 */
#include "kernel.h"
#include "x86.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define STATUS_A_UPDATING 0x80
#define STATUS_B_24_HOUR 0x02
#define STATUS_B_BINARY 0x04
#define TRIES 8

enum { SECOND, MINUTE, HOUR, DAY, MONTH, YEAR, CENTURY, FIELDS };
static const uint8_t registers[FIELDS] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };

static uint8_t cmos(uint8_t index)
{
    x86_outb(CMOS_INDEX, index);
    return x86_inb(CMOS_DATA);
}

static void read_fields(uint8_t out[FIELDS])
{
    for (int spin = 0; spin < 100000 && (cmos(0x0a) & STATUS_A_UPDATING); spin++)
        x86_pause();
    for (int i = 0; i < FIELDS; i++)
        out[i] = cmos(registers[i]);
}

static unsigned from_bcd(uint8_t v) { return (v >> 4) * 10u + (v & 0x0f); }
static bool leap(unsigned year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

uint64_t ath_arch_wall_clock(void)
{
    uint8_t a[FIELDS], b[FIELDS];
    read_fields(a);
    int tries = 0;
    do {
        for (int i = 0; i < FIELDS; i++)
            b[i] = a[i];
        read_fields(a);
    } while (memcmp(a, b, FIELDS) && ++tries < TRIES);
    if (tries == TRIES || a[MONTH] == 0xff)
        return 0;                       /* no RTC answers, or it never holds still */
    uint8_t status = cmos(0x0b);
    bool pm = !(status & STATUS_B_24_HOUR) && (a[HOUR] & 0x80);
    a[HOUR] &= 0x7f;
    unsigned v[FIELDS];
    for (int i = 0; i < FIELDS; i++)
        v[i] = (status & STATUS_B_BINARY) ? a[i] : from_bcd(a[i]);
    if (!(status & STATUS_B_24_HOUR))
        v[HOUR] = v[HOUR] % 12 + (pm ? 12 : 0);
    unsigned year = (v[CENTURY] >= 19 && v[CENTURY] <= 99 ? v[CENTURY] * 100 : 2000) + v[YEAR];
    if (v[SECOND] > 59 || v[MINUTE] > 59 || v[HOUR] > 23 || v[DAY] < 1 || v[DAY] > 31 ||
        v[MONTH] < 1 || v[MONTH] > 12 || year < 1970)
        return 0;

    static const uint16_t days_before_month[12] = {
        0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334,
    };
    uint64_t days = 0;
    for (unsigned y = 1970; y < year; y++)
        days += leap(y) ? 366 : 365;
    days += days_before_month[v[MONTH] - 1] + (v[MONTH] > 2 && leap(year)) + v[DAY] - 1;
    return ((days * 24 + v[HOUR]) * 60 + v[MINUTE]) * 60 + v[SECOND];
}
