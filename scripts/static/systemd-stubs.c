/* For the fully static build only. Debian's libpcap.a is built with D-Bus capture support, so it pulls in
 * libdbus-1.a, which calls two libsystemd functions for socket activation — and Debian ships no libsystemd.a.
 * takeover never captures on D-Bus, so these stubs answer as libsystemd does in a process systemd did not
 * start with sockets: no passed descriptors, and "not that kind of socket". */
int sd_listen_fds(int unset_environment) {
    (void)unset_environment;
    return 0;
}

int sd_is_socket(int fd, int family, int type, int listening) {
    (void)fd;
    (void)family;
    (void)type;
    (void)listening;
    return 0;
}
