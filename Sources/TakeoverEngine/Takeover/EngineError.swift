public import TakeoverLinux

/// Why an engine could not be built or started. Each case names what was missing and, where there is one,
/// what to do about it.
public enum EngineError: Error, CustomStringConvertible {
    case invalidConfiguration([String])
    case keyUnreadable(SecretFile.Error)
    case keyRejected(KeyError)
    case xdpRequired(interface: String, XDPError)
    case membershipFailed(interface: String, SystemCallError)
    case netlinkUnavailable(RouteNetlinkError)
    case controller(FailoverControllerError)
    case responderFailed(interface: String, String)
    case captureFailed(interface: String, String)
    case threadFailed(String, SystemCallError)

    public var description: String {
        switch self {
        case .invalidConfiguration(let problems): "invalid configuration: " + problems.joined(separator: "; ")
        case .keyUnreadable(let error): "\(error)"
        case .keyRejected(let error): "\(error)"
        case .xdpRequired(let interface, let error):
            "\(interface): capture = xdp, but XDP cannot be used: \(error) (capture = auto falls back to libpcap)"
        case .membershipFailed(let interface, let error):
            "\(interface): cannot make the NIC accept the peer's MAC: \(error) (needs CAP_NET_RAW)"
        case .netlinkUnavailable(let error): "rtnetlink: \(error)"
        case .controller(let error): "\(error)"
        case .responderFailed(let interface, let reason):
            "\(interface): cannot open the ARP/ND responder: \(reason) (needs CAP_NET_RAW)"
        case .threadFailed(let name, let error): "cannot start the \(name) thread: \(error)"
        case .captureFailed(let interface, let reason):
            "\(interface): cannot open the session capture: \(reason) (needs CAP_NET_RAW)"
        }
    }
}
