import TakeoverCore
#if canImport(Glibc)
import Glibc
#endif

/// `struct sockaddr_nl` (linux/netlink.h, which Glibc's Swift module does not import): 12 bytes.
/// The Linux tests compare its size and offsets with the C header's.
struct NetlinkSocketAddress {
    var family = UInt16(AF_NETLINK)
    var padding: UInt16 = 0
    /// The socket's port id; 0 is the kernel.
    var portID: UInt32 = 0
    /// Multicast group bitmask (groups 1...32).
    var groups: UInt32 = 0
}

/// An AF_NETLINK / NETLINK_ROUTE socket descriptor with the calls both the request socket and the link
/// watcher need. Every call goes through `systemCall`.
struct NetlinkSocket: ~Copyable {
    let fileDescriptor: Int32
    /// The port id the kernel gave this socket at bind; replies to our requests carry it in `nlmsg_pid`.
    let portID: UInt32

    /// Opens, turns on extended ACKs and capped ACKs, binds (the kernel picks the port id) to `groups`.
    init(groups: UInt32 = 0) throws(SystemCallError) {
        let descriptor = try systemCall("socket(AF_NETLINK, NETLINK_ROUTE)") {
            socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                   NetlinkSocketConstants.protocolRoute)
        }
        var ready = false
        defer { if !ready { _ = try? systemCall("close") { close(descriptor) } } }
        // Extended ACKs bring the kernel's explanation of a refusal; capped ACKs leave our own request out of
        // the error message. Kernels before 4.12 lack NETLINK_EXT_ACK: then errors come without text.
        for (option, name) in [
            (NetlinkSocketConstants.extendedAcknowledgement, "setsockopt(NETLINK_EXT_ACK)"),
            (NetlinkSocketConstants.capAcknowledgement, "setsockopt(NETLINK_CAP_ACK)"),
        ] {
            var on: Int32 = 1
            do {
                try systemCall(name) {
                    setsockopt(descriptor, NetlinkSocketConstants.socketLevel, option, &on,
                               socklen_t(MemoryLayout<Int32>.size))
                }
            } catch where error.errno == ENOPROTOOPT {
                continue
            }
        }
        var address = NetlinkSocketAddress(groups: groups)
        _ = try Self.withSocketAddress(&address) { (pointer, length) throws(SystemCallError) in
            try systemCall("bind(AF_NETLINK)") { bind(descriptor, pointer, length) }
        }
        var bound = NetlinkSocketAddress()
        _ = try Self.withSocketAddress(&bound) { (pointer, length) throws(SystemCallError) in
            var actualLength = length
            try systemCall("getsockname(AF_NETLINK)") { getsockname(descriptor, pointer, &actualLength) }
        }
        fileDescriptor = descriptor
        portID = bound.portID
        ready = true
    }

    deinit {
        _ = try? systemCall("close") { close(fileDescriptor) }
    }

    private static func withSocketAddress<R>(
        _ address: inout NetlinkSocketAddress,
        _ body: (UnsafeMutablePointer<sockaddr>, socklen_t) throws(SystemCallError) -> R
    ) throws(SystemCallError) -> R {
        try withUnsafeMutablePointer(to: &address) { (pointer) throws(SystemCallError) -> R in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (socketAddress) throws(SystemCallError) -> R in
                try body(socketAddress, socklen_t(MemoryLayout<NetlinkSocketAddress>.size))
            }
        }
    }

    /// Sends one message to the kernel (port id 0).
    func send(_ message: UnsafeRawBufferPointer) throws(SystemCallError) {
        var kernel = NetlinkSocketAddress()
        let sent = try Self.withSocketAddress(&kernel) { (pointer, length) throws(SystemCallError) in
            try systemCall("sendto(AF_NETLINK)") {
                sendto(fileDescriptor, message.baseAddress, message.count, 0, pointer, length)
            }
        }
        // A netlink datagram is sent whole or not at all; anything else is a kernel bug worth hearing about.
        guard sent == message.count else { throw SystemCallError("sendto(AF_NETLINK): short send", errno: EMSGSIZE) }
    }

    enum Received {
        /// A datagram from the kernel of this many bytes, at the start of the buffer.
        case datagram(Int)
        /// The datagram was larger than the buffer (its real length).
        case truncated(Int)
        case timedOut
    }

    /// Waits until `deadline` for one datagram from the kernel; datagrams from other senders are dropped.
    func receive(into buffer: UnsafeMutableRawBufferPointer, until deadline: ContinuousClock.Instant)
        throws(SystemCallError) -> Received
    {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return .timedOut }
            // poll takes whole milliseconds: round up so a sub-millisecond remainder still waits.
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            var waiter = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard try systemCall("poll(AF_NETLINK)", { poll(&waiter, 1, milliseconds) }) > 0 else { continue }
            var sender = NetlinkSocketAddress()
            let result = try Self.withSocketAddress(&sender) { (pointer, length) throws(SystemCallError) in
                var senderLength = length
                // MSG_TRUNC: the return value is the datagram's real length even when it did not fit.
                return try nonBlockingSystemCall("recvfrom(AF_NETLINK)") {
                    recvfrom(fileDescriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT | MSG_TRUNC),
                             pointer, &senderLength)
                }
            }
            guard case .done(let length) = result else { continue }
            guard sender.portID == 0 else { continue }  // only the kernel speaks for rtnetlink
            return length > buffer.count ? .truncated(length) : .datagram(length)
        }
    }
}
