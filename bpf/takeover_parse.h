#ifndef TAKEOVER_PARSE_H
#define TAKEOVER_PARSE_H
// Header parsers for takeover_xdp. Each takes a cursor over [data, data_end), checks the bytes it reads
// against data_end before reading them (the form the verifier accepts), and advances the cursor past what it
// consumed only on success. Multi-byte fields are returned in network byte order unless stated otherwise.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/// The unparsed rest of the frame.
struct cursor {
    void *pos;
    void *end;
};

/// An 802.1Q / 802.1ad tag after the MAC addresses: TCI, then the encapsulated EtherType.
struct vlan_tag {
    __be16 tci;
    __be16 encapsulated_proto;
};

/// ARP for Ethernet and IPv4 (RFC 826), fixed size. Packed: the addresses sit at odd offsets.
struct arp_ipv4 {
    __be16 hardware_type;
    __be16 protocol_type;
    __u8 hardware_length;
    __u8 protocol_length;
    __be16 operation;
    __u8 sender_mac[6];
    __u8 sender_ip[4];
    __u8 target_mac[6];
    __u8 target_ip[4];
} __attribute__((packed));

/// ICMPv6 neighbour solicitation (RFC 4861 §4.3) up to its target address; options follow and are not read.
struct neighbor_solicitation {
    __u8 type;
    __u8 code;
    __be16 checksum;
    __be32 reserved;
    __u8 target[16];
};

/* From linux/if_arp.h, which drags in glibc headers that do not build for the bpf target. */
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1

#define VLAN_MAX_DEPTH 2 /* 802.1ad outer + 802.1Q inner (QinQ) */
#define ICMPV6_NEIGHBOR_SOLICITATION 135

static __always_inline int is_vlan_proto(__be16 proto)
{
    return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/// Parses the Ethernet header and up to VLAN_MAX_DEPTH VLAN tags.
/// Returns 0 and sets *eth and *proto (the innermost EtherType, network byte order), or -1 if the frame is
/// too short for the header or a tag it announces, or carries more tags than VLAN_MAX_DEPTH.
static __always_inline int parse_ethernet(struct cursor *c, struct ethhdr **eth, __be16 *proto)
{
    struct ethhdr *header = c->pos;
    if ((void *)(header + 1) > c->end)
        return -1;
    void *pos = header + 1;
    __be16 type = header->h_proto;

#pragma unroll
    for (int depth = 0; depth < VLAN_MAX_DEPTH; depth++) {
        if (!is_vlan_proto(type))
            break;
        struct vlan_tag *tag = pos;
        if ((void *)(tag + 1) > c->end)
            return -1;
        type = tag->encapsulated_proto;
        pos = tag + 1;
    }
    if (is_vlan_proto(type))
        return -1;

    c->pos = pos;
    *eth = header;
    *proto = type;
    return 0;
}

/// Parses an Ethernet/IPv4 ARP packet. Returns 0 and sets *arp, or -1 if too short or not Ethernet/IPv4
/// (hardware type 1, protocol 0x0800, address lengths 6 and 4).
static __always_inline int parse_arp_ipv4(struct cursor *c, struct arp_ipv4 **arp)
{
    struct arp_ipv4 *header = c->pos;
    if ((void *)(header + 1) > c->end)
        return -1;
    if (header->hardware_type != bpf_htons(ARPHRD_ETHER) || header->protocol_type != bpf_htons(ETH_P_IP) ||
        header->hardware_length != 6 || header->protocol_length != 4)
        return -1;
    c->pos = header + 1;
    *arp = header;
    return 0;
}

/// Parses the fixed IPv6 header. Returns 0 and sets *ip, or -1 if too short or the version is not 6.
/// Extension headers are not walked: the caller sees ip->nexthdr as is.
static __always_inline int parse_ipv6(struct cursor *c, struct ipv6hdr **ip)
{
    struct ipv6hdr *header = c->pos;
    if ((void *)(header + 1) > c->end)
        return -1;
    if (header->version != 6)
        return -1;
    c->pos = header + 1;
    *ip = header;
    return 0;
}

/// Parses an ICMPv6 message as a neighbour solicitation. Returns 1 and sets *ns if it is one (type 135,
/// code 0), 0 if it is another ICMPv6 message, -1 if too short for a solicitation's fixed part.
static __always_inline int parse_neighbor_solicitation(struct cursor *c, struct neighbor_solicitation **ns)
{
    struct neighbor_solicitation *message = c->pos;
    if ((void *)(&message->type + 1) > c->end)
        return -1;
    if (message->type != ICMPV6_NEIGHBOR_SOLICITATION)
        return 0;
    if ((void *)(message + 1) > c->end)
        return -1;
    if (message->code != 0)
        return 0;
    c->pos = message + 1;
    *ns = message;
    return 1;
}

/// 1 if the two 6-byte MAC addresses are equal, else 0. Byte-wise: packet MACs sit at unaligned offsets.
static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) | (a[5] ^ b[5])) == 0;
}

/// 1 for broadcast and multicast MACs (the I/G bit), else 0.
static __always_inline int mac_is_group(const __u8 *mac)
{
    return mac[0] & 1;
}

static __always_inline void mac_copy(__u8 *destination, const __u8 *source)
{
#pragma unroll
    for (int i = 0; i < 6; i++)
        destination[i] = source[i];
}

#endif
