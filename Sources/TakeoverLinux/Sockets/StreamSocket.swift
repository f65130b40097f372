public import TakeoverCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who is at the other end of a Unix stream socket, as the kernel recorded it at `connect` (SO_PEERCRED):
/// not something the peer can claim, so it authenticates a local client.
public struct PeerCredentials: Hashable, Sendable {
    public var processID: Int32
    public var userID: UInt32
    public var groupID: UInt32
}

/// A stream socket (Unix or TCP): the control socket, its clients, and the metrics endpoint. Listening sockets
/// and the server's connections are non-blocking (a `poll` loop drives them); a client may switch to blocking
/// with a timeout. The descriptor is closed when the value is released (or by `close`).
public final class StreamSocket {
    public private(set) var fileDescriptor: Int32

    private init(fileDescriptor: Int32) { self.fileDescriptor = fileDescriptor }

    deinit { close() }

    public func close() {
        guard fileDescriptor >= 0 else { return }
        Glibc.close(fileDescriptor)
        fileDescriptor = -1
    }

    private static let streamKind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)

    // MARK: Unix

    /// The longest path `sockaddr_un` holds (107 bytes and the terminating NUL).
    public static let maximumUnixPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Listens on `path` for root only: the directory is created 0700 when missing (an existing one must
    /// belong to root and be writable by nobody else, or anyone could swap the socket), a stale socket left by
    /// an earlier run is removed (never any other kind of file, never one a live process listens on), and the
    /// socket is made 0600 before `listen`.
    public static func listenUnix(path: String, backlog: Int32 = 16) throws(SystemCallError) -> StreamSocket {
        guard path.utf8.count <= maximumUnixPathLength, path.hasPrefix("/") else {
            throw SystemCallError("control socket path \(path)", errno: ENAMETOOLONG)
        }
        let directory = String(path[..<path.lastIndex(of: "/")!])
        if !directory.isEmpty {
            try prepareDirectory(directory)
        }
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemCallError("\(path) exists and is not a socket; refusing to replace it", errno: EEXIST)
            }
            // A socket someone still listens on belongs to a running daemon: never take it over.
            if (try? connectUnix(path: path)) != nil {
                throw SystemCallError("another process listens on \(path)", errno: EADDRINUSE)
            }
            try systemCall("unlink(\(path))") { unlink(path) }
        }
        let descriptor = try systemCall("socket(AF_UNIX)") {
            socket(AF_UNIX, streamKind | Int32(SOCK_NONBLOCK.rawValue), 0)
        }
        let listening = StreamSocket(fileDescriptor: descriptor)
        try withUnixAddress(path) { (address, length) throws(SystemCallError) in
            _ = try systemCall("bind(\(path))") { bind(descriptor, address, length) }
        }
        try systemCall("chmod(\(path))") { chmod(path, 0o600) }
        try systemCall("listen(\(path))") { listen(descriptor, backlog) }
        return listening
    }

    /// Creates `directory` 0700 (parents as needed) or checks an existing one is root's and not writable by
    /// group or others.
    private static func prepareDirectory(_ directory: String) throws(SystemCallError) {
        var status = stat()
        if stat(directory, &status) != 0 {
            let parent = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            if !parent.isEmpty { try prepareDirectory(parent) }
            do {
                try systemCall("mkdir(\(directory))") { mkdir(directory, 0o700) }
            } catch where error.errno == EEXIST {}
            return
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw SystemCallError("\(directory) is not a directory", errno: ENOTDIR)
        }
        guard status.st_uid == geteuid(), status.st_mode & 0o022 == 0 else {
            throw SystemCallError(
                "\(directory) must belong to uid \(geteuid()) and not be writable by group or others", errno: EPERM)
        }
    }

    /// Connects to the Unix socket at `path` (blocking).
    public static func connectUnix(path: String) throws(SystemCallError) -> StreamSocket {
        guard path.utf8.count <= maximumUnixPathLength else {
            throw SystemCallError("socket path \(path)", errno: ENAMETOOLONG)
        }
        let descriptor = try systemCall("socket(AF_UNIX)") { socket(AF_UNIX, streamKind, 0) }
        let connection = StreamSocket(fileDescriptor: descriptor)
        try withUnixAddress(path) { (address, length) throws(SystemCallError) in
            _ = try systemCall("connect(\(path))") { connect(descriptor, address, length) }
        }
        return connection
    }

    private static func withUnixAddress(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemCallError) -> Void
    ) throws(SystemCallError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { pathBytes in
            for (index, byte) in path.utf8.enumerated() { pathBytes[index] = byte }
        }
        try withUnsafePointer(to: &address) { (pointer) throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (socketAddress) throws(SystemCallError) in
                try body(socketAddress, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// The connected peer's process, user and group (Unix sockets only).
    public func peerCredentials() throws(SystemCallError) -> PeerCredentials {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: Glibc's module map hides it (_GNU_SOURCE).
        var words: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: words))
        try systemCall("getsockopt(SO_PEERCRED)") { getsockopt(fileDescriptor, SOL_SOCKET, SO_PEERCRED, &words, &length) }
        return PeerCredentials(processID: words.0, userID: words.1, groupID: words.2)
    }

    // MARK: TCP

    /// Listens on `address` (non-blocking, SO_REUSEADDR so a restart does not wait out TIME_WAIT).
    public static func listenTCP(_ address: SocketAddress, backlog: Int32 = 16) throws(SystemCallError) -> StreamSocket {
        let descriptor = try systemCall("socket(TCP, \(address))") {
            socket(address.family, streamKind | Int32(SOCK_NONBLOCK.rawValue), Int32(IPPROTO_TCP))
        }
        let listening = StreamSocket(fileDescriptor: descriptor)
        var one: Int32 = 1
        try systemCall("setsockopt(SO_REUSEADDR)") {
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if address.family == AF_INET6 {
            try systemCall("setsockopt(IPV6_V6ONLY)") {
                setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        _ = try address.withSocketAddress { (pointer, length) throws(SystemCallError) in
            try systemCall("bind(\(address))") { bind(descriptor, pointer, length) }
        }
        try systemCall("listen(\(address))") { listen(descriptor, backlog) }
        return listening
    }

    /// Connects to `address` over TCP (blocking).
    public static func connectTCP(_ address: SocketAddress) throws(SystemCallError) -> StreamSocket {
        let descriptor = try systemCall("socket(TCP, \(address))") { socket(address.family, streamKind, Int32(IPPROTO_TCP)) }
        let connection = StreamSocket(fileDescriptor: descriptor)
        _ = try address.withSocketAddress { (pointer, length) throws(SystemCallError) in
            try systemCall("connect(\(address))") { connect(descriptor, pointer, length) }
        }
        return connection
    }

    /// The bound address of a TCP socket (the port the kernel chose for port 0).
    public func localAddress() throws(SystemCallError) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (socketAddress) throws(SystemCallError) in
                try systemCall("getsockname") { getsockname(fileDescriptor, socketAddress, &length) }
            }
        }
        return withUnsafeBytes(of: &storage) { SocketAddress($0.baseAddress!) }
    }

    // MARK: either

    /// A waiting connection, non-blocking; `.wouldBlock` when none is.
    public func accept() throws(SystemCallError) -> IOResult<StreamSocket> {
        // accept4 would set both flags at once, but Glibc's module map hides it (_GNU_SOURCE): a hook spawned
        // by another thread in the moment between accept and fcntl could inherit this descriptor.
        let result = try nonBlockingSystemCall("accept") { Glibc.accept(fileDescriptor, nil, nil) }
        guard case .done(let descriptor) = result else { return .wouldBlock }
        let connection = StreamSocket(fileDescriptor: descriptor)
        try systemCall("fcntl(F_SETFD)") { fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        try connection.setNonBlocking(true)
        return .done(connection)
    }

    /// Reads what is there into `buffer`: `.done(0)` at end of stream, `.wouldBlock` when nothing is (on a
    /// non-blocking socket).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        try nonBlockingSystemCall("read(socket)") { Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count) }
    }

    /// Writes what the socket takes now; `.wouldBlock` when its buffer is full.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        // MSG_NOSIGNAL: a client that went away is an EPIPE error, not a SIGPIPE that ends the daemon.
        try nonBlockingSystemCall("send(socket)") {
            send(fileDescriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        }
    }

    /// Writes all of `bytes`, waiting (in `poll`) for room at most `timeout` in all.
    public func writeAll(_ bytes: some Collection<UInt8>, timeout: Duration) throws(SystemCallError) {
        let deadline = MonotonicClock.now() + timeout.nanosecondsClamped
        let contiguous = Array(bytes)
        var offset = 0
        while offset < contiguous.count {
            let result = try contiguous.withUnsafeBytes { buffer in
                Result { () throws(SystemCallError) in try write(UnsafeRawBufferPointer(rebasing: buffer[offset...])) }
            }.get()
            switch result {
            case .done(let written): offset += written
            case .wouldBlock: try waitUntil(POLLOUT, deadline: deadline)
            }
        }
    }

    /// Waits for `events` (POLLIN, POLLOUT) until `deadline`; ETIMEDOUT when it passes.
    public func waitUntil(_ events: Int32, deadline: MonotonicTime) throws(SystemCallError) {
        let now = MonotonicClock.now()
        guard now < deadline else { throw SystemCallError("poll(socket)", errno: ETIMEDOUT) }
        var entry = pollfd(fd: fileDescriptor, events: Int16(events), revents: 0)
        let milliseconds = Int32(clamping: (deadline.nanoseconds(since: now) + 999_999) / 1_000_000)
        let ready = try systemCall("poll(socket)") { poll(&entry, 1, milliseconds) }
        if ready == 0 { throw SystemCallError("poll(socket)", errno: ETIMEDOUT) }
    }

    /// Switches between blocking and non-blocking mode.
    public func setNonBlocking(_ nonBlocking: Bool) throws(SystemCallError) {
        let flags = try systemCall("fcntl(F_GETFL)") { fcntl(fileDescriptor, F_GETFL) }
        try systemCall("fcntl(F_SETFL)") {
            fcntl(fileDescriptor, F_SETFL, nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
        }
    }

    /// No more writes from us: the peer reads end of stream after what was sent.
    public func shutdownWrite() {
        _ = Glibc.shutdown(fileDescriptor, Int32(SHUT_WR))
    }
}

extension Duration {
    /// Whole nanoseconds, 0 for negative durations, saturating at `UInt64.max`.
    fileprivate var nanosecondsClamped: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}
