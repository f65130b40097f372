import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Whether the kernel already delivers packets for a newly added IPv6 address.
///
/// Linux inserts the local route of a new IPv6 address from addrconf's work queue (DAD completion — even with
/// IFA_F_NODAD), after the netlink reply: for a moment the address is assigned yet packets to it are not
/// delivered. A client that reconnects in that moment — as a reset client does, within a millisecond — has its
/// SYN dropped and retries only after its SYN RTO (1 s). Measured in TCPResetLabTests: without this wait 2 of 5
/// IPv6 reconnects took 0.5 s (the lab client's connect timeout: its first SYN was dropped, seen in a capture on
/// both ends); with it the wait took 70 µs – 2.3 ms and every first SYN was answered. IPv4 inserts its route
/// synchronously.
///
/// The test: a UDP socket connected to the address takes the loopback device when the local route exists
/// (`ip6_rt_get_dev_rcu`), so its path MTU is the loopback's; before, the on-link prefix route's (the
/// interface's). No packet is sent.
enum LocalDelivery {
    /// Waits until every address in `addresses` is delivered locally, polling every 50 µs for at most
    /// `timeout`. Returns the addresses still not delivered locally (empty: all are).
    static func await(_ addresses: [IPv6Address], loopbackMTU: UInt32, timeout: Duration) -> [IPv6Address] {
        guard !addresses.isEmpty else { return [] }
        let descriptor: Int32
        do {
            descriptor = try systemCall("socket(AF_INET6, SOCK_DGRAM)") {
                socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
        } catch {
            return addresses
        }
        defer { close(descriptor) }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var pending = addresses
        while true {
            pending.removeAll { isDeliveredLocally($0, descriptor: descriptor, loopbackMTU: loopbackMTU) }
            if pending.isEmpty || ContinuousClock.now >= deadline { return pending }
            usleep(50)
        }
    }

    private static func isDeliveredLocally(_ address: IPv6Address, descriptor: Int32, loopbackMTU: UInt32) -> Bool {
        var destination = sockaddr_in6()
        destination.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_port = UInt16(9).bigEndian
        withUnsafeMutableBytes(of: &destination.sin6_addr) { bytes in
            bytes.storeBytes(of: address.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        // Connecting again re-runs the route lookup.
        let connected = try? systemCall("connect(UDP, \(address))") {
            withUnsafePointer(to: &destination) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        guard connected != nil else { return false }
        var mtu: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let read = try? systemCall("getsockopt(IPV6_MTU)") {
            getsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_MTU, &mtu, &length)
        }
        return read != nil && UInt32(mtu) == loopbackMTU
    }
}
