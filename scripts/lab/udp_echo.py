#!/usr/bin/env python3
"""The service under test in the demo: echoes every UDP datagram back to its sender."""
import socket, sys

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, peer = sock.recvfrom(2048)
    sock.sendto(data, peer)
