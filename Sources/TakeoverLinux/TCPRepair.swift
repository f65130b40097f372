#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The window state `TCP_REPAIR_WINDOW` reports (`struct tcp_repair_window`, include/uapi/linux/tcp.h).
/// All in bytes, already scaled.
public struct TCPRepairWindow: Sendable, Equatable {
    /// Sequence of the segment that last updated `sendWindow` (SND.WL1).
    public var sendWindowUpdateSequence: UInt32
    /// The peer's advertised receive window, as this socket holds it (SND.WND).
    public var sendWindow: UInt32
    /// Largest window the peer ever advertised.
    public var maximumWindow: UInt32
    /// The receive window this socket last advertised (RCV.WND).
    public var receiveWindow: UInt32
    /// RCV.NXT at the time `receiveWindow` was advertised (RCV.WUP).
    public var receiveWindowUpdate: UInt32

    public init(sendWindowUpdateSequence: UInt32 = 0, sendWindow: UInt32 = 0, maximumWindow: UInt32 = 0, receiveWindow: UInt32 = 0, receiveWindowUpdate: UInt32 = 0) {
        self.sendWindowUpdateSequence = sendWindowUpdateSequence
        self.sendWindow = sendWindow
        self.maximumWindow = maximumWindow
        self.receiveWindow = receiveWindow
        self.receiveWindowUpdate = receiveWindowUpdate
    }
}

/// What the kernel holds for one connected TCP socket: the state a rebuilt socket needs, and what the tracker
/// must agree with.
public struct TCPRepairSnapshot: Sendable, Equatable {
    /// The send queue's sequence: the sequence number after the last byte written (write_seq). Equals SND.NXT
    /// when nothing written is still waiting to be sent.
    public var sendSequence: UInt32
    /// The receive queue's sequence: RCV.NXT, the next sequence number expected from the peer.
    public var receiveSequence: UInt32
    public var window: TCPRepairWindow
    /// tcpi_advmss: the MSS this socket advertised in its SYN, less the 12 bytes of the timestamp option when
    /// timestamps were negotiated (the kernel deducts them once the handshake completes).
    public var advertisedMSS: UInt32
    /// Window-scale shifts in use: applied to the peer's windows (`send`) and to ours (`receive`); 0 when off.
    public var sendWindowScale: UInt8
    public var receiveWindowScale: UInt8
    /// Options negotiated in the handshake (tcpi_options).
    public var timestamps: Bool
    public var sack: Bool
    public var windowScaling: Bool
}

/// Reading a live socket's sequence and window state with `TCP_REPAIR` (Linux ≥ 3.5; needs CAP_NET_ADMIN in
/// the socket's network namespace). Repair mode is left without sending a window probe, so reading is
/// invisible on the wire.
public enum TCPRepair {
    // Values from include/uapi/linux/tcp.h, spelled here so this file needs only Glibc.
    static let repairOn: Int32 = 1
    static let repairOffWithoutWindowProbe: Int32 = -1
    static let receiveQueue: Int32 = 1
    static let sendQueue: Int32 = 2
    static let tcpInfoOptionTimestamps: UInt8 = 1
    static let tcpInfoOptionSACK: UInt8 = 2
    static let tcpInfoOptionWindowScale: UInt8 = 4

    /// Puts `socket` in repair mode, reads both queue sequences, the window and the negotiated options, and
    /// leaves repair mode again (also when a read fails).
    public static func snapshot(socket: Int32) throws(SystemCallError) -> TCPRepairSnapshot {
        try setOption(socket, TCP_REPAIR, repairOn, name: "setsockopt(TCP_REPAIR, on)")
        do {
            let snapshot = try readInRepairMode(socket)
            try setOption(socket, TCP_REPAIR, repairOffWithoutWindowProbe, name: "setsockopt(TCP_REPAIR, off)")
            return snapshot
        } catch {
            _ = try? setOption(socket, TCP_REPAIR, repairOffWithoutWindowProbe, name: "setsockopt(TCP_REPAIR, off)")
            throw error
        }
    }

    private static func readInRepairMode(_ socket: Int32) throws(SystemCallError) -> TCPRepairSnapshot {
        try setOption(socket, TCP_REPAIR_QUEUE, sendQueue, name: "setsockopt(TCP_REPAIR_QUEUE, send)")
        let sendSequence: UInt32 = try getOption(socket, TCP_QUEUE_SEQ, name: "getsockopt(TCP_QUEUE_SEQ, send)")
        try setOption(socket, TCP_REPAIR_QUEUE, receiveQueue, name: "setsockopt(TCP_REPAIR_QUEUE, receive)")
        let receiveSequence: UInt32 = try getOption(socket, TCP_QUEUE_SEQ, name: "getsockopt(TCP_QUEUE_SEQ, receive)")
        // struct tcp_repair_window: five u32, in field order.
        let raw: (UInt32, UInt32, UInt32, UInt32, UInt32) = try getOption(socket, TCP_REPAIR_WINDOW, name: "getsockopt(TCP_REPAIR_WINDOW)")
        let info = try tcpInfo(socket)
        return TCPRepairSnapshot(
            sendSequence: sendSequence, receiveSequence: receiveSequence,
            window: TCPRepairWindow(
                sendWindowUpdateSequence: raw.0, sendWindow: raw.1, maximumWindow: raw.2, receiveWindow: raw.3,
                receiveWindowUpdate: raw.4),
            advertisedMSS: info.advertisedMSS, sendWindowScale: info.wscale & 0x0F, receiveWindowScale: info.wscale >> 4,
            timestamps: info.options & tcpInfoOptionTimestamps != 0, sack: info.options & tcpInfoOptionSACK != 0,
            windowScaling: info.options & tcpInfoOptionWindowScale != 0)
    }

    /// The few `struct tcp_info` fields read here, by their fixed offsets in the kernel ABI (the struct only
    /// ever grows at the end): tcpi_options at byte 5, the two 4-bit window scales at byte 6 (send in the low
    /// nibble), tcpi_advmss at byte 84.
    private static func tcpInfo(_ socket: Int32) throws(SystemCallError) -> (options: UInt8, wscale: UInt8, advertisedMSS: UInt32) {
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                     UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 96 bytes
        var length = socklen_t(MemoryLayout.size(ofValue: bytes))
        _ = try withUnsafeMutableBytes(of: &bytes) { buffer throws(SystemCallError) in
            try systemCall("getsockopt(TCP_INFO)") {
                getsockopt(socket, Int32(IPPROTO_TCP), TCP_INFO, buffer.baseAddress, &length)
            }
        }
        guard length >= 88 else { throw SystemCallError("getsockopt(TCP_INFO) short", errno: EINVAL) }
        return withUnsafeBytes(of: &bytes) { buffer in
            (buffer[5], buffer[6], buffer.loadUnaligned(fromByteOffset: 84, as: UInt32.self))
        }
    }

    private static func setOption(_ socket: Int32, _ option: Int32, _ value: Int32, name: String) throws(SystemCallError) {
        var value = value
        try systemCall(name) {
            setsockopt(socket, Int32(IPPROTO_TCP), option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    private static func getOption<Value: BitwiseCopyable>(_ socket: Int32, _ option: Int32, name: String) throws(SystemCallError) -> Value {
        var value = unsafe_zeroed(Value.self)
        var length = socklen_t(MemoryLayout<Value>.size)
        try systemCall(name) { getsockopt(socket, Int32(IPPROTO_TCP), option, &value, &length) }
        return value
    }

    private static func unsafe_zeroed<Value: BitwiseCopyable>(_ type: Value.Type) -> Value {
        withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { buffer in
            UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
            return buffer[0]
        }
    }
}
