#!/usr/bin/python3
"""Writes frames.json: a table of Ethernet frames built by scapy, with the field values scapy's own
dissector reads back from the bytes. FrameParserFixtureTests asserts that FrameParser agrees on every field.

scapy is the independent encoder and decoder here: no offset or length below is computed from our own
understanding of a header; each comes from a scapy field or from scapy's split of the bytes into layers.
Run with the Debian python (python3-scapy): /usr/bin/python3 generate.py  (the tests never need scapy).
Addresses are documentation ranges only (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32, 02:… MACs).
"""
import json
import os

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, GRE, ICMPv6DestUnreach,
                       ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                       ICMPv6NDOptSrcLLAddr, IPOption_Router_Alert, IPOption_RR, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Padding, Raw, RouterAlert,
                       PadN, conf, fragment, fragment6, raw)

conf.verb = 0

CLIENT_MAC = "02:00:00:00:00:01"
SERVER_MAC = "02:00:00:00:00:02"
BROADCAST = "ff:ff:ff:ff:ff:ff"
V4_CLIENT, V4_SERVER = "192.0.2.10", "192.0.2.20"
V4_OTHER = "198.51.100.7"
V6_CLIENT, V6_SERVER = "2001:db8::10", "2001:db8::20"

TCP_OPTION_NAMES = {"MSS", "WScale", "SAckOK", "Timestamp", "SAck", "NOP", "EOL"}


def ether(dst=SERVER_MAC, src=CLIENT_MAC):
    return Ether(dst=dst, src=src)


def padded(frame_bytes, minimum=60):
    """Ethernet pads short frames to 60 bytes (before the FCS); the padding must not count as payload."""
    return frame_bytes + b"\x00" * max(0, minimum - len(frame_bytes))


def vectors():
    """(name, frame bytes) in table order."""
    payload = b"hello, takeover"
    table = []

    def add(name, packet_or_bytes):
        table.append((name, packet_or_bytes if isinstance(packet_or_bytes, bytes) else raw(packet_or_bytes)))

    # ARP
    add("arp request (padded)", padded(raw(ether(BROADCAST) / ARP(
        op=1, hwsrc=CLIENT_MAC, psrc=V4_CLIENT, hwdst="00:00:00:00:00:00", pdst=V4_SERVER))))
    add("arp reply", ether(CLIENT_MAC, SERVER_MAC) / ARP(
        op=2, hwsrc=SERVER_MAC, psrc=V4_SERVER, hwdst=CLIENT_MAC, pdst=V4_CLIENT))
    add("gratuitous arp reply form", ether(BROADCAST, SERVER_MAC) / ARP(
        op=2, hwsrc=SERVER_MAC, psrc=V4_SERVER, hwdst=SERVER_MAC, pdst=V4_SERVER))
    add("arp in 802.1Q", padded(raw(ether(BROADCAST) / Dot1Q(vlan=42, prio=3) / ARP(
        op=1, hwsrc=CLIENT_MAC, psrc=V4_CLIENT, pdst=V4_SERVER))))

    # VLAN tags
    add("802.1Q udp ipv4", ether() / Dot1Q(vlan=100, prio=5, id=1) / IP(src=V4_CLIENT, dst=V4_SERVER)
        / UDP(sport=40000, dport=53) / payload)
    add("QinQ tcp ipv4", ether() / Dot1AD(vlan=200, prio=1) / Dot1Q(vlan=300) / IP(src=V4_CLIENT, dst=V4_SERVER)
        / TCP(sport=40001, dport=80, seq=1000, ack=2000, flags="PA", window=501) / payload)
    add("QinQ arp", padded(raw(ether(BROADCAST) / Dot1AD(vlan=7) / Dot1Q(vlan=4094, prio=7) / ARP(
        op=1, hwsrc=CLIENT_MAC, psrc=V4_CLIENT, pdst=V4_SERVER))))

    # IPv4 options and fragments
    add("ipv4 router alert option tcp", ether() / IP(src=V4_CLIENT, dst=V4_SERVER, options=[IPOption_Router_Alert()])
        / TCP(sport=40002, dport=443, seq=7, ack=9, flags="A") / payload)
    add("ipv4 record route option udp", ether() / IP(
        src=V4_CLIENT, dst=V4_SERVER, ttl=3, options=[IPOption_RR(routers=["198.51.100.1", "198.51.100.2"])])
        / UDP(sport=5000, dport=5001) / payload)
    datagram = IP(src=V4_CLIENT, dst=V4_SERVER, id=0x4242) / UDP(sport=6000, dport=6001) / (b"x" * 200)
    first, middle, last = fragment(datagram, fragsize=80)
    add("ipv4 first fragment udp", ether() / first)
    add("ipv4 middle fragment", ether() / middle)
    add("ipv4 last fragment", ether() / last)
    tcp_datagram = IP(src=V4_CLIENT, dst=V4_SERVER, id=0x5151) / TCP(
        sport=40003, dport=22, seq=0xFFFFFF00, ack=1, flags="PA", window=65535) / (b"y" * 120)
    add("ipv4 first fragment tcp", ether() / fragment(tcp_datagram, fragsize=64)[0])
    add("ipv4 gre (unparsed protocol)", ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / GRE() / IP() / UDP())

    # TCP options
    add("tcp syn mss sackok ts ws", ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / TCP(
        sport=40004, dport=80, seq=0x12345678, flags="S", window=64240,
        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456789, 0)), ("NOP", None), ("WScale", 7)]))
    add("tcp syn-ack ece", ether(CLIENT_MAC, SERVER_MAC) / IP(src=V4_SERVER, dst=V4_CLIENT) / TCP(
        sport=80, dport=40004, seq=0xFEDCBA98, ack=0x12345679, flags="SAE", window=65160,
        options=[("MSS", 1400), ("NOP", None), ("NOP", None), ("SAckOK", b""), ("NOP", None), ("WScale", 14)]))
    add("tcp ack ts + 3 sack blocks", ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / TCP(
        sport=40005, dport=80, seq=5000, ack=9000, flags="A", window=1024,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (1000, 2000)), ("NOP", None), ("NOP", None),
                 ("SAck", (9100, 9200, 9300, 9400, 9500, 9600))]))
    add("tcp ack 4 sack blocks", ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / TCP(
        sport=40006, dport=80, seq=1, ack=0xFFFFFFF0, flags="A",
        options=[("NOP", None), ("NOP", None), ("SAck", (0xFFFFFFF8, 8, 16, 24, 32, 40, 48, 56))]) / payload)
    add("tcp unknown option kinds skipped", ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / TCP(
        sport=40007, dport=80, seq=77, ack=88, flags="PA",
        options=[(253, b"\xab\xcd\xef\x01"), ("MSS", 536), (30, b"\x00\x01"), ("EOL", None)]) / payload)
    add("tcp fin rst urg cwr ae", ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / TCP(
        sport=40008, dport=80, seq=3, ack=4, flags="FRUCN", urgptr=1) / b"z")
    add("tcp bare ack (padded)", padded(raw(ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / TCP(
        sport=40009, dport=80, seq=100, ack=200, flags="A", window=0))))
    add("tcp ipv6 data", ether() / IPv6(src=V6_CLIENT, dst=V6_SERVER, hlim=255) / TCP(
        sport=40010, dport=8080, seq=42, ack=43, flags="PA", window=2048,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (0xFFFFFFFF, 0x80000000))]) / (payload * 3))

    # IPv6 extension headers
    add("ipv6 hop-by-hop + destination options udp", ether() / IPv6(src=V6_CLIENT, dst=V6_SERVER)
        / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 10)])
        / UDP(sport=7000, dport=7001) / payload)
    add("ipv6 routing tcp syn-ack", ether(CLIENT_MAC, SERVER_MAC) / IPv6(src=V6_SERVER, dst=V6_CLIENT)
        / IPv6ExtHdrRouting(addresses=["2001:db8::99", "2001:db8::98"], segleft=0)
        / TCP(sport=443, dport=40011, seq=11, ack=12, flags="SA",
              options=[("MSS", 1440), ("SAckOK", b""), ("Timestamp", (5, 6)), ("NOP", None), ("WScale", 9)]))
    v6_datagram = (IPv6(src=V6_CLIENT, dst=V6_SERVER) / IPv6ExtHdrHopByHop(options=[RouterAlert()])
                   / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(id=0xCAFE0001) / UDP(sport=7100, dport=7101)
                   / (b"f" * 300))
    v6_fragments = fragment6(v6_datagram, 200)
    add("ipv6 hop-by-hop + destination options + first fragment udp", ether() / v6_fragments[0])
    add("ipv6 non-first fragment", ether() / v6_fragments[1])
    add("ipv6 atomic fragment tcp", ether() / IPv6(src=V6_CLIENT, dst=V6_SERVER) / IPv6ExtHdrFragment(id=9)
        / TCP(sport=40012, dport=80, seq=1, ack=2, flags="A"))
    add("ipv6 no next header (padded)", padded(raw(ether() / IPv6(src=V6_CLIENT, dst=V6_SERVER, nh=59))))

    # UDP
    add("udp ipv4", ether() / IP(src=V4_CLIENT, dst=V4_OTHER) / UDP(sport=12345, dport=9) / payload)
    add("udp ipv4 empty (padded)", padded(raw(ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / UDP(sport=1, dport=2))))
    add("udp ipv6", ether() / IPv6(src=V6_CLIENT, dst=V6_SERVER) / UDP(sport=546, dport=547) / payload)

    # ICMP
    add("icmp echo request", ether() / IP(src=V4_CLIENT, dst=V4_SERVER) / ICMP(type=8, id=0x1234, seq=1) / payload)
    add("icmp echo reply", ether(CLIENT_MAC, SERVER_MAC) / IP(src=V4_SERVER, dst=V4_CLIENT)
        / ICMP(type=0, id=0x1234, seq=1) / payload)
    add("icmp destination unreachable", ether() / IP(src=V4_SERVER, dst=V4_CLIENT)
        / ICMP(type=3, code=3) / IP(src=V4_CLIENT, dst=V4_SERVER) / UDP())
    add("icmpv6 echo request", ether() / IPv6(src=V6_CLIENT, dst=V6_SERVER)
        / ICMPv6EchoRequest(id=0xBEEF, seq=7, data=payload))
    add("icmpv6 echo reply", ether(CLIENT_MAC, SERVER_MAC) / IPv6(src=V6_SERVER, dst=V6_CLIENT)
        / ICMPv6EchoReply(id=0xBEEF, seq=7, data=payload))
    add("icmpv6 destination unreachable", ether() / IPv6(src=V6_SERVER, dst=V6_CLIENT)
        / ICMPv6DestUnreach(code=4) / IPv6(src=V6_CLIENT, dst=V6_SERVER) / UDP())

    # Neighbor discovery
    add("neighbor solicitation", Ether(dst="33:33:ff:00:00:20", src=CLIENT_MAC)
        / IPv6(src=V6_CLIENT, dst="ff02::1:ff00:20", hlim=255) / ICMPv6ND_NS(tgt=V6_SERVER)
        / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC))
    add("neighbor solicitation dad (no option)", Ether(dst="33:33:ff:00:00:20", src=SERVER_MAC)
        / IPv6(src="::", dst="ff02::1:ff00:20", hlim=255) / ICMPv6ND_NS(tgt=V6_SERVER))
    add("neighbor advertisement solicited", ether(CLIENT_MAC, SERVER_MAC)
        / IPv6(src=V6_SERVER, dst=V6_CLIENT, hlim=255) / ICMPv6ND_NA(R=0, S=1, O=1, tgt=V6_SERVER)
        / ICMPv6NDOptDstLLAddr(lladdr=SERVER_MAC))
    add("neighbor advertisement unsolicited router", Ether(dst="33:33:00:00:00:01", src=SERVER_MAC)
        / IPv6(src=V6_SERVER, dst="ff02::1", hlim=255) / ICMPv6ND_NA(R=1, S=0, O=1, tgt=V6_SERVER)
        / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC) / ICMPv6NDOptDstLLAddr(lladdr=SERVER_MAC))
    return table


def padding_length(packet):
    return len(packet[Padding].load) if packet.haslayer(Padding) else 0


def offset_of(frame, layer):
    """Where `layer` starts: scapy's bytes of a dissected layer run from its start to the end of the frame."""
    return len(frame) - len(raw(layer))


def tcp_options(tcp):
    summary = {"mss": 0, "window_scale": None, "sack_permitted": False, "timestamp": None, "sack": []}
    for name, value in tcp.options:
        if name == "MSS":
            summary["mss"] = value
        elif name == "WScale":
            summary["window_scale"] = value
        elif name == "SAckOK":
            summary["sack_permitted"] = True
        elif name == "Timestamp":
            summary["timestamp"] = list(value)
        elif name == "SAck":
            summary["sack"] = [[value[i], value[i + 1]] for i in range(0, len(value), 2)]
        else:
            assert name in TCP_OPTION_NAMES or isinstance(name, int), name
    return summary


def describe(frame):
    packet = Ether(frame)
    assert raw(packet) == frame, "scapy must re-encode the dissected frame byte for byte"
    result = {"dst": packet.dst, "src": packet.src, "vlans": []}
    layer, ethertype = packet, packet.type
    while isinstance(layer.payload, (Dot1Q, Dot1AD)):
        tag = layer.payload
        result["vlans"].append({"tpid": layer.type, "id": tag.vlan, "priority": tag.prio, "dei": tag.id})
        layer, ethertype = tag, tag.type
    result["ethertype"] = ethertype
    network = layer.payload
    result["network_offset"] = offset_of(frame, network)

    if isinstance(network, ARP):
        result["arp"] = {"op": network.op, "sender_mac": network.hwsrc, "sender_ip": network.psrc,
                         "target_mac": network.hwdst, "target_ip": network.pdst}
        result["transport"] = {"kind": "unparsed"}
        return result

    if isinstance(network, IP):
        transport_offset = result["network_offset"] + network.ihl * 4
        ip = {"version": 4, "src": network.src, "dst": network.dst, "protocol": network.proto,
              "hop_limit": network.ttl, "more_fragments": bool(network.flags.MF),
              "fragment_offset": network.frag * 8, "identification": network.id, "extension_headers": 0,
              "transport_offset": transport_offset, "transport_length": network.len - network.ihl * 4}
        upper = network.payload
    else:
        assert isinstance(network, IPv6)
        header, protocol, count = network, network.nh, 0
        ip = {"version": 6, "src": network.src, "dst": network.dst, "hop_limit": network.hlim,
              "more_fragments": False, "fragment_offset": 0, "identification": 0}
        while isinstance(header.payload, (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting,
                                          IPv6ExtHdrFragment)):
            header, count = header.payload, count + 1
            protocol = header.nh
            if isinstance(header, IPv6ExtHdrFragment):
                ip.update(more_fragments=bool(header.m), fragment_offset=header.offset * 8,
                          identification=header.id)
        upper = header.payload
        transport_offset = offset_of(frame, upper) if len(raw(upper)) else len(frame) - padding_length(packet)
        ip.update(protocol=protocol, extension_headers=count, transport_offset=transport_offset,
                  transport_length=40 + network.plen - (transport_offset - result["network_offset"]))
    ip["is_fragment"] = ip["more_fragments"] or ip["fragment_offset"] != 0
    result["ip"] = ip
    transport_length = ip["transport_length"]

    if ip["fragment_offset"] != 0:
        assert isinstance(upper, Raw)
        result["transport"] = {"kind": "unparsed"}
    elif isinstance(upper, TCP):
        result["transport"] = {
            "kind": "tcp", "sport": upper.sport, "dport": upper.dport, "seq": upper.seq, "ack": upper.ack,
            "flags": int(upper.flags), "window": upper.window,
            "payload_offset": transport_offset + upper.dataofs * 4,
            "payload_length": len(raw(upper)) - padding_length(upper) - upper.dataofs * 4,
            "options": tcp_options(upper)}
    elif isinstance(upper, UDP):
        # In a first fragment the UDP length covers the whole datagram; only this fragment's bytes are here.
        carried = min(upper.len, len(raw(upper)) - padding_length(upper))
        result["transport"] = {"kind": "udp", "sport": upper.sport, "dport": upper.dport,
                               "payload_offset": transport_offset + 8, "payload_length": carried - 8}
    elif isinstance(upper, (ICMP, ICMPv6EchoRequest, ICMPv6EchoReply)) and upper.type in (0, 8, 128, 129):
        result["transport"] = {"kind": "icmp_echo", "is_reply": upper.type in (0, 129), "id": upper.id,
                               "seq": upper.seq, "data_offset": transport_offset + 8,
                               "data_length": transport_length - 8}
    elif isinstance(upper, (ICMPv6ND_NS, ICMPv6ND_NA)):
        option = ICMPv6NDOptSrcLLAddr if isinstance(upper, ICMPv6ND_NS) else ICMPv6NDOptDstLLAddr
        result["transport"] = {
            "kind": "neighbor_solicitation" if isinstance(upper, ICMPv6ND_NS) else "neighbor_advertisement",
            "target": upper.tgt, "link_layer_address": upper[option].lladdr if upper.haslayer(option) else None,
            "flags": (upper.R << 7 | upper.S << 6 | upper.O << 5) if isinstance(upper, ICMPv6ND_NA) else 0}
    elif hasattr(upper, "type") and ip["protocol"] in (1, 58):
        result["transport"] = {"kind": "icmp", "type": upper.type, "code": upper.code}
    else:
        result["transport"] = {"kind": "unparsed"}
    return result


def main():
    table = [{"name": name, "hex": frame.hex(), "expected": describe(frame)} for name, frame in vectors()]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frames.json")
    with open(path, "w") as out:
        json.dump({"generator": "generate.py (scapy)", "vectors": table}, out, indent=1, sort_keys=True)
        out.write("\n")
    print(f"wrote {len(table)} vectors to {path}")


if __name__ == "__main__":
    main()
