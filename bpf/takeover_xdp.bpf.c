// SPDX-License-Identifier: GPL-2.0
// takeover_xdp: the one XDP entry program of takeover. See takeover_xdp.h (shared with Swift) for the modes
// and counters, takeover_xdp_maps.h for the maps, takeover_parse.h for the header parsers.
//
//   off       everything passes
//   monitor   peer-MAC frames the stack would drop as "other host" ──► AF_XDP socket (session tracker)
//   takeover  dst == peer MAC ──► dst := our MAC, pass to the stack
//             ARP request / neighbour solicitation for a watched address ──► AF_XDP socket (responder)
//
// Not yet: frames of tracked TCP sessions to the AF_XDP socket in takeover mode. That needs a session map
// written by the tracker (5-tuple key) and an IPv4/IPv6 + TCP parse here; until it exists those frames are
// rewritten and passed like any other frame addressed to the peer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "takeover_xdp.h"
#include "takeover_xdp_maps.h"
#include "takeover_parse.h"

char LICENSE[] SEC("license") = "GPL";

/// Counts the frame in its outcome slot and returns the verdict unchanged.
static __always_inline int record(struct xdp_md *ctx, __u32 slot, int verdict)
{
    struct takeover_xdp_counter_value *counter = bpf_map_lookup_elem(&takeover_count, &slot);
    if (counter) {
        counter->packets += 1; /* per-CPU slot: no other writer, no atomics needed */
        counter->bytes += ctx->data_end - ctx->data;
    }
    return verdict;
}

/// Redirects to the AF_XDP socket bound to this RX queue, or passes when none is bound (the lower bits of
/// bpf_redirect_map's flags are its result when the key has no entry). Counts which of the two happened.
static __always_inline int to_socket(struct xdp_md *ctx, __u32 redirected_slot, __u32 no_socket_slot)
{
    int verdict = bpf_redirect_map(&takeover_xsks, ctx->rx_queue_index, XDP_PASS);
    return record(ctx, verdict == XDP_REDIRECT ? redirected_slot : no_socket_slot, verdict);
}

static __always_inline int monitor(struct xdp_md *ctx, const struct ethhdr *eth,
                                   const struct takeover_xdp_config *config)
{
    int to_peer = mac_equal(eth->h_dest, config->peer_mac);
    /* The peer's own traffic to us (heartbeats) and its broadcasts belong to our stack: leave them. */
    int from_peer_to_other_host = mac_equal(eth->h_source, config->peer_mac) && !mac_is_group(eth->h_dest) &&
                                  !mac_equal(eth->h_dest, config->own_mac);
    if (to_peer || from_peer_to_other_host)
        return to_socket(ctx, TAKEOVER_XDP_COUNT_MONITOR_REDIRECT, TAKEOVER_XDP_COUNT_MONITOR_NO_SOCKET);
    return record(ctx, TAKEOVER_XDP_COUNT_PASS_UNRELATED, XDP_PASS);
}

enum neighbor_match { NEIGHBOR_NO = 0, NEIGHBOR_WATCHED = 1, NEIGHBOR_TRUNCATED = -1 };

/// Whether the L3 payload at c is an ARP request or neighbour solicitation for a watched address.
static __always_inline enum neighbor_match neighbor_request_for_watched(struct cursor *c, __be16 proto)
{
    if (proto == bpf_htons(ETH_P_ARP)) {
        struct arp_ipv4 *arp;
        if (parse_arp_ipv4(c, &arp) < 0)
            return c->pos + sizeof(*arp) > c->end ? NEIGHBOR_TRUNCATED : NEIGHBOR_NO;
        if (arp->operation != bpf_htons(ARPOP_REQUEST))
            return NEIGHBOR_NO;
        __u32 target;
        __builtin_memcpy(&target, arp->target_ip, sizeof(target)); /* stays in network byte order */
        return bpf_map_lookup_elem(&takeover_ipv4, &target) ? NEIGHBOR_WATCHED : NEIGHBOR_NO;
    }
    if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip;
        if (parse_ipv6(c, &ip) < 0)
            return c->pos + sizeof(*ip) > c->end ? NEIGHBOR_TRUNCATED : NEIGHBOR_NO;
        if (ip->nexthdr != IPPROTO_ICMPV6)
            return NEIGHBOR_NO;
        struct neighbor_solicitation *ns;
        int parsed = parse_neighbor_solicitation(c, &ns);
        if (parsed < 0)
            return NEIGHBOR_TRUNCATED;
        if (parsed == 0)
            return NEIGHBOR_NO;
        struct takeover_xdp_ipv6_key key;
        __builtin_memcpy(key.bytes, ns->target, sizeof(key.bytes));
        return bpf_map_lookup_elem(&takeover_ipv6, &key) ? NEIGHBOR_WATCHED : NEIGHBOR_NO;
    }
    return NEIGHBOR_NO;
}

static __always_inline int takeover(struct xdp_md *ctx, struct cursor *c, struct ethhdr *eth, __be16 proto,
                                    const struct takeover_xdp_config *config)
{
    /* Rewrite first, so a solicitation that falls back to XDP_PASS (no socket) still reaches our stack. */
    int rewritten = 0;
    if (mac_equal(eth->h_dest, config->peer_mac)) {
        mac_copy(eth->h_dest, config->own_mac);
        rewritten = 1;
    }
    enum neighbor_match match = neighbor_request_for_watched(c, proto);
    if (match == NEIGHBOR_WATCHED)
        return to_socket(ctx, TAKEOVER_XDP_COUNT_NEIGHBOR_REDIRECT, TAKEOVER_XDP_COUNT_NEIGHBOR_NO_SOCKET);
    if (rewritten)
        return record(ctx, TAKEOVER_XDP_COUNT_TAKEOVER_REWRITE, XDP_PASS);
    if (match == NEIGHBOR_TRUNCATED)
        return record(ctx, TAKEOVER_XDP_COUNT_PASS_MALFORMED, XDP_PASS);
    return record(ctx, TAKEOVER_XDP_COUNT_PASS_UNRELATED, XDP_PASS);
}

SEC("xdp")
int takeover_xdp(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u32 *mode = bpf_map_lookup_elem(&takeover_mode, &zero);
    const struct takeover_xdp_config *config = bpf_map_lookup_elem(&takeover_config, &zero);
    /* Array lookups at index 0 cannot fail; the checks are for the verifier. */
    if (!mode || !config || (*mode != TAKEOVER_XDP_MODE_MONITOR && *mode != TAKEOVER_XDP_MODE_TAKEOVER))
        return record(ctx, TAKEOVER_XDP_COUNT_PASS_OFF, XDP_PASS);

    struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
    struct ethhdr *eth;
    __be16 proto;
    if (parse_ethernet(&c, &eth, &proto) < 0)
        return record(ctx, TAKEOVER_XDP_COUNT_PASS_MALFORMED, XDP_PASS);

    if (*mode == TAKEOVER_XDP_MODE_MONITOR)
        return monitor(ctx, eth, config);
    return takeover(ctx, &c, eth, proto, config);
}
