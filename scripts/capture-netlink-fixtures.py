#!/usr/bin/env python3
"""Captures the kernel's raw rtnetlink replies that NetlinkFixtures.swift embeds.

Independent of the Swift code: requests are packed here with the struct module from the layouts in
linux/netlink.h and linux/rtnetlink.h, and the kernel's answers are printed as hex, unmodified.
Run as root; it builds a namespace with a veth pair and deletes it afterwards:

    python3 scripts/capture-netlink-fixtures.py
"""
import os, socket, struct, subprocess, sys

NS = f"tkx-nlcapture-{os.getpid()}"
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 18, 20, 22
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def message(kind, flags, seq, body):
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def exchange(sock, request, name):
    print(f"// {name} request: {len(request)} bytes")
    print(request.hex())
    sock.send(request)
    datagrams = []
    while True:
        data = sock.recv(65536)
        datagrams.append(data)
        kind = struct.unpack_from("=H", data, 4)[0]
        flags = struct.unpack_from("=H", data, 6)[0]
        if kind in (2, 3) or not flags & 0x2:  # ERROR, DONE, or a single reply
            # A dump's DONE may share the datagram with the last entries: look at every message.
            offset = 0
            done = False
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                done = done or kind in (2, 3)
                offset += (length + 3) & ~3
            if done or not flags & 0x2:
                return datagrams


def show(name, datagrams):
    """Prints the kernel's reply datagrams."""
    for index, data in enumerate(datagrams):
        print(f"// {name} datagram {index}: {len(data)} bytes")
        print(data.hex())


def main():
    ip("netns", "add", NS)
    try:
        ip("-n", NS, "link", "add", "vc0", "type", "veth", "peer", "name", "vc1")
        ip("-n", NS, "link", "set", "vc0", "address", "02:00:5e:10:00:01", "mtu", "1400", "up")
        ip("-n", NS, "addr", "add", "192.0.2.1/24", "dev", "vc0")
        ip("-n", NS, "addr", "add", "192.0.2.7/24", "dev", "vc0", "label", "vc0:tk")
        subprocess.run(["ip", "netns", "exec", NS, sys.executable, __file__, "--inside"], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", NS])


def capture():
        index = socket.if_nametoindex("vc0")
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        sock.bind((0, 0))
        # RTM_GETLINK by index, RTEXT_FILTER_SKIP_STATS
        body = struct.pack("=BBHiII", 0, 0, 0, index, 0, 0) + attr(29, struct.pack("=I", 8))
        show("getlink", exchange(sock, name="getlink", request=message(RTM_GETLINK, NLM_F_REQUEST, 101, body)))
        # RTM_GETLINK dump (request only: the reply is long)
        body = struct.pack("=BBHiII", 0, 0, 0, 0, 0, 0) + attr(29, struct.pack("=I", 8))
        print("// dump links request (not sent)")
        print(message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 105, body).hex())
        # RTM_GETADDR dump, IPv4
        body = struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)
        show("getaddr dump", exchange(sock, name="getaddr dump", request=message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 102, body)))
        # RTM_NEWADDR of an address already there: EEXIST, capped, with the kernel's text
        v4 = socket.inet_aton("192.0.2.1")
        body = struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, index) + attr(2, v4) + attr(1, v4)
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
        show("duplicate add", exchange(sock, name="duplicate add", request=message(RTM_NEWADDR, flags, 103, body)))
        # RTM_NEWADDR with prefix length 33: EINVAL with text
        body = struct.pack("=BBBBI", socket.AF_INET, 33, 0, 0, index) + attr(2, v4) + attr(1, v4)
        show("prefix 33", exchange(sock, name="prefix 33", request=message(RTM_NEWADDR, flags, 104, body)))


if sys.argv[1:] == ["--inside"]:
    capture()
else:
    main()
