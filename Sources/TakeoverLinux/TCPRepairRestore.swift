import TakeoverCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything `TCPRepair.restore` needs to rebuild one established connection as a local socket.
public struct TCPRepairConnection: Sendable, Equatable {
    /// The address and port the socket takes (the failed peer's).
    public var local: SocketAddress
    /// The other end (the client).
    public var remote: SocketAddress
    /// First byte of the send queue (SND.UNA); `sendQueue` holds [sendQueueSequence, SND.NXT).
    public var sendQueueSequence: UInt32
    public var sendQueue: [UInt8]
    /// First byte of the receive queue; `receiveQueue` holds [receiveQueueSequence, RCV.NXT).
    public var receiveQueueSequence: UInt32
    public var receiveQueue: [UInt8]
    /// The MSS the remote end announced.
    public var remoteMSS: UInt16
    public var windowScaling: Bool
    /// Shift of the remote end's windows (`sendWindowScale`) and of ours (`receiveWindowScale`).
    public var sendWindowScale: UInt8
    public var receiveWindowScale: UInt8
    public var sack: Bool
    public var timestamps: Bool
    /// The TSval our next segment should carry (at least the newest the remote end saw from the old socket).
    public var timestamp: UInt32
    /// SND.WND / max window (the remote end's advertised window) and RCV.WND (ours), in bytes.
    public var window: TCPRepairWindow
    /// Where `sendQueue` goes: see `SendQueuePlacement`.
    public var sendQueuePlacement: SendQueuePlacement = .afterRepair

    /// How the unacknowledged bytes are put back.
    public enum SendQueuePlacement: Sendable, Equatable {
        /// Written in repair mode, as CRIU does: the kernel counts them as sent and retransmits them when its
        /// timer fires — but a rebuilt socket has no RTT estimate, so that is the initial RTO, 1 s.
        case inRepairMode
        /// Left out in repair mode (SND.NXT = SND.UNA) and written by `startTransmission` as ordinary data once
        /// the client's frames reach us: they leave at once (a client that had some of them discards the
        /// duplicates). This keeps the stall at a round trip rather than a second.
        case afterRepair
    }

    public init(
        local: SocketAddress, remote: SocketAddress, sendQueueSequence: UInt32, sendQueue: [UInt8],
        receiveQueueSequence: UInt32, receiveQueue: [UInt8], remoteMSS: UInt16, windowScaling: Bool,
        sendWindowScale: UInt8, receiveWindowScale: UInt8, sack: Bool, timestamps: Bool, timestamp: UInt32,
        window: TCPRepairWindow
    ) {
        self.local = local
        self.remote = remote
        self.sendQueueSequence = sendQueueSequence
        self.sendQueue = sendQueue
        self.receiveQueueSequence = receiveQueueSequence
        self.receiveQueue = receiveQueue
        self.remoteMSS = remoteMSS
        self.windowScaling = windowScaling
        self.sendWindowScale = sendWindowScale
        self.receiveWindowScale = receiveWindowScale
        self.sack = sack
        self.timestamps = timestamps
        self.timestamp = timestamp
        self.window = window
    }

    /// The socket's RCV.NXT once the receive queue is filled.
    public var receiveNext: UInt32 { receiveQueueSequence &+ UInt32(receiveQueue.count) }
}

/// The steps of `TCPRepair.restore`, in order; an error names the one that failed.
public enum TCPRestoreStep: String, Sendable, CaseIterable {
    case socket, repairOn, freeBind, transparent, bind, sendQueueSequence, receiveQueueSequence, connect, options,
        timestamp, bufferSizes, receiveQueue, sendQueue, window, repairOff, transmit
}

/// Why a connection could not be rebuilt.
public enum TCPRestoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// TCP_REPAIR (and binding a foreign address) needs CAP_NET_ADMIN in the socket's network namespace.
    case missingCapability
    /// `step` failed with `errno`.
    case failed(TCPRestoreStep, errno: Int32)

    public var description: String {
        switch self {
        case .missingCapability:
            "TCP_REPAIR needs CAP_NET_ADMIN in the network namespace (run as root or grant the capability)"
        case .failed(let step, let errno):
            "TCP repair step \(step.rawValue) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}

extension TCPRepair {
    // include/uapi/linux/tcp.h and in.h / in6.h values not all exported by Glibc's module.
    static let repairOff: Int32 = 0
    static let noQueue: Int32 = 0
    static let optionMSS: UInt32 = 2
    static let optionWindow: UInt32 = 3
    static let optionSACKPermitted: UInt32 = 4
    static let optionTimestamp: UInt32 = 8
    static let ipv6Transparent: Int32 = 75
    static let ipv6FreeBind: Int32 = 78

    /// Rebuilds `connection` as a connected socket in the calling thread's network namespace, as CRIU restores
    /// one: socket → repair on → bind the local address (free-bind and transparent, so the address need not be on
    /// an interface yet) → both queue sequences → connect (no SYN in repair mode) → options (MSS, window scale,
    /// SACK, timestamps) → timestamp offset → fill the receive queue (and the send queue `.inRepairMode`) →
    /// window → repair off, quietly: nothing goes on the wire until `startTransmission`, which the caller calls
    /// once the client's frames reach this host (address added, neighbours told). Returns the socket (blocking,
    /// close-on-exec); the caller owns it. On failure the half-built socket is closed (still in repair mode, so
    /// nothing goes on the wire).
    public static func restore(_ connection: TCPRepairConnection) throws(TCPRestoreError) -> Int32 {
        let isIPv6: Bool
        if case .v6 = connection.local.ip { isIPv6 = true } else { isIPv6 = false }
        let fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .failed(.socket, errno: errno) }
        do {
            try restoreSteps(fd, connection, isIPv6: isIPv6)
            return fd
        } catch {
            // Closing in repair mode sends nothing (no FIN, no RST).
            close(fd)
            throw error
        }
    }

    private static func restoreSteps(_ fd: Int32, _ connection: TCPRepairConnection, isIPv6: Bool) throws(TCPRestoreError) {
        do {
            try tcpOption(fd, TCP_REPAIR, repairOn, .repairOn)
        } catch .failed(_, let code) where code == EPERM {
            throw .missingCapability
        }
        let ipLevel = isIPv6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP)
        try option(fd, ipLevel, isIPv6 ? ipv6FreeBind : IP_FREEBIND, 1, .freeBind)
        // Free-bind lets bind() take an address that is not local; transparent lets the route lookup in connect()
        // use it as the source. Both only while it is not local: afterwards the address is simply ours.
        try option(fd, ipLevel, isIPv6 ? ipv6Transparent : IP_TRANSPARENT, 1, .transparent)
        try step(.bind) { connection.local.withSocketAddress { bind(fd, $0, $1) } }
        try tcpOption(fd, TCP_REPAIR_QUEUE, sendQueue, .sendQueueSequence)
        try tcpOption(fd, TCP_QUEUE_SEQ, Int32(bitPattern: connection.sendQueueSequence), .sendQueueSequence)
        try tcpOption(fd, TCP_REPAIR_QUEUE, receiveQueue, .receiveQueueSequence)
        try tcpOption(fd, TCP_QUEUE_SEQ, Int32(bitPattern: connection.receiveQueueSequence), .receiveQueueSequence)
        try step(.connect) { connection.remote.withSocketAddress { connect(fd, $0, $1) } }

        // struct tcp_repair_opt { u32 opt_code; u32 opt_val; }: window scale packs the remote end's shift in the
        // low 16 bits and ours in the high 16.
        var options: [(UInt32, UInt32)] = [(optionMSS, UInt32(connection.remoteMSS))]
        if connection.windowScaling {
            options.append((optionWindow, UInt32(connection.sendWindowScale) | UInt32(connection.receiveWindowScale) << 16))
        }
        if connection.sack { options.append((optionSACKPermitted, 0)) }
        if connection.timestamps { options.append((optionTimestamp, 0)) }
        try step(.options) {
            options.withUnsafeBytes {
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_REPAIR_OPTIONS, $0.baseAddress, socklen_t($0.count))
            }
        }
        if connection.timestamps {
            // The kernel keeps an offset so that its clock now reads `timestamp`: the client's PAWS check
            // (RFC 7323 §5) accepts our segments because their TSval does not go back.
            try tcpOption(fd, TCP_TIMESTAMP, Int32(bitPattern: connection.timestamp), .timestamp)
        }
        // Queued bytes are charged to the socket's buffers; make room when they exceed the defaults.
        if connection.sendQueue.count > 8 * 1024 {
            try option(fd, SOL_SOCKET, SO_SNDBUF, Int32(connection.sendQueue.count * 2), .bufferSizes)
        }
        if connection.receiveQueue.count > 32 * 1024 {
            try option(fd, SOL_SOCKET, SO_RCVBUF, Int32(connection.receiveQueue.count * 2), .bufferSizes)
        }
        try fill(fd, queue: receiveQueue, connection.receiveQueue, .receiveQueue)
        if connection.sendQueuePlacement == .inRepairMode {
            try fill(fd, queue: sendQueue, connection.sendQueue, .sendQueue)
        }
        try tcpOption(fd, TCP_REPAIR_QUEUE, noQueue, .window)
        var window = connection.window
        try step(.window) {
            withUnsafeBytes(of: &window) {
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_REPAIR_WINDOW, $0.baseAddress, socklen_t($0.count))
            }
        }
        try tcpOption(fd, TCP_REPAIR, repairOffWithoutWindowProbe, .repairOff)
    }

    /// Makes a rebuilt socket speak: writes the unacknowledged bytes (`.afterRepair`), whose segments carry our
    /// acknowledgment, or else sends a window probe (repair on and off), which the client answers with its own
    /// state. Either way the client learns at once where we stand.
    public static func startTransmission(_ socket: Int32, _ connection: TCPRepairConnection) throws(TCPRestoreError) {
        guard connection.sendQueuePlacement == .afterRepair, !connection.sendQueue.isEmpty else {
            try tcpOption(socket, TCP_REPAIR, repairOn, .transmit)
            try tcpOption(socket, TCP_REPAIR, repairOff, .transmit)
            return
        }
        var offset = 0
        while offset < connection.sendQueue.count {
            let sent = connection.sendQueue.withUnsafeBytes {
                send(socket, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { throw .failed(.transmit, errno: sent < 0 ? errno : EIO) }
            offset += sent
        }
    }

    /// Closes a socket `restore` built without anything going on the wire: back into repair mode first, so the
    /// kernel sends neither FIN nor RST (the client is then reset deliberately, by the fallback policy).
    public static func closeSilently(_ socket: Int32) {
        var on = repairOn
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_REPAIR, &on, socklen_t(MemoryLayout<Int32>.size))
        close(socket)
    }

    /// Closes this process's descriptor of a socket another process now also holds (the socket lives on).
    public static func closeDescriptor(_ socket: Int32) {
        close(socket)
    }

    /// Writes `bytes` into `queue` in repair mode (no transmission: the bytes become the queue's contents).
    private static func fill(_ fd: Int32, queue: Int32, _ bytes: [UInt8], _ name: TCPRestoreStep) throws(TCPRestoreError) {
        guard !bytes.isEmpty else { return }
        try tcpOption(fd, TCP_REPAIR_QUEUE, queue, name)
        var offset = 0
        var chunk = bytes.count
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, Swift.min(chunk, $0.count - offset), 0) }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 {
                // The kernel refuses one skb larger than it can charge at once: smaller pieces, as CRIU does.
                if chunk > 1024 {
                    chunk /= 2
                    continue
                }
                throw .failed(name, errno: sent < 0 ? errno : EIO)
            }
            offset += sent
        }
    }

    private static func step(_ name: TCPRestoreStep, _ body: () -> Int32) throws(TCPRestoreError) {
        do {
            try systemCall(name.rawValue, body)
        } catch {
            throw .failed(name, errno: error.errno)
        }
    }

    private static func option(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32, _ name: TCPRestoreStep) throws(TCPRestoreError) {
        var value = value
        try step(name) { setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    private static func tcpOption(_ fd: Int32, _ option: Int32, _ value: Int32, _ name: TCPRestoreStep) throws(TCPRestoreError) {
        try self.option(fd, Int32(IPPROTO_TCP), option, value, name)
    }
}
