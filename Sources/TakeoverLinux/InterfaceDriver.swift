#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CTakeoverBPF

/// What the kernel driver behind an interface says of it (`ethtool -i`, `ethtool -l`), asked with SIOCETHTOOL
/// ioctls on a socket of the caller's network namespace.
public enum InterfaceDriver {
    /// The driver's name ("veth", "mlx5_core", "ixgbe", …).
    public static func name(of interface: String) throws(SystemCallError) -> String {
        // struct ethtool_drvinfo: u32 cmd, then char driver[32], … (196 bytes in all).
        let info = try ethtool(ethtoolGetDriverInfo, replyBytes: 196, interface: interface)
        return String(decoding: info[4..<36].prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The RX queues in use (`ethtool -l`: rx + combined channels). Throws `EOPNOTSUPP` for a driver that does not
    /// report its channels.
    public static func receiveQueuesInUse(of interface: String) throws(SystemCallError) -> Int {
        // struct ethtool_channels: u32 cmd, max_rx, max_tx, max_other, max_combined, rx_count, tx_count,
        // other_count, combined_count.
        let channels = try ethtool(ethtoolGetChannels, replyBytes: 36, interface: interface)
        func field(_ index: Int) -> Int { Int(channels.withUnsafeBytes { $0.load(fromByteOffset: index * 4, as: UInt32.self) }) }
        return field(5) + field(8)
    }

    /// Runs the ethtool command `command`, whose structure (command word first) is `replyBytes` long.
    private static func ethtool(_ command: UInt32, replyBytes: Int, interface: String) throws(SystemCallError) -> [UInt8] {
        let socket = try systemCall("socket(AF_INET, SOCK_DGRAM)") { Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { close(socket) }
        var reply = [UInt8](repeating: 0, count: replyBytes)
        reply.withUnsafeMutableBytes { $0.storeBytes(of: command, as: UInt32.self) }
        // struct ifreq: char ifr_name[16], then a union whose ifr_data is a pointer (40 bytes in all).
        var request = [UInt8](repeating: 0, count: 40)
        for (index, byte) in interface.utf8.prefix(15).enumerated() { request[index] = byte }
        let outcome = reply.withUnsafeMutableBytes { replyBuffer in
            request.withUnsafeMutableBytes { requestBytes in
                requestBytes.storeBytes(of: replyBuffer.baseAddress, toByteOffset: 16, as: UnsafeMutableRawPointer?.self)
                return Result { () throws(SystemCallError) in
                    try systemCall("ioctl(\(interface), SIOCETHTOOL)") {
                        takeover_ioctl_pointer(socket, socketIOCtlEthtool, requestBytes.baseAddress)
                    }
                }
            }
        }
        try outcome.get()
        return reply
    }

    private static let ethtoolGetDriverInfo: UInt32 = 0x0000_0003  // ETHTOOL_GDRVINFO
    private static let ethtoolGetChannels: UInt32 = 0x0000_003C  // ETHTOOL_GCHANNELS
    private static let socketIOCtlEthtool: UInt = 0x8946  // SIOCETHTOOL
}
