/*
 * Echo: every line typed on the serial console comes back as "echo: LINE"; the line "quit"
 * ends the app, and so the appliance, with status 0. It talks to the console driver (appliances/drivers/
 * serial.c) over two channels and has no grant of its own.
 */
#include <string.h>

#include "../include/athanor.h"

static char line[256];
static char reply[300];

static void say(int32_t out, const char *text, int length)
{
    ath_channel_send(out, text, length, 0);
}

int main(void)
{
    int32_t in = ath_channel_open("console.in", 10);
    int32_t out = ath_channel_open("console.out", 11);
    if (in < 0 || out < 0)
        __builtin_trap();
    const char *hello = "[echo] type a line; 'quit' ends\n";
    say(out, hello, (int)strlen(hello));
    for (;;) {
        int32_t n = ath_channel_recv(in, line, sizeof line, 0);
        if (n < 0)
            __builtin_trap();
        if (n == 4 && !memcmp(line, "quit", 4))
            return 0;   /* not ath_exit: the appliance ends once the driver has written
                           everything we sent it (drivers run until they block) */
        memcpy(reply, "echo: ", 6);
        memcpy(reply + 6, line, (size_t)n);
        reply[6 + n] = '\n';
        say(out, reply, n + 7);
    }
}
