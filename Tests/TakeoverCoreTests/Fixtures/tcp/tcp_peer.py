#!/usr/bin/env python3
"""One end of a recorded TCP scenario: real kernel sockets, bounded by socket timeouts.

    tcp_peer.py server ADDRESS PORT REQUEST REPLY [--big-buffers]
    tcp_peer.py client ADDRESS PORT REQUEST REPLY [--big-buffers] [--rst] [--chunks N]

The server accepts one connection, reads REQUEST bytes, writes REPLY bytes, waits for the client's close and
closes. The client sends REQUEST bytes (in N separate writes with --chunks, 20 ms apart so each leaves as its own
segment), reads REPLY bytes, then closes with a FIN, or with a RST (--rst: SO_LINGER 0).
"""
import socket
import struct
import sys
import time

TIMEOUT_SECONDS = 5
BIG_BUFFER = 4 * 1024 * 1024


def read_exactly(sock, count):
    received = 0
    while received < count:
        chunk = sock.recv(min(65536, count - received))
        if not chunk:
            raise SystemExit(f"peer closed after {received} of {count} bytes")
        received += len(chunk)


def make_socket(address, big_buffers):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if big_buffers:
        # Set before listen/connect: the window scale offered in the SYN follows the receive buffer.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BIG_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BIG_BUFFER)
    return sock


def server(address, port, request, reply, big_buffers):
    listener = make_socket(address, big_buffers)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(1)
    print("listening", flush=True)
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT_SECONDS)
    read_exactly(conn, request)
    conn.sendall(b"r" * reply)
    try:
        while conn.recv(65536):
            pass
    except ConnectionResetError:
        pass
    conn.close()
    listener.close()


def client(address, port, request, reply, big_buffers, rst, chunks):
    sock = make_socket(address, big_buffers)
    sock.connect((address, port))
    size = request // chunks
    for index in range(chunks):
        sock.sendall(b"q" * (size if index < chunks - 1 else request - size * (chunks - 1)))
        if chunks > 1:
            time.sleep(0.02)
    read_exactly(sock, reply)
    if rst:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        time.sleep(0.05)  # let the last ACK go out alone, so the close is a clean FIN exchange
    sock.close()


def main():
    role, address, port, request, reply = sys.argv[1:6]
    flags = sys.argv[6:]
    big = "--big-buffers" in flags
    if role == "server":
        server(address, int(port), int(request), int(reply), big)
    else:
        chunks = int(flags[flags.index("--chunks") + 1]) if "--chunks" in flags else 1
        client(address, int(port), int(request), int(reply), big, "--rst" in flags, chunks)


if __name__ == "__main__":
    main()
