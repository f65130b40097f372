// takeover-resume-demo: an echo service (every byte a client sends comes back, in order) that accepts ordinary
// connections and connections the standby rebuilt after its peer failed (`resume` policy), and continues those
// exactly where the peer stopped: the peer had echoed `marker.serverBytesSent` bytes, so the service echoes the
// client's stream from that offset on — first the context bytes the peer had received but not echoed, then
// whatever the socket delivers (its receive queue holds the bytes that arrived after the peer's last write).
//
//     takeover-resume-demo --listen 192.0.2.20:7000 [--listen [2001:db8::20]:7000] [--handoff /run/echo.resume]
//
// One thread, one poll loop; prints "ready" once listening, and one line per resumed connection.

import TakeoverResume

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func fail(_ message: String) -> Never {
    let line = Array("takeover-resume-demo: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

/// One line to standard output, unbuffered (the lab reads it while the service runs).
func say(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

/// `a.b.c.d:port` or `[v6]:port` → a listening socket.
func listen(on text: String) -> Int32 {
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
        fail("--listen wants ADDRESS:PORT, got \(text)")
    }
    var host = String(text[..<colon])
    let isIPv6 = host.hasPrefix("[")
    if isIPv6 { host = String(host.dropFirst().dropLast()) }
    let fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
    // The address may not be on an interface yet (a standby listens for its peer's address before takeover).
    setsockopt(fd, isIPv6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP), isIPv6 ? 78 /* IPV6_FREEBIND */ : IP_FREEBIND, &one, 4)
    let bound: Int32
    if isIPv6 {
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, 4)
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { fail("bad IPv6 address \(host)") }
        bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    } else {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { fail("bad IPv4 address \(host)") }
        bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
    guard bound == 0, Glibc.listen(fd, 64) == 0 else { fail("bind/listen \(text): \(String(cString: strerror(errno)))") }
    return fd
}

/// Writes all of `bytes` (the sockets are blocking for writes).
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let sent = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
        if sent < 0 && errno == EINTR { continue }
        guard sent > 0 else { return false }
        offset += sent
    }
    return true
}

var listenAddresses: [String] = []
var handoffPath: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--listen":
        guard let value = arguments.popFirst() else { fail("--listen needs a value") }
        listenAddresses.append(value)
    case "--handoff":
        guard let value = arguments.popFirst() else { fail("--handoff needs a value") }
        handoffPath = value
    default: fail("unknown argument \(argument)")
    }
}
guard !listenAddresses.isEmpty else { fail("usage: takeover-resume-demo --listen ADDRESS:PORT... [--handoff PATH]") }
signal(SIGPIPE, SIG_IGN)

let listeners = listenAddresses.map(listen(on:))
let receiver: ResumedSessionReceiver?
do {
    receiver = try handoffPath.map { path throws(ResumeHandoffError) in try ResumedSessionReceiver(path: path, nonBlocking: true) }
} catch {
    fail("\(error)")
}
var connections: [Int32] = []
var buffer = [UInt8](repeating: 0, count: 64 * 1024)
say("ready")

while true {
    var descriptors = (listeners + (receiver.map { [$0.fileDescriptor] } ?? []) + connections).map {
        pollfd(fd: $0, events: Int16(POLLIN), revents: 0)
    }
    let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
    if ready < 0 {
        if errno == EINTR { continue }
        fail("poll: \(String(cString: strerror(errno)))")
    }
    for entry in descriptors where entry.revents != 0 {
        if listeners.contains(entry.fd) {
            let connection = accept(entry.fd, nil, nil)
            if connection >= 0 { connections.append(connection) }
        } else if entry.fd == receiver?.fileDescriptor {
            while let resumed = (try? receiver?.receive()) ?? nil {
                let marker = resumed.marker
                guard let pending = resumed.unechoedContext else {
                    say("resumed \(marker.client) → \(marker.server): context does not reach the echo point; closing")
                    close(resumed.socket)
                    continue
                }
                say(
                    "resumed \(marker.client) → \(marker.server): echoed \(marker.serverBytesSent), context "
                        + "\(resumed.context.count) (echoing \(pending.count)), receive queue \(marker.receiveQueueLength), "
                        + "send queue \(marker.sendQueueLength)")
                if pending.withUnsafeBytes({ writeAll(resumed.socket, $0) }) {
                    connections.append(resumed.socket)
                } else {
                    close(resumed.socket)
                }
            }
        } else {
            let received = buffer.withUnsafeMutableBytes { recv(entry.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if received < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if received <= 0 || !buffer.withUnsafeBytes({ writeAll(entry.fd, UnsafeRawBufferPointer(rebasing: $0[0..<received])) }) {
                close(entry.fd)
                connections.removeAll { $0 == entry.fd }
            }
        }
    }
}
