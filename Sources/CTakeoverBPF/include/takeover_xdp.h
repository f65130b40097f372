#ifndef TAKEOVER_XDP_H
#define TAKEOVER_XDP_H
// The contract between the XDP program (bpf/takeover_xdp.bpf.c) and its Swift loader
// (Sources/TakeoverLinux/XDP). The ONLY copy: both sides include this file, so a layout change is one edit
// and a rebuild (bpf/build), never two definitions to keep in sync.
//
// Byte order: every address in a map is stored as it appears on the wire (network byte order), so the
// program compares packet bytes against map bytes without swapping. Counters are host-order integers.
#include <linux/types.h>

/// The program's name as the kernel reports it (bpf_prog_info.name); the loader uses it to recognise a program
/// left attached by a crashed run. At most 15 characters (BPF_OBJ_NAME_LEN - 1).
#define TAKEOVER_XDP_PROGRAM_NAME "takeover_xdp"

/// Map names (the C variable names in bpf/takeover_xdp_maps.h), at most 15 characters each.
#define TAKEOVER_XDP_MAP_CONFIG   "takeover_config"
#define TAKEOVER_XDP_MAP_MODE     "takeover_mode"
#define TAKEOVER_XDP_MAP_IPV4     "takeover_ipv4"
#define TAKEOVER_XDP_MAP_IPV6     "takeover_ipv6"
#define TAKEOVER_XDP_MAP_SOCKETS  "takeover_xsks"
#define TAKEOVER_XDP_MAP_COUNTERS "takeover_count"

/// Capacity of the watched-address maps and of the AF_XDP socket map (indexed by RX queue).
#define TAKEOVER_XDP_MAX_WATCHED 64
#define TAKEOVER_XDP_MAX_QUEUES 256

/// What the program does; the single value in the mode map, flipped by userspace without reloading.
enum takeover_xdp_mode {
    /// Pass every frame to the stack untouched.
    TAKEOVER_XDP_MODE_OFF = 0,
    /// Frames the local stack would not accept anyway that involve the peer's MAC — destination is the peer,
    /// or source is the peer and the destination is neither us nor a group address — go to the AF_XDP socket.
    /// Everything else (including the peer's heartbeats to us and its broadcasts) passes.
    TAKEOVER_XDP_MODE_MONITOR = 1,
    /// Frames addressed to the peer's MAC get our MAC as destination and pass to the stack; ARP requests and
    /// IPv6 neighbour solicitations for a watched address go to the AF_XDP socket, where the responder answers.
    TAKEOVER_XDP_MODE_TAKEOVER = 2,
};

/// One slot per outcome; each frame increments exactly one. Per-CPU, so the loader sums across CPUs.
enum takeover_xdp_counter {
    /// Mode off (or an unknown mode value): passed untouched.
    TAKEOVER_XDP_COUNT_PASS_OFF = 0,
    /// Not selected by the current mode: passed untouched.
    TAKEOVER_XDP_COUNT_PASS_UNRELATED = 1,
    /// Too short for the headers the decision needs (Ethernet, VLAN tags, ARP, IPv6, ICMPv6): passed
    /// untouched, never redirected; the kernel stack judges it.
    TAKEOVER_XDP_COUNT_PASS_MALFORMED = 2,
    /// Monitor: redirected to the AF_XDP socket.
    TAKEOVER_XDP_COUNT_MONITOR_REDIRECT = 3,
    /// Monitor: selected, but no AF_XDP socket bound on this RX queue, so passed.
    TAKEOVER_XDP_COUNT_MONITOR_NO_SOCKET = 4,
    /// Takeover: destination rewritten from the peer's MAC to ours, passed to the stack.
    TAKEOVER_XDP_COUNT_TAKEOVER_REWRITE = 5,
    /// Takeover: ARP request / neighbour solicitation for a watched address redirected to the AF_XDP socket.
    TAKEOVER_XDP_COUNT_NEIGHBOR_REDIRECT = 6,
    /// Takeover: as above, but no AF_XDP socket bound on this RX queue, so passed.
    TAKEOVER_XDP_COUNT_NEIGHBOR_NO_SOCKET = 7,
    TAKEOVER_XDP_COUNTER_SLOTS = 8,
};

/// Value of the single entry (key 0) of the config map. MACs in wire order.
struct takeover_xdp_config {
    __u8 own_mac[6];
    __u8 peer_mac[6];
};

/// Key of the IPv4 watch map is a __u32 holding the address in network byte order (the packet's 4 bytes).
/// Key of the IPv6 watch map: the 16 address bytes in wire order.
struct takeover_xdp_ipv6_key {
    __u8 bytes[16];
};

/// Value of one counter slot on one CPU.
struct takeover_xdp_counter_value {
    __u64 packets;
    __u64 bytes;
};

#endif
