#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CTakeoverBPF

/// The kernel driver behind an interface (`ethtool -i`), asked with the ETHTOOL_GDRVINFO ioctl on a socket of
/// the caller's network namespace.
public enum InterfaceDriver {
    /// The driver's name ("veth", "mlx5_core", "ixgbe", …).
    public static func name(of interface: String) throws(SystemCallError) -> String {
        let socket = try systemCall("socket(AF_INET, SOCK_DGRAM)") { Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { close(socket) }
        // struct ethtool_drvinfo: u32 cmd, then char driver[32], … (196 bytes in all).
        var info = [UInt8](repeating: 0, count: 196)
        info.withUnsafeMutableBytes { $0.storeBytes(of: ethtoolGetDriverInfo, as: UInt32.self) }
        // struct ifreq: char ifr_name[16], then a union whose ifr_data is a pointer (40 bytes in all).
        var request = [UInt8](repeating: 0, count: 40)
        for (index, byte) in interface.utf8.prefix(15).enumerated() { request[index] = byte }
        let outcome = info.withUnsafeMutableBytes { infoBytes in
            request.withUnsafeMutableBytes { requestBytes in
                requestBytes.storeBytes(of: infoBytes.baseAddress, toByteOffset: 16, as: UnsafeMutableRawPointer?.self)
                return Result { () throws(SystemCallError) in
                    try systemCall("ioctl(\(interface), SIOCETHTOOL)") {
                        takeover_ioctl_pointer(socket, socketIOCtlEthtool, requestBytes.baseAddress)
                    }
                }
            }
        }
        try outcome.get()
        return String(decoding: info[4..<36].prefix { $0 != 0 }, as: UTF8.self)
    }

    private static let ethtoolGetDriverInfo: UInt32 = 0x0000_0003  // ETHTOOL_GDRVINFO
    private static let socketIOCtlEthtool: UInt = 0x8946  // SIOCETHTOOL
}
