#if canImport(Glibc)
import Glibc
#endif

/// Why an AF_XDP socket could not be opened or used. Each case says what the operator must know: which
/// interface and queue, which call and errno, and what to do instead.
public enum AFXDPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The configuration cannot work (sizes, counts); the text says which value.
    case invalidConfiguration(String)
    /// No interface by that name in the calling thread's network namespace.
    case interfaceNotFound(String)
    /// EPERM: creating an AF_XDP socket needs CAP_NET_RAW (binding it to a device also CAP_NET_ADMIN for the
    /// XDP program, which the loader reports on its own).
    case insufficientPrivileges(SystemCallError)
    /// The kernel has no AF_XDP sockets (EAFNOSUPPORT: built without CONFIG_XDP_SOCKETS).
    case unsupportedByKernel(SystemCallError)
    /// Registering the UMEM failed for lack of lockable memory (ENOBUFS/ENOMEM): the UMEM is pinned and charged
    /// to RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK.
    case memoryLockLimit(bytes: Int, SystemCallError)
    /// `bind` to the interface's queue failed; the errno decides the explanation.
    case bindFailed(interface: String, queue: UInt32, SystemCallError)
    /// Putting the socket in the XDP program's socket map failed.
    case registrationFailed(XDPError)
    /// The kernel unbound the socket: its interface was unregistered (deleted, or moved to another namespace).
    /// Close it and open a new one when the interface is back.
    case unbound(interface: String, queue: UInt32, SystemCallError)
    /// The interface is down: queued transmit frames stay in the TX ring and leave on a `flush()` after it is up.
    case interfaceDown(interface: String, SystemCallError)
    /// Another call (mmap, poll, getsockopt, a wake-up) failed.
    case systemCall(SystemCallError)
    /// A transmit builder returned a length outside 0...capacity (a programming error; nothing was sent).
    case invalidFrameLength(Int, capacity: Int)
    /// The socket was closed.
    case closed

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason):
            "invalid AF_XDP configuration: \(reason)"
        case .interfaceNotFound(let name):
            "no network interface named \"\(name)\""
        case .insufficientPrivileges(let error):
            "\(error): an AF_XDP socket needs CAP_NET_RAW (and the XDP program CAP_BPF and CAP_NET_ADMIN), "
                + "or root; without them use the libpcap capture backend"
        case .unsupportedByKernel(let error):
            "\(error): this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS); use the libpcap capture backend"
        case .memoryLockLimit(let bytes, let error):
            "\(error): cannot pin the \(bytes)-byte UMEM; raise RLIMIT_MEMLOCK (ulimit -l) or grant CAP_IPC_LOCK, "
                + "or configure fewer frames"
        case .bindFailed(let interface, let queue, let error):
            "cannot bind AF_XDP socket to \(interface) queue \(queue): \(error)" + Self.bindHint(errno: error.errno)
        case .unbound(let interface, let queue, let error):
            "the AF_XDP socket on \(interface) queue \(queue) was unbound by the kernel (\(error)): the interface went "
                + "away; close it and open a new socket when the interface is back"
        case .interfaceDown(let interface, let error):
            "\(interface) is down (\(error)); queued frames stay queued until a flush after it is up"
        case .registrationFailed(let error):
            "cannot register the AF_XDP socket with the XDP program: \(error)"
        case .systemCall(let error):
            "\(error)"
        case .invalidFrameLength(let length, let capacity):
            "transmit builder returned frame length \(length); a transmit frame holds 0...\(capacity) bytes"
        case .closed:
            "the AF_XDP socket is closed"
        }
    }

    private static func bindHint(errno: Int32) -> String {
        switch errno {
        case EBUSY: " — another AF_XDP socket holds this queue (or a closed one is still being released)"
        case EINVAL: " — the queue may not exist on this interface (see `ethtool -l`), or a ring size is invalid"
        case EOPNOTSUPP: " — the driver has no zero-copy support; copy mode works everywhere"
        case ENETDOWN: " — the interface is down"
        default: ""
        }
    }

    /// Maps a failure to open (socket, UMEM registration) to the case that explains it.
    static func opening(_ error: SystemCallError, umemBytes: Int) -> AFXDPError {
        switch error.errno {
        case EPERM, EACCES: .insufficientPrivileges(error)
        case EAFNOSUPPORT: .unsupportedByKernel(error)
        case ENOBUFS, ENOMEM: .memoryLockLimit(bytes: umemBytes, error)
        default: .systemCall(error)
        }
    }
}
