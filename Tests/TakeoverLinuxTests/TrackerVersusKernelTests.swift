import Foundation
import Glibc
import Testing
import TakeoverCore
import TakeoverLab
import TakeoverLinux

/// Root tests: a real kernel TCP connection between two lab hosts, captured with an AF_PACKET socket, fed to the
/// tracker, and compared with what the kernel itself holds for both sockets (read with TCP_REPAIR).
@Suite(.serialized) struct TrackerVersusKernelTests {
    enum Family: String, Sendable, CaseIterable { case ipv4, ipv6 }

    @Test(arguments: Family.allCases)
    func trackerAgreesWithTheKernel(_ family: Family) throws {
        let lab = try NetworkLab("trackerkv")
        defer { lab.teardown() }
        let (clientHost, serverHost) = (try lab.addHost("client"), try lab.addHost("server"))
        let hub = try lab.addHub()
        for (host, number) in [(clientHost, 1), (serverHost, 2)] {
            _ = try lab.connect(host, to: hub, addresses: ["198.51.100.\(number)/24", "2001:db8:1::\(number)/64"])
            // One MSS per frame on the wire, as a real NIC shows it (no GSO super-frames on the veth).
            try lab.runChecked(in: host, ["ip", "link", "set", "eth0", "gso_max_segs", "1", "gso_max_size", "1500"])
        }
        let (clientNamespace, serverNamespace) = (clientHost.namespace, serverHost.namespace)
        let serverAddress = family == .ipv4 ? "198.51.100.2" : "2001:db8:1::2"
        let port: UInt16 = 5002
        let capture = try PacketCapture(namespace: clientNamespace, interface: "eth0")
        let listener = try NetworkNamespace.run(in: serverNamespace) { try TestSocket.listen(serverAddress, port: port) }
        defer { close(listener) }
        let client = try NetworkNamespace.run(in: clientNamespace) { try TestSocket.connect(serverAddress, port: port) }
        defer { close(client) }
        let server = try TestSocket.accept(listener)
        defer { close(server) }

        // A few request/response rounds of different sizes (several segments each way).
        for (request, response) in [(3_000, 20_000), (100, 50), (70_000, 1)] {
            try TestSocket.write(client, count: request)
            try TestSocket.read(server, count: request)
            try TestSocket.write(server, count: response)
            try TestSocket.read(client, count: response)
        }
        usleep(300_000)  // delayed ACKs go out; the connection is quiet

        let clientKernel = try TCPRepair.snapshot(socket: client)
        let serverKernel = try TCPRepair.snapshot(socket: server)
        let frames = try capture.drain()
        #expect(frames.count > 20)

        var tracker = TCPTracker(capacity: 64)
        var clientToServer: FlowKey?
        for (index, frame) in frames.enumerated() {
            let parsed = try frame.withUnsafeBytes { bytes in try FrameParser.parse(bytes) }
            // Neighbour discovery and the like share the interface; only the TCP connection is tracked.
            guard let key = parsed.flow, let segment = parsed.tcp?.segment else { continue }
            clientToServer = clientToServer ?? key
            tracker.track(key, segment, at: MonotonicTime(nanoseconds: UInt64(index) * 1_000))
        }
        let key = try #require(clientToServer)
        #expect(key.destination == FlowAddress(try #require(IPAddress(serverAddress))))
        let tracked = tracker.session(for: key)
        let session = try #require(tracked)
        #expect(tracker.count == 1)
        #expect(session.key == key)
        #expect(session.state(.original) == .established && session.state(.reply) == .established)

        // Sequence space: each side's SND.NXT and RCV.NXT, exactly.
        #expect(session.sendNext(.original) == clientKernel.sendSequence)
        #expect(session.receiveNext(.original) == clientKernel.receiveSequence)
        #expect(session.sendNext(.reply) == serverKernel.sendSequence)
        #expect(session.receiveNext(.reply) == serverKernel.receiveSequence)
        #expect(session.original.acknowledgment == clientKernel.receiveSequence)
        #expect(session.reply.acknowledgment == serverKernel.receiveSequence)

        // Windows: what each side last advertised is what the other holds as its send window.
        #expect(session.advertisedWindow(.reply) == clientKernel.window.sendWindow)
        #expect(session.advertisedWindow(.original) == serverKernel.window.sendWindow)
        #expect(session.advertisedWindow(.original) == clientKernel.window.receiveWindow)
        #expect(session.advertisedWindow(.reply) == serverKernel.window.receiveWindow)

        // Options negotiated in the handshake.
        #expect(session.windowScalingActive == clientKernel.windowScaling)
        #expect(session.windowShift(.original) == clientKernel.receiveWindowScale)
        #expect(session.windowShift(.reply) == clientKernel.sendWindowScale)
        #expect(session.windowShift(.reply) == serverKernel.receiveWindowScale)
        #expect((session.original.sackPermitted && session.reply.sackPermitted) == clientKernel.sack)
        #expect(session.original.flags.contains(.timestamps) == clientKernel.timestamps)
        // tcpi_advmss is the MSS each side put in its SYN, less the 12 bytes every segment spends on the
        // timestamp option once timestamps are on.
        let timestampBytes: UInt32 = clientKernel.timestamps ? 12 : 0
        #expect(UInt32(session.original.mss) - timestampBytes == clientKernel.advertisedMSS)
        #expect(UInt32(session.reply.mss) - timestampBytes == serverKernel.advertisedMSS)

        // Reading in repair mode left the sockets working.
        try TestSocket.write(client, count: 10)
        try TestSocket.read(server, count: 10)
    }

    @Test func namespaceThreadSeesOnlyItsNamespace() throws {
        let lab = try NetworkLab("trackerns")
        defer { lab.teardown() }
        let (inside, other) = (try lab.addHost("inside"), try lab.addHost("other"))
        _ = try lab.connect(inside, to: try lab.addHub(), interface: "trk0", addresses: ["198.51.100.9/24"])
        let seenInside = try NetworkNamespace.run(in: inside.namespace) { if_nametoindex("trk0") }
        #expect(seenInside != 0)
        let seenElsewhere = try NetworkNamespace.run(in: other.namespace) { if_nametoindex("trk0") }
        #expect(seenElsewhere == 0)
        #expect(throws: SystemCallError.self) { try NetworkNamespace.run(in: "trk-no-such-namespace-\(getpid())") { 1 } }
        struct Marker: Error {}
        #expect(throws: Marker.self) { try NetworkNamespace.run(in: inside.namespace) { throw Marker() } }
    }
}

/// An AF_PACKET socket on one interface of a namespace: it receives every frame the interface sends and
/// receives, in order, into a large socket buffer that `drain()` empties. (In-process rather than tcpdump:
/// children spawned from the test runner's threads inherit a mask that blocks the signals that stop tcpdump.)
final class PacketCapture {
    private let descriptor: Int32
    private static let allProtocols = UInt16(0x0003).bigEndian  // ETH_P_ALL, network order

    init(namespace: String, interface: String) throws {
        descriptor = try NetworkNamespace.run(in: namespace) {
            let fd = try TestSocket.check(socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(Self.allProtocols)), "socket(AF_PACKET)")
            var bufferSize: Int32 = 16 << 20
            _ = try TestSocket.check(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufferSize, 4), "SO_RCVBUFFORCE")
            var address = LinkLayerAddress(
                family: UInt16(AF_PACKET), protocolNumber: Self.allProtocols, interfaceIndex: Int32(if_nametoindex(interface)))
            _ = try withUnsafePointer(to: &address) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try TestSocket.check(bind(fd, $0, socklen_t(MemoryLayout<LinkLayerAddress>.size)), "bind(AF_PACKET)")
                }
            }
            return fd
        }
    }

    /// Every frame captured so far, oldest first (bounded: at most 100 000 frames).
    func drain() throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while frames.count < 100_000 {
            let length = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if length < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                throw TestSocket.Failure(call: "recv(AF_PACKET)", errno: errno)
            }
            frames.append(Array(buffer[0..<length]))
        }
        return frames
    }

    deinit { close(descriptor) }
}

/// `struct sockaddr_ll` (<linux/if_packet.h>, 20 bytes), which Glibc's Swift module does not export.
struct LinkLayerAddress {
    var family: UInt16
    var protocolNumber: UInt16
    var interfaceIndex: Int32
    var hardwareType: UInt16 = 0
    var packetType: UInt8 = 0
    var addressLength: UInt8 = 0
    var address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
}

/// Blocking TCP sockets with 5 s timeouts, straight on Glibc (test scaffolding, not the engine).
enum TestSocket {
    struct Failure: Error { let call: String; let errno: Int32 }

    static func check(_ result: Int32, _ call: String) throws -> Int32 {
        if result < 0 { throw Failure(call: call, errno: errno) }
        return result
    }

    static func withAddress<R>(_ address: String, port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t, Int32) throws -> R) throws -> R {
        if address.contains(":") {
            var storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, address, &storage.sin6_addr) == 1 else { throw Failure(call: "inet_pton", errno: EINVAL) }
            return try withUnsafePointer(to: &storage) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size), AF_INET6) }
            }
        }
        var storage = sockaddr_in()
        storage.sin_family = sa_family_t(AF_INET)
        storage.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &storage.sin_addr) == 1 else { throw Failure(call: "inet_pton", errno: EINVAL) }
        return try withUnsafePointer(to: &storage) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size), AF_INET) }
        }
    }

    static func socket(_ family: Int32) throws -> Int32 {
        let fd = try check(Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = try check(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)), "SO_RCVTIMEO")
        _ = try check(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)), "SO_SNDTIMEO")
        return fd
    }

    static func listen(_ address: String, port: UInt16) throws -> Int32 {
        try withAddress(address, port: port) { pointer, length, family in
            let fd = try socket(family)
            var one: Int32 = 1
            _ = try check(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4), "SO_REUSEADDR")
            _ = try check(bind(fd, pointer, length), "bind")
            _ = try check(Glibc.listen(fd, 1), "listen")
            return fd
        }
    }

    static func connect(_ address: String, port: UInt16) throws -> Int32 {
        try withAddress(address, port: port) { pointer, length, family in
            let fd = try socket(family)
            _ = try check(Glibc.connect(fd, pointer, length), "connect")
            return fd
        }
    }

    static func accept(_ listener: Int32) throws -> Int32 {
        try check(Glibc.accept(listener, nil, nil), "accept")
    }

    static func write(_ fd: Int32, count: Int) throws {
        let bytes = [UInt8](repeating: 0x61, count: count)
        var sent = 0
        while sent < count {
            sent += try bytes.withUnsafeBytes { buffer in
                Int(try check(Int32(Glibc.send(fd, buffer.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL))), "send"))
            }
        }
    }

    static func read(_ fd: Int32, count: Int) throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var received = 0
        while received < count {
            let got = try check(Int32(recv(fd, &buffer, Swift.min(buffer.count, count - received), 0)), "recv")
            if got == 0 { throw Failure(call: "recv: peer closed", errno: 0) }
            received += Int(got)
        }
    }
}
