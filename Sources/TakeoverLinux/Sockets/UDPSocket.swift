#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A datagram the kernel handed over.
public struct ReceivedDatagram: Hashable, Sendable {
    /// Bytes written into the buffer.
    public var length: Int
    /// The datagram was longer than the buffer; the rest was discarded.
    public var truncated: Bool
    public var source: SocketAddress?
}

/// A non-blocking UDP socket bound to a local address and port and, optionally, to one interface.
///
/// Binding to the interface (`SO_BINDTODEVICE`) pins a heartbeat channel to its link: with the link down its
/// datagrams fail instead of leaving through another route, so two channels stay two independent paths.
/// `send` and `receive` build and read socket addresses on the stack and allocate nothing.
///
/// One thread uses a socket at a time; the descriptor is closed when the value is released.
public final class UDPSocket {
    public let fileDescriptor: Int32
    /// The bound address, with the port the kernel chose when 0 was asked for.
    public let localAddress: SocketAddress
    public let device: String?

    /// Opens, configures and binds. `receiveBufferSize` (bytes) is forced past `net.core.rmem_max` when the
    /// process has CAP_NET_ADMIN, else capped by it. `freeBind` binds an address the host does not have (yet):
    /// the socket receives for it, and sends from it, once it is added.
    public init(
        bindingTo address: SocketAddress, device: String? = nil, receiveBufferSize: Int? = nil, freeBind: Bool = false
    ) throws(SystemCallError) {
        let kind = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let descriptor = try systemCall("socket(UDP, \(address))") { socket(address.family, kind, Int32(IPPROTO_UDP)) }
        do {
            if address.family == AF_INET6 {
                // One family per socket: an IPv6 channel must not also catch IPv4-mapped traffic.
                try Self.setOption(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)")
            }
            if freeBind {
                let isIPv6 = address.family == AF_INET6
                // IPV6_FREEBIND is 78 (linux/in6.h); Glibc's module does not export it.
                try Self.setOption(
                    descriptor, isIPv6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP), isIPv6 ? 78 : IP_FREEBIND, 1,
                    "setsockopt(IP_FREEBIND)")
            }
            if let device {
                try systemCall("setsockopt(SO_BINDTODEVICE, \(device))") {
                    Array(device.utf8).withUnsafeBytes {
                        setsockopt(descriptor, SOL_SOCKET, SO_BINDTODEVICE, $0.baseAddress, socklen_t($0.count))
                    }
                }
            }
            if let receiveBufferSize {
                let size = Int32(clamping: receiveBufferSize)
                do {
                    try Self.setOption(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, size, "setsockopt(SO_RCVBUFFORCE)")
                } catch where error.errno == EPERM {
                    try Self.setOption(descriptor, SOL_SOCKET, SO_RCVBUF, size, "setsockopt(SO_RCVBUF)")
                }
            }
            _ = try address.withSocketAddress { (pointer, length) throws(SystemCallError) in
                try systemCall("bind(\(address))") { bind(descriptor, pointer, length) }
            }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SystemCallError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (socketAddress) throws(SystemCallError) in
                    try systemCall("getsockname") { getsockname(descriptor, socketAddress, &length) }
                }
            }
            var bound = withUnsafeBytes(of: &storage) { SocketAddress($0.baseAddress!) } ?? address
            bound.scopeID = address.scopeID
            localAddress = bound
        } catch {
            close(descriptor)
            throw error
        }
        fileDescriptor = descriptor
        self.device = device
    }

    deinit { close(fileDescriptor) }

    /// Sends one datagram; `.wouldBlock` when the send buffer is full.
    @inline(__always)
    public func send(_ datagram: UnsafeRawBufferPointer, to destination: SocketAddress) throws(SystemCallError) -> IOResult<Int> {
        try Self.send(datagram, to: destination, on: fileDescriptor)
    }

    /// `send` on a descriptor of a socket another thread owns (it must stay open meanwhile): sending one datagram
    /// is safe from any number of threads.
    @inline(__always)
    public static func send(
        _ datagram: UnsafeRawBufferPointer, to destination: SocketAddress, on fileDescriptor: Int32
    ) throws(SystemCallError) -> IOResult<Int> {
        try destination.withSocketAddress { (pointer, length) throws(SystemCallError) in
            try nonBlockingSystemCall("sendto(\(destination))") {
                sendto(fileDescriptor, datagram.baseAddress, datagram.count, Int32(MSG_DONTWAIT), pointer, length)
            }
        }
    }

    /// Receives one datagram into `buffer`; `.wouldBlock` when none is queued.
    @inline(__always)
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> IOResult<ReceivedDatagram> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // MSG_TRUNC: the kernel reports the datagram's real length, so an oversized one is recognised.
        let result = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (socketAddress) throws(SystemCallError) in
                try nonBlockingSystemCall("recvfrom") {
                    recvfrom(fileDescriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT | MSG_TRUNC), socketAddress, &length)
                }
            }
        }
        guard case .done(let size) = result else { return .wouldBlock }
        let source = withUnsafeBytes(of: &storage) { SocketAddress($0.baseAddress!) }
        return .done(ReceivedDatagram(length: min(size, buffer.count), truncated: size > buffer.count, source: source))
    }

    /// The receive buffer the kernel granted (it doubles the requested size for its bookkeeping).
    public func receiveBufferSize() throws(SystemCallError) -> Int {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try systemCall("getsockopt(SO_RCVBUF)") { getsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUF, &value, &length) }
        return Int(value)
    }

    private static func setOption(
        _ descriptor: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ call: String
    ) throws(SystemCallError) {
        var value = value
        try systemCall(call) { setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }
}
