/* Prints "heartbeat N" every 20 ms, N rising, for as long as the appliance runs. */
#include "../include/athanor.h"

static char text[32] = "heartbeat ";

static int decimal(char *out, unsigned value)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    for (int i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

int main(void)
{
    for (unsigned beat = 1;; beat++) {
        int length = 10 + decimal(text + 10, beat);
        ath_log(text, length);
        ath_sleep(20 * 1000 * 1000);
    }
}
