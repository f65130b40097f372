#!/usr/bin/env bash
# Records the TCP fixtures the tracker tests replay: real kernel TCP connections between two network
# namespaces joined by a veth pair, captured with tcpdump on the client's side, then dissected by tshark into
# NAME.expected.tsv (one line per frame, raw sequence numbers). Run as root from anywhere:
#     Tests/TakeoverCoreTests/Fixtures/tcp/record.sh
# Addresses: 192.0.2.0/24 and 2001:db8::/64 only. Everything it creates is removed on exit, also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ $(id -u) == 0 ]] || { echo "record.sh: needs root (ip netns)" >&2; exit 1; }

prefix="trkrec$$"
client_ns="${prefix}c"
server_ns="${prefix}s"
port=5001
capture_pid=""
server_pid=""

cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
    [[ -n $capture_pid ]] && kill "$capture_pid" 2>/dev/null || true
    ip netns del "$client_ns" 2>/dev/null || true
    ip netns del "$server_ns" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$client_ns"
ip netns add "$server_ns"
ip link add veth-c netns "$client_ns" type veth peer name veth-s netns "$server_ns"
for side in c s; do
    ns_var="${side}"; ns=$([[ $side == c ]] && echo "$client_ns" || echo "$server_ns")
    host=$([[ $side == c ]] && echo 1 || echo 2)
    # One MSS per frame on the wire (no GSO super-frames), so the captures look like a real NIC's.
    ip -n "$ns" link set veth-$side gso_max_segs 1 gso_max_size 1500
    ip -n "$ns" addr add "192.0.2.$host/24" dev veth-$side
    ip -n "$ns" addr add "2001:db8::$host/64" dev veth-$side nodad
    ip -n "$ns" link set veth-$side up
    ip -n "$ns" link set lo up
done

# Drops the Nth (0-based) client data segment at the server's input, after the client-side capture saw it.
drop_data_segment() {
    ip netns exec "$server_ns" nft -f - <<NFT
table inet trkrec {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport $port meta length > 500 numgen inc mod 100000 == $1 counter drop
    }
}
NFT
}

clear_drops() { ip netns exec "$server_ns" nft delete table inet trkrec 2>/dev/null || true; }

wait_for_line() { # file pattern
    for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    echo "record.sh: timed out waiting for '$2' in $1" >&2; return 1
}

# scenario NAME ADDRESS REQUEST REPLY DROP_INDEX|- [peer flags...]
scenario() {
    local name=$1 address=$2 request=$3 reply=$4 drop=$5; shift 5
    local pcap="$here/$name.pcap" log
    log=$(mktemp)
    clear_drops
    [[ $drop != - ]] && drop_data_segment "$drop"
    ip netns exec "$client_ns" tcpdump -Z root -i veth-c -s 0 -U --immediate-mode -w "$pcap" "tcp port $port" 2>"$log" &
    capture_pid=$!
    wait_for_line "$log" "listening on"
    local server_log; server_log=$(mktemp)
    ip netns exec "$server_ns" timeout 20 python3 "$here/tcp_peer.py" server "$address" $port "$request" "$reply" "$@" >"$server_log" &
    server_pid=$!
    wait_for_line "$server_log" listening
    ip netns exec "$client_ns" timeout 20 python3 "$here/tcp_peer.py" client "$address" $port "$request" "$reply" "$@"
    wait "$server_pid"; server_pid=""
    sleep 0.3 # the last ACK of the close
    kill -INT "$capture_pid"; wait "$capture_pid" || true; capture_pid=""
    rm -f "$log" "$server_log"
    dissect "$name"
    echo "recorded $name: $(($(wc -l <"$here/$name.expected.tsv") - 1)) frames"
}

# One line per frame: the independent dissector's view, raw (absolute) sequence numbers.
dissect() {
    tshark -r "$here/$1.pcap" -o tcp.relative_sequence_numbers:FALSE -o tcp.analyze_sequence_numbers:TRUE \
        -T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=, \
        -e frame.number -e ip.src -e ipv6.src -e tcp.srcport -e tcp.dstport -e tcp.flags -e tcp.seq_raw \
        -e tcp.ack_raw -e tcp.nxtseq -e tcp.len -e tcp.window_size_value -e tcp.window_size_scalefactor \
        -e tcp.option_kind -e tcp.options.mss_val -e tcp.options.wscale.shift -e tcp.options.timestamp.tsval \
        -e tcp.options.timestamp.tsecr -e tcp.options.sack_le -e tcp.options.sack_re \
        -e tcp.analysis.retransmission -e tcp.analysis.out_of_order \
        >"$here/$1.expected.tsv"
}

scenario ipv4-fin 192.0.2.2 3000 2000 -
scenario ipv4-rst 192.0.2.2 100 100 - --rst
scenario ipv4-retransmit 192.0.2.2 4000 500 3 --chunks 4
scenario ipv4-sack 192.0.2.2 14480 500 2
scenario ipv4-window-scale 192.0.2.2 1000 65536 - --big-buffers
scenario ipv6-fin 2001:db8::2 3000 2000 -
