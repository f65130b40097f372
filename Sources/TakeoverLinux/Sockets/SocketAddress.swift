public import TakeoverCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An IP address and UDP/TCP port, either family. Converted to and from `sockaddr_in`/`sockaddr_in6` on the
/// stack, so sending and receiving with it allocates nothing.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16
    /// IPv6 only: the interface index a link-local address belongs to (`sin6_scope_id`); 0 otherwise.
    public var scopeID: UInt32

    public init(_ ip: IPAddress, port: UInt16, scopeID: UInt32 = 0) {
        self.ip = ip
        self.port = port
        self.scopeID = scopeID
    }

    public var description: String {
        switch ip {
        case .v4(let address): "\(address):\(port)"
        case .v6(let address): "[\(address)\(scopeID == 0 ? "" : "%\(scopeID)")]:\(port)"
        }
    }

    var family: Int32 {
        switch ip {
        case .v4: AF_INET
        case .v6: AF_INET6
        }
    }

    /// Calls `body` with this address as a `sockaddr` built on the stack.
    @inline(__always)
    func withSocketAddress<R, E: Error>(
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R
    ) throws(E) -> R {
        switch ip {
        case .v4(let address):
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = port.bigEndian
            socketAddress.sin_addr.s_addr = address.rawValue.bigEndian
            return try withUnsafePointer(to: &socketAddress) { (pointer) throws(E) -> R in
                try body(UnsafeRawPointer(pointer).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        case .v6(let address):
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = port.bigEndian
            socketAddress.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { address.write(to: $0, at: 0) }
            return try withUnsafePointer(to: &socketAddress) { (pointer) throws(E) -> R in
                try body(UnsafeRawPointer(pointer).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
    }

    /// Reads an AF_INET or AF_INET6 address the kernel wrote; nil for any other family.
    init?(_ storage: UnsafeRawPointer) {
        let family = Int32(storage.load(fromByteOffset: 0, as: sa_family_t.self))
        switch family {
        case AF_INET:
            let socketAddress = storage.load(as: sockaddr_in.self)
            self.init(.v4(IPv4Address(rawValue: UInt32(bigEndian: socketAddress.sin_addr.s_addr))), port: UInt16(bigEndian: socketAddress.sin_port))
        case AF_INET6:
            var socketAddress = storage.load(as: sockaddr_in6.self)
            let address = withUnsafeBytes(of: &socketAddress.sin6_addr) { IPv6Address(reading: $0, at: 0) }
            self.init(.v6(address), port: UInt16(bigEndian: socketAddress.sin6_port), scopeID: socketAddress.sin6_scope_id)
        default:
            return nil
        }
    }
}
