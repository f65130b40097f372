public import TakeoverCore
#if canImport(Glibc)
import Glibc
#endif

/// What a `RouteNetlinkSocket` call was doing, for error messages and for callers that log.
public enum RouteNetlinkOperation: Hashable, Sendable, CustomStringConvertible {
    case openSocket
    case addAddress(IPAddress, prefixLength: UInt8, interface: InterfaceReference)
    case removeAddress(IPAddress, prefixLength: UInt8, interface: InterfaceReference)
    case getLink(InterfaceReference)
    case dumpLinks
    case dumpAddresses
    case watchLinks

    public var description: String {
        switch self {
        case .openSocket: "open rtnetlink socket"
        case .addAddress(let address, let length, let interface): "add \(address)/\(length) to \(interface)"
        case .removeAddress(let address, let length, let interface): "remove \(address)/\(length) from \(interface)"
        case .getLink(let interface): "look up \(interface)"
        case .dumpLinks: "list interfaces"
        case .dumpAddresses: "list addresses"
        case .watchLinks: "watch link state"
        }
    }

    /// The interface the operation names, if any.
    public var interface: InterfaceReference? {
        switch self {
        case .addAddress(_, _, let interface), .removeAddress(_, _, let interface), .getLink(let interface):
            interface
        case .openSocket, .dumpLinks, .dumpAddresses, .watchLinks:
            nil
        }
    }
}

/// Why an rtnetlink call failed. Kernel refusals carry the errno and the kernel's extended-ACK text (when it
/// gave one); the two "already done" outcomes of address changes have cases of their own, so the engine can
/// treat them as success: `catch .addressAlreadyAssigned` after an add, `catch .addressNotAssigned` after a
/// remove.
public enum RouteNetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// EEXIST from an add: the interface has this address already.
    case addressAlreadyAssigned(RouteNetlinkOperation, kernelMessage: String?)
    /// EADDRNOTAVAIL from a remove: the interface does not have this address (with this prefix length).
    case addressNotAssigned(RouteNetlinkOperation, kernelMessage: String?)
    /// ENODEV: no interface by that name or index (in this network namespace).
    case interfaceNotFound(RouteNetlinkOperation, kernelMessage: String?)
    /// EPERM: changing addresses needs CAP_NET_ADMIN.
    case insufficientPrivileges(RouteNetlinkOperation, kernelMessage: String?)
    /// Any other refusal.
    case kernelRefused(RouteNetlinkOperation, errno: Int32, kernelMessage: String?)
    /// No complete answer within the socket's timeout.
    case timedOut(RouteNetlinkOperation, after: Duration)
    /// The kernel's answer could not be read (truncated or malformed), or was larger than the receive buffer.
    case malformedReply(RouteNetlinkOperation, NetlinkError)
    /// The request could not be built (bad prefix length, name or label too long).
    case invalidRequest(RouteNetlinkOperation, NetlinkError)
    /// A socket call failed (socket, bind, sendto, poll, recvfrom).
    case systemCall(RouteNetlinkOperation, SystemCallError)

    public var operation: RouteNetlinkOperation {
        switch self {
        case .addressAlreadyAssigned(let operation, _), .addressNotAssigned(let operation, _),
            .interfaceNotFound(let operation, _), .insufficientPrivileges(let operation, _),
            .kernelRefused(let operation, _, _), .timedOut(let operation, _), .malformedReply(let operation, _),
            .invalidRequest(let operation, _), .systemCall(let operation, _):
            operation
        }
    }

    /// The errno the kernel (or a socket call) reported, if the failure came with one.
    public var errno: Int32? {
        switch self {
        case .addressAlreadyAssigned: EEXIST
        case .addressNotAssigned: EADDRNOTAVAIL
        case .interfaceNotFound: ENODEV
        case .insufficientPrivileges: EPERM
        case .kernelRefused(_, let errno, _): errno
        case .systemCall(_, let error): error.errno
        case .timedOut, .malformedReply, .invalidRequest: nil
        }
    }

    /// The kernel's extended-ACK text, if it sent one.
    public var kernelMessage: String? {
        switch self {
        case .addressAlreadyAssigned(_, let message), .addressNotAssigned(_, let message),
            .interfaceNotFound(_, let message), .insufficientPrivileges(_, let message),
            .kernelRefused(_, _, let message):
            message
        case .timedOut, .malformedReply, .invalidRequest, .systemCall:
            nil
        }
    }

    /// Maps a kernel refusal of `operation` to its case.
    static func refusal(_ operation: RouteNetlinkOperation, errno: Int32, message: String?) -> RouteNetlinkError {
        switch (errno, operation) {
        case (EEXIST, .addAddress): .addressAlreadyAssigned(operation, kernelMessage: message)
        case (EADDRNOTAVAIL, .removeAddress): .addressNotAssigned(operation, kernelMessage: message)
        case (ENODEV, _): .interfaceNotFound(operation, kernelMessage: message)
        case (EPERM, _): .insufficientPrivileges(operation, kernelMessage: message)
        default: .kernelRefused(operation, errno: errno, kernelMessage: message)
        }
    }

    public var description: String {
        let kernelSays = kernelMessage.map { " — kernel: \"\($0)\"" } ?? ""
        switch self {
        case .addressAlreadyAssigned(let operation, _):
            return "\(operation): address already assigned (EEXIST)\(kernelSays)"
        case .addressNotAssigned(let operation, _):
            return "\(operation): address not assigned (EADDRNOTAVAIL)\(kernelSays)"
        case .interfaceNotFound(let operation, _):
            let subject = operation.interface.map { interface -> String in
                switch interface {
                case .name(let name): "no network interface named \"\(name)\""
                case .index(let index): "no network interface with index \(index)"
                }
            } ?? "no such network interface"
            return "\(operation): \(subject) (ENODEV)\(kernelSays)"
        case .insufficientPrivileges(let operation, _):
            return "\(operation): operation not permitted (EPERM); needs CAP_NET_ADMIN\(kernelSays)"
        case .kernelRefused(let operation, let errno, _):
            return "\(operation): \(String(cString: strerror(errno))) (errno \(errno))\(kernelSays)"
        case .timedOut(let operation, let after):
            return "\(operation): no answer from the kernel within \(after)"
        case .malformedReply(let operation, let error):
            return "\(operation): unreadable reply: \(error)"
        case .invalidRequest(let operation, let error):
            return "\(operation): \(error)"
        case .systemCall(let operation, let error):
            return "\(operation): \(error)"
        }
    }
}
