#include "CTakeoverBPF.h"
#include <sys/ioctl.h>

int takeover_ioctl_pointer(int fd, unsigned long request, void *argument) {
    return ioctl(fd, request, argument);
}

const char *takeover_cbpf_libbpf_version(void) {
    return libbpf_version_string();
}
