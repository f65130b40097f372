#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a handoff could not be sent or received.
public enum ResumeHandoffError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed: its name and errno.
    case system(call: String, errno: Int32)
    /// The message is not a version-1 handoff (see docs/resume.md): what was wrong.
    case malformed(String)
    /// The message came without exactly one socket attached.
    case missingSocket
    /// The path does not fit a Unix socket address (at most 107 bytes).
    case pathTooLong(String)

    public var description: String {
        switch self {
        case .system(let call, let errno): "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
        case .malformed(let reason): "malformed handoff message: \(reason)"
        case .missingSocket: "handoff message without exactly one socket"
        case .pathTooLong(let path): "Unix socket path too long: \(path)"
        }
    }
}

/// The handoff message's bytes (docs/resume.md): a fixed 80-byte header, big-endian, then the context bytes.
/// The socket travels beside it as SCM_RIGHTS ancillary data.
public enum ResumeHandoffMessage {
    public static let magic: UInt32 = 0x544B_5253  // "TKRS"
    public static let version: UInt8 = 1
    public static let headerLength = 80
    /// The largest message a receiver accepts (header and context).
    public static let maximumLength = 256 * 1024

    public static func encode(_ marker: ResumedSessionMarker, context: [UInt8]) -> [UInt8] {
        precondition(UInt32(context.count) == marker.contextLength, "context must span contextStart..<answerPoint")
        var bytes = [UInt8]()
        bytes.reserveCapacity(headerLength + context.count)
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        func putAddress(_ endpoint: ResumeEndpoint) {
            bytes.append(contentsOf: endpoint.address)
            bytes.append(contentsOf: repeatElement(0, count: 16 - endpoint.address.count))
        }
        put(magic)
        put(version)
        put(UInt8(marker.server.isIPv6 ? 6 : 4))
        put(UInt16(headerLength))
        putAddress(marker.server)
        putAddress(marker.client)
        put(marker.server.port)
        put(marker.client.port)
        for value in [
            marker.serverInitialSequence, marker.clientInitialSequence, marker.sendUnacknowledged, marker.sendNext,
            marker.contextStart, marker.answerPoint, marker.peerAcknowledged, marker.receiveNext,
            UInt32(context.count),
        ] { put(value) }
        bytes.append(contentsOf: context)
        return bytes
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ResumeHandoffError) -> (ResumedSessionMarker, [UInt8]) {
        guard bytes.count >= headerLength else { throw .malformed("\(bytes.count) bytes, shorter than the header") }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type = T.self) -> T {
            T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        guard get(0, UInt32.self) == magic else { throw .malformed("bad magic") }
        guard get(4, UInt8.self) == version else { throw .malformed("version \(get(4, UInt8.self))") }
        let family: UInt8 = get(5)
        guard family == 4 || family == 6 else { throw .malformed("address family \(family)") }
        let declaredHeader = Int(get(6, UInt16.self))
        guard declaredHeader >= headerLength, declaredHeader <= bytes.count else {
            throw .malformed("header length \(declaredHeader)")
        }
        let addressLength = family == 4 ? 4 : 16
        let server = ResumeEndpoint(address: Array(bytes[8..<(8 + addressLength)]), port: get(40))
        let client = ResumeEndpoint(address: Array(bytes[24..<(24 + addressLength)]), port: get(42))
        let marker = ResumedSessionMarker(
            server: server, client: client, serverInitialSequence: get(44), clientInitialSequence: get(48),
            sendUnacknowledged: get(52), sendNext: get(56), contextStart: get(60), answerPoint: get(64),
            peerAcknowledged: get(68), receiveNext: get(72))
        let contextLength = Int(get(76, UInt32.self))
        guard contextLength == Int(marker.contextLength) else {
            throw .malformed("context length \(contextLength) but answerPoint − contextStart = \(marker.contextLength)")
        }
        // A later version may grow the header: the context follows the declared header.
        guard declaredHeader + contextLength == bytes.count else {
            throw .malformed("\(bytes.count) bytes, header and context make \(declaredHeader + contextLength)")
        }
        return (marker, Array(bytes[declaredHeader...]))
    }
}

/// Room for one `cmsghdr` carrying one file descriptor (CMSG_SPACE(sizeof(int)) on 64-bit Linux).
private let controlSpace = MemoryLayout<cmsghdr>.size + MemoryLayout<Int>.size
private let controlLength = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size

private func withUnixAddress<R>(
    _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
) throws(ResumeHandoffError) -> R {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let utf8 = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard utf8.count < capacity else { throw .pathTooLong(path) }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: utf8)
        raw[utf8.count] = 0
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

private func check(_ result: Int, _ call: String) throws(ResumeHandoffError) -> Int {
    guard result >= 0 else { throw .system(call: call, errno: errno) }
    return result
}

/// The engine's side: sends rebuilt sockets to the service's `ResumedSessionReceiver` at `path`.
public final class ResumedSessionSender: @unchecked Sendable {
    // @unchecked: the descriptor is only used through sendmsg, which the kernel serialises.
    public let path: String
    private let descriptor: Int32

    public init(path: String) throws(ResumeHandoffError) {
        self.path = path
        _ = try withUnixAddress(path) { _, _ in () }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(call: "socket(AF_UNIX)", errno: errno) }
        // A service that stops reading must not hold the takeover up: a send waits at most this long, then fails
        // (and that connection falls back to a reset).
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Sends `socket` (a duplicate travels; the caller still owns and should close its own) with its marker and
    /// context. Waits at most a second while the receiver's queue is full.
    public func send(socket: Int32, marker: ResumedSessionMarker, context: [UInt8]) throws(ResumeHandoffError) {
        var message = ResumeHandoffMessage.encode(marker, context: context)
        var control = [UInt8](repeating: 0, count: controlSpace)
        let descriptor = self.descriptor
        let sent: Int = try withUnixAddress(path) { address, addressLength in
            message.withUnsafeMutableBytes { payload in
                control.withUnsafeMutableBytes { control in
                    let header = control.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                    header.pointee.cmsg_len = controlLength
                    header.pointee.cmsg_level = SOL_SOCKET
                    header.pointee.cmsg_type = Int32(SCM_RIGHTS)
                    control.storeBytes(of: socket, toByteOffset: MemoryLayout<cmsghdr>.size, as: Int32.self)
                    var vector = iovec(iov_base: payload.baseAddress, iov_len: payload.count)
                    return withUnsafeMutablePointer(to: &vector) { vector in
                        var header = msghdr(
                            msg_name: UnsafeMutableRawPointer(mutating: address), msg_namelen: addressLength,
                            msg_iov: vector, msg_iovlen: 1, msg_control: control.baseAddress,
                            msg_controllen: control.count, msg_flags: 0)
                        var result: Int
                        repeat { result = sendmsg(descriptor, &header, Int32(MSG_NOSIGNAL)) } while result < 0 && errno == EINTR
                        return result
                    }
                }
            }
        }
        _ = try check(sent, "sendmsg(\(path))")
    }
}

/// The service's side: a Unix datagram socket at `path` on which rebuilt connections arrive, one per message.
/// Poll `fileDescriptor` for input and call `receive()`; or call it blocking.
public final class ResumedSessionReceiver: @unchecked Sendable {
    // @unchecked: one thread receives at a time (the service's loop).
    public let path: String
    public let fileDescriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: ResumeHandoffMessage.maximumLength + 1)

    /// Binds `path` (replacing a stale socket left there, never another kind of file) with mode 0600: only the
    /// engine's user (root) may send.
    public init(path: String, nonBlocking: Bool = false) throws(ResumeHandoffError) {
        self.path = path
        var type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw .system(call: "socket(AF_UNIX)", errno: errno) }
        // Replace a socket left by an earlier run, never another kind of file.
        var status = stat()
        if lstat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
        let bound = try withUnixAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else {
            let error = errno
            close(fd)
            throw .system(call: "bind(\(path))", errno: error)
        }
        chmod(path, 0o600)
        var size: Int32 = Int32(4 * ResumeHandoffMessage.maximumLength)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4)
        fileDescriptor = fd
    }

    deinit {
        close(fileDescriptor)
        unlink(path)
    }

    /// The next rebuilt connection; `nil` when none is waiting on a non-blocking receiver. A malformed message
    /// is consumed and thrown (its socket, if any, closed).
    public func receive() throws(ResumeHandoffError) -> ResumedSession? {
        var control = [UInt8](repeating: 0, count: controlSpace * 2)
        let descriptor = fileDescriptor
        var flags: Int32 = 0
        let received: Int = buffer.withUnsafeMutableBytes { payload in
            control.withUnsafeMutableBytes { control in
                var vector = iovec(iov_base: payload.baseAddress, iov_len: payload.count)
                return withUnsafeMutablePointer(to: &vector) { vector in
                    var header = msghdr(
                        msg_name: nil, msg_namelen: 0, msg_iov: vector, msg_iovlen: 1,
                        msg_control: control.baseAddress, msg_controllen: control.count, msg_flags: 0)
                    var result: Int
                    repeat {
                        result = recvmsg(descriptor, &header, Int32(MSG_CMSG_CLOEXEC))
                    } while result < 0 && errno == EINTR
                    flags = header.msg_flags
                    return result
                }
            }
        }
        if received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return nil }
        let length = try check(received, "recvmsg(\(path))")
        // The passed descriptor, if the kernel delivered exactly one.
        var passed: Int32 = -1
        control.withUnsafeBytes { control in
            let header = control.baseAddress!.assumingMemoryBound(to: cmsghdr.self).pointee
            if header.cmsg_level == SOL_SOCKET && header.cmsg_type == Int32(SCM_RIGHTS) && header.cmsg_len == controlLength {
                passed = control.load(fromByteOffset: MemoryLayout<cmsghdr>.size, as: Int32.self)
            }
        }
        guard passed >= 0, flags & Int32(MSG_CTRUNC) == 0 else {
            if passed >= 0 { close(passed) }
            throw .missingSocket
        }
        guard flags & Int32(MSG_TRUNC) == 0, length <= ResumeHandoffMessage.maximumLength else {
            close(passed)
            throw .malformed("longer than \(ResumeHandoffMessage.maximumLength) bytes")
        }
        let decoded = buffer.withUnsafeBytes { bytes in
            Result { () throws(ResumeHandoffError) in
                try ResumeHandoffMessage.decode(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
            }
        }
        switch decoded {
        case .success(let (marker, context)): return ResumedSession(socket: passed, marker: marker, context: context)
        case .failure(let error):
            close(passed)
            throw error
        }
    }
}
