public import TakeoverCore
internal import CTakeoverBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Makes an interface accept frames addressed to the peer's unicast MAC, for as long as this value lives.
///
/// A NIC drops frames for other unicast MACs in hardware, so a standby that must see the peer's traffic
/// asks the kernel to add the peer's MAC to the NIC's unicast filter: `PACKET_ADD_MEMBERSHIP` with
/// `PACKET_MR_UNICAST` on an AF_PACKET socket (a device without unicast filtering goes promiscuous by
/// itself). If the kernel refuses, promiscuous mode (`PACKET_MR_PROMISC`) is the fallback, and `mode`
/// says so and why. Memberships belong to the socket: `close()` (or deinit, or the process dying) drops
/// them, and the kernel reference-counts them, so other users of the interface are not disturbed.
public final class PacketMembership {
    public enum Mode: Equatable, Sendable, CustomStringConvertible {
        /// The peer's MAC is in the interface's unicast address list.
        case unicastAddress(MACAddress)
        /// The interface is promiscuous because of this membership.
        case promiscuous(PromiscuousReason)

        public var description: String {
            switch self {
            case .unicastAddress(let mac): "receiving \(mac) through the unicast address filter"
            case .promiscuous(.requested): "promiscuous (requested)"
            case .promiscuous(.unicastFilterRefused(let error)):
                "promiscuous, because the unicast address filter refused the peer's MAC (\(error))"
            }
        }
    }

    public enum PromiscuousReason: Equatable, Sendable {
        case requested
        case unicastFilterRefused(SystemCallError)
    }

    public let interfaceIndex: Int32
    public let mode: Mode
    private var socketDescriptor: Int32

    /// Adds the membership on `interface`. With `promiscuous: true`, skips the unicast filter.
    /// Needs CAP_NET_RAW (to open the AF_PACKET socket).
    public init(interface: String, peerMAC: MACAddress, promiscuous: Bool = false) throws(SystemCallError) {
        let index = try systemCall("if_nametoindex(\(interface))") { () -> Int32 in
            let index = if_nametoindex(interface)
            return index == 0 ? -1 : Int32(bitPattern: index)
        }
        // Protocol 0: the socket receives no frames at all; it exists only to hold the membership.
        let descriptor = try systemCall("socket(AF_PACKET)") { socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0) }
        interfaceIndex = index
        socketDescriptor = descriptor

        if promiscuous {
            mode = .promiscuous(.requested)
        } else {
            do {
                try Self.change(PACKET_ADD_MEMBERSHIP, PACKET_MR_UNICAST, peerMAC, index, descriptor)
                mode = .unicastAddress(peerMAC)
                return
            } catch {
                mode = .promiscuous(.unicastFilterRefused(error))
            }
        }
        do {
            try Self.change(PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC, nil, index, descriptor)
        } catch {
            _ = try? systemCall("close") { Glibc.close(descriptor) }
            throw error
        }
    }

    deinit { close() }

    /// Drops the membership and closes the socket. Idempotent.
    public func close() {
        guard socketDescriptor >= 0 else { return }
        let (type, mac): (Int32, MACAddress?) =
            switch mode {
            case .unicastAddress(let mac): (PACKET_MR_UNICAST, mac)
            case .promiscuous: (PACKET_MR_PROMISC, nil)
            }
        // Closing drops it anyway; dropping first keeps the order explicit for anyone tracing the calls.
        try? Self.change(PACKET_DROP_MEMBERSHIP, type, mac, interfaceIndex, socketDescriptor)
        let descriptor = socketDescriptor
        _ = try? systemCall("close") { Glibc.close(descriptor) }
        socketDescriptor = -1
    }

    private static func change(
        _ option: Int32, _ type: Int32, _ mac: MACAddress?, _ index: Int32, _ descriptor: Int32
    ) throws(SystemCallError) {
        var request = packet_mreq()
        request.mr_ifindex = index
        request.mr_type = UInt16(type)
        if let mac {
            request.mr_alen = 6
            withUnsafeMutableBytes(of: &request.mr_address) { mac.write(to: $0, at: 0) }
        }
        let name = option == PACKET_ADD_MEMBERSHIP ? "setsockopt(PACKET_ADD_MEMBERSHIP)" : "setsockopt(PACKET_DROP_MEMBERSHIP)"
        try systemCall(name) {
            setsockopt(descriptor, SOL_PACKET, option, &request, socklen_t(MemoryLayout<packet_mreq>.size))
        }
    }
}
