#ifndef TAKEOVER_CBPF_H
#define TAKEOVER_CBPF_H
// C shim for the kernel side of takeover: XDP/AF_XDP (libbpf, libxdp) and the socket options
// (PACKET_ADD_MEMBERSHIP) that Glibc's Swift overlay does not spell out.
// Not linux/tcp.h: its struct tcphdr clashes with Glibc's netinet/tcp.h in any Swift file importing both;
// Glibc's netinet/tcp.h already has TCP_REPAIR and its friends.
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <xdp/xsk.h>
#include <sys/timerfd.h>  // not in Glibc's Swift overlay: the control loop's periodic timer
#include <sys/eventfd.h>  // not in Glibc's Swift overlay: wakes the control loop for commands
#include "takeover_xdp.h"        // shared with bpf/takeover_xdp.bpf.c
#include "takeover_xdp_object.h" // the embedded, compiled XDP program

/// ioctl(2) with a pointer argument: Swift cannot call the variadic ioctl directly.
int takeover_ioctl_pointer(int fd, unsigned long request, void *argument);

/// Version of the shim, so a test can prove the C target links (libbpf and libxdp resolved).
const char *takeover_cbpf_libbpf_version(void);

#endif
