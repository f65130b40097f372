#if canImport(Glibc)
import Glibc
#endif

/// Why loading, configuring or attaching the XDP program failed. Each case names what the operator must know:
/// which interface, which call and errno, and what to do instead.
public enum XDPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No interface by that name (`if_nametoindex` failed).
    case interfaceNotFound(String)
    /// The kernel refused for lack of capabilities (EPERM from a bpf or netlink call). EACCES is not mapped here:
    /// from a program load it is the verifier's rejection, which `systemCall` reports as is.
    case insufficientPrivileges(SystemCallError)
    /// Attaching to the interface failed in every allowed mode; the last call and errno.
    case attachFailed(interface: String, SystemCallError)
    /// Another project's XDP program is attached; it is left alone.
    case foreignProgramAttached(interface: String, XDPAttachedProgram)
    /// A libbpf or bpf(2) call failed (open, load/verifier, map access, test run, detach).
    case systemCall(SystemCallError)
    /// The embedded object lacks a map or the program the shared header names (a build mismatch).
    case objectIncomplete(missing: String)
    /// A value read from the kernel is not one this version knows.
    case unexpectedValue(String)

    public var description: String {
        switch self {
        case .interfaceNotFound(let name):
            "no network interface named \"\(name)\""
        case .insufficientPrivileges(let error):
            "\(error): loading and attaching XDP needs CAP_BPF and CAP_NET_ADMIN (or root); "
                + "without them use the libpcap capture backend"
        case .attachFailed(let interface, let error):
            "cannot attach XDP to \(interface): \(error)"
        case .foreignProgramAttached(let interface, let program):
            "\(interface) already has XDP program \"\(program.name)\" (id \(program.id), \(program.mode)) "
                + "that is not takeover's; refusing to replace it"
        case .systemCall(let error):
            "\(error)"
        case .objectIncomplete(let missing):
            "embedded XDP object has no \(missing); rebuild with bpf/build"
        case .unexpectedValue(let what):
            what
        }
    }

    /// Classifies a failed bpf/netlink call: EPERM gets the privilege explanation.
    static func classify(_ error: SystemCallError) -> XDPError {
        error.errno == EPERM ? .insufficientPrivileges(error) : .systemCall(error)
    }
}
