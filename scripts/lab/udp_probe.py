#!/usr/bin/env python3
"""Client side of the failover demo: a sequence-numbered UDP probe every `interval` seconds to `target`, for
`duration` seconds; prints the largest gap between consecutive answered probes and how many went unanswered.
Bounded in time and count; TEST-NET addresses only (the caller chooses them)."""
import json, socket, struct, sys, time

target, port, interval, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setblocking(False)
sent, answered = {}, {}
start = time.monotonic()
next_send, seq = start, 0
while time.monotonic() - start < duration and seq < 1_000_000:
    now = time.monotonic()
    if now >= next_send:
        try:
            sock.sendto(struct.pack("!Q", seq), (target, port))
            sent[seq] = now
        except OSError:
            pass
        seq += 1
        next_send += interval
    try:
        while True:
            data, _ = sock.recvfrom(64)
            if len(data) == 8:
                answered.setdefault(struct.unpack("!Q", data)[0], time.monotonic())
    except BlockingIOError:
        pass
    time.sleep(max(0.0, min(next_send - time.monotonic(), 0.0005)))
times = sorted(answered.values())
gaps = [b - a for a, b in zip(times, times[1:])]
print(json.dumps({
    "sent": len(sent), "answered": len(answered), "lost": len(sent) - len(answered),
    "max_gap_ms": round(max(gaps) * 1000, 2) if gaps else None,
}))
