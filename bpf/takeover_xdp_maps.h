#ifndef TAKEOVER_XDP_MAPS_H
#define TAKEOVER_XDP_MAPS_H
// Every map of takeover_xdp, in one place. Userspace finds them by name (TAKEOVER_XDP_MAP_* in
// takeover_xdp.h) and fills them after load; the program only reads configuration and only writes counters.
//
//   map              type            key                              value                               writer
//   takeover_config  ARRAY[1]        __u32 0                          struct takeover_xdp_config          userspace
//   takeover_mode    ARRAY[1]        __u32 0                          __u32 enum takeover_xdp_mode        userspace
//   takeover_ipv4    HASH            __u32 IPv4, network order        __u8 (1 = watched)                  userspace
//   takeover_ipv6    HASH            struct takeover_xdp_ipv6_key     __u8 (1 = watched)                  userspace
//   takeover_xsks    XSKMAP          __u32 RX queue index             AF_XDP socket fd                    userspace
//   takeover_count   PERCPU_ARRAY    __u32 enum takeover_xdp_counter  struct takeover_xdp_counter_value   program
//
// Mode lives apart from the rest of the config so a flip is one aligned 4-byte store the program reads
// whole: no torn read of a half-written struct, no reload.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "takeover_xdp.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct takeover_xdp_config);
} takeover_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} takeover_mode SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TAKEOVER_XDP_MAX_WATCHED);
    __type(key, __u32);
    __type(value, __u8);
} takeover_ipv4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TAKEOVER_XDP_MAX_WATCHED);
    __type(key, struct takeover_xdp_ipv6_key);
    __type(value, __u8);
} takeover_ipv6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, TAKEOVER_XDP_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} takeover_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TAKEOVER_XDP_COUNTER_SLOTS);
    __type(key, __u32);
    __type(value, struct takeover_xdp_counter_value);
} takeover_count SEC(".maps");

#endif
