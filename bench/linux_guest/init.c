/*
 * The init of the Linux guest that appliances/httpd is measured against (bench/httpd.py,
 * docs/performance.md "HTTP: Azoth against a Linux guest"). A static binary, PID 1 of a tiny
 * initramfs that holds it, Debian's virtio modules, the natively built httpd and its files:
 *
 *   1. loads the modules listed in /modules (one file name a line, in dependency order),
 *   2. waits for eth0, gives it the address the kernel's command line names
 *      (azoth_address=A.B.C.D/PREFIX, which the kernel passes to init as an environment
 *      variable) and brings it and lo up,
 *   3. becomes httpd: /httpd --root /www --port 80 --quiet.
 *
 * Nothing else runs: no shell, no udev, no DHCP client — the least a Linux guest needs to
 * serve, so that the comparison is with Linux's kernel and not with a distribution.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void say(const char *what)
{
    printf("init: %s\n", what);
    fflush(stdout);
}

static void load_modules(void)
{
    FILE *list = fopen("/modules", "r");
    char name[256];
    if (!list) {
        say("no /modules");
        return;
    }
    while (fgets(name, sizeof name, list)) {
        name[strcspn(name, "\n")] = 0;
        if (!name[0])
            continue;
        char path[300];
        snprintf(path, sizeof path, "/lib/%s", name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0)
            printf("init: cannot load %s (%s)\n", name, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    fclose(list);
}

static int set_flags_up(int s, const char *name)
{
    struct ifreq request = { 0 };
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(s, SIOCGIFFLAGS, &request) != 0)
        return -1;
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(s, SIOCSIFFLAGS, &request);
}

static int set_address(int s, const char *name, unsigned long request_code, in_addr_t value)
{
    struct ifreq request = { 0 };
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    struct sockaddr_in *in = (struct sockaddr_in *)&request.ifr_addr;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = value;
    return ioctl(s, request_code, &request);
}

int main(void)
{
    say("loading virtio-net");
    load_modules();
    const char *text = getenv("azoth_address");
    char address[32] = "10.0.2.15/24";
    if (text)
        snprintf(address, sizeof address, "%s", text);
    char *slash = strchr(address, '/');
    int prefix = slash ? atoi(slash + 1) : 24;
    if (slash)
        *slash = 0;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    set_flags_up(s, "lo");
    for (int i = 0; i < 500 && if_nametoindex("eth0") == 0; i++)
        usleep(10000);
    in_addr_t mask = prefix ? htonl(~0u << (32 - prefix)) : 0;
    if (set_address(s, "eth0", SIOCSIFADDR, inet_addr(address)) ||
        set_address(s, "eth0", SIOCSIFNETMASK, mask) || set_flags_up(s, "eth0")) {
        printf("init: cannot configure eth0 (%s)\n", strerror(errno));
        fflush(stdout);
    } else {
        printf("init: eth0 %s/%d up\n", address, prefix);
        fflush(stdout);
    }
    close(s);
    char *argv[] = { "/httpd", "--root", "/www", "--port", "80", "--quiet", NULL };
    execv("/httpd", argv);
    say("cannot run /httpd");
    for (;;)
        pause();
}
