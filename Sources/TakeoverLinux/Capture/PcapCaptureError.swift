/// Why a libpcap capture could not be opened or used. Each case says what to do about it.
public enum PcapCaptureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The interface does not exist (in this network namespace).
    case noSuchInterface(interface: String, message: String)
    /// Opening a packet socket needs CAP_NET_RAW, which this process does not have in effect.
    case permissionDenied(interface: String, message: String)
    /// The system refused promiscuous mode (libpcap's PCAP_ERROR_PROMISC_PERM_DENIED; Linux grants it
    /// with CAP_NET_RAW alone, so this comes from other kernels or security modules).
    case promiscuousPermissionDenied(interface: String, message: String)
    /// The interface exists but is down.
    case interfaceNotUp(interface: String)
    /// The filter expression does not compile.
    case badFilter(expression: String, message: String)
    /// Any other libpcap failure: which operation, and libpcap's message.
    case libpcap(operation: String, message: String)
    /// A system call on the capture's socket failed.
    case system(SystemCallError)
    /// The builder returned a length larger than the transmit buffer.
    case frameTooLong(length: Int, maximum: Int)
    /// The capture was closed.
    case closed

    public var description: String {
        switch self {
        case .noSuchInterface(let interface, let message):
            return "no interface named \(interface) in this network namespace (\(message))"
        case .permissionDenied(let interface, let message):
            return "capturing on \(interface) needs CAP_NET_RAW, which is not in effect (\(message)); "
                + "run as root or grant it (setcap cap_net_raw=eip <binary>); "
                + "without it the standby can only run in stateless mode (no session tracking)"
        case .promiscuousPermissionDenied(let interface, let message):
            return "promiscuous mode on \(interface) was refused (\(message)); "
                + "capture without promiscuous mode and rely on the peer-MAC membership (PacketMembership)"
        case .interfaceNotUp(let interface):
            return "interface \(interface) is down; bring it up (ip link set \(interface) up)"
        case .badFilter(let expression, let message):
            return "capture filter does not compile: \(message) — in: \(expression)"
        case .libpcap(let operation, let message):
            return "\(operation): \(message)"
        case .system(let error):
            return error.description
        case .frameTooLong(let length, let maximum):
            return "built frame of \(length) bytes exceeds the \(maximum)-byte transmit buffer"
        case .closed:
            return "the capture is closed"
        }
    }
}
