import Foundation
public import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// The service under test: a UDP echo and a TCP echo on one port, with the kernel's own sockets, opened inside a
/// lab host's namespace (the sockets live there; the serving thread is ours). The failover lab runs one on each
/// server: it answers on every address its host has, so it serves the group address exactly while its host holds it.
///
/// With `tcp: false` it serves UDP only (the failover lab then runs `takeover-resume-demo` for TCP, which also
/// takes the connections the standby resumes).
///
/// `stop()` closes every socket at once, as the death of the service process would: established TCP connections
/// are closed by the kernel, later datagrams meet a closed port.
public final class EchoService: @unchecked Sendable {
    public let port: UInt16
    private var udp: UDPSocket?
    private let listener: Int32
    private var thread: StoppableThread?

    /// Opens the sockets in `host`'s namespace and starts serving. With `udpAddress` the UDP echo is bound to that
    /// address (free bind: the host need not have it yet), so it answers only while the host holds it and its
    /// answers come from it, as a client that checks the source wants; otherwise it answers on every address, each
    /// answer from the address the kernel's route picks.
    public init(lab: NetworkLab, host: LabHost, port: UInt16, tcp: Bool = true, udpAddress: IPAddress? = nil) throws {
        self.port = port
        let (udp, listener) = try lab.withNamespace(of: host) { () throws -> (UDPSocket, Int32) in
            let udp = try UDPSocket(
                bindingTo: SocketAddress(udpAddress ?? .v4(IPv4Address(0, 0, 0, 0)), port: port), freeBind: udpAddress != nil)
            return (udp, tcp ? try LabTCP.listen(port: port) : -1)
        }
        self.udp = udp
        self.listener = listener
        let descriptors = (udp: udp.fileDescriptor, listener: listener)
        thread = StoppableThread(name: "lab-echo-\(host.name)") { control in
            Self.serve(udp: descriptors.udp, listener: descriptors.listener, control: control)
        }
    }

    deinit { stop() }

    /// Stops serving and closes every socket (idempotent).
    public func stop() {
        guard let thread else { return }
        self.thread = nil
        thread.stop()
        if listener >= 0 { close(listener) }
        udp = nil
    }

    private static func serve(udp: Int32, listener: Int32, control: StoppableThread) {
        var connections: [Int32] = []
        defer { for connection in connections { close(connection) } }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !control.isStopRequested {
            let polled = connections
            var poll = PollSet(fileDescriptors: [udp, listener] + polled)
            guard (try? poll.wait(timeoutMilliseconds: 20)) != nil else { continue }
            if poll.isReady(0) {
                // Echo every queued datagram back to its sender (bounded per wake-up).
                for _ in 0..<256 {
                    var source = sockaddr_storage()
                    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    let received = buffer.withUnsafeMutableBytes { bytes in
                        withUnsafeMutablePointer(to: &source) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                recvfrom(udp, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, &length)
                            }
                        }
                    }
                    // A stopped service answers nothing more, even before its thread notices.
                    guard received >= 0, !control.isStopRequested else { break }
                    _ = buffer.withUnsafeBytes { bytes in
                        withUnsafePointer(to: &source) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                sendto(udp, bytes.baseAddress, received, Int32(MSG_DONTWAIT), $0, length)
                            }
                        }
                    }
                }
            }
            if poll.isReady(1) {
                let accepted = accept(listener, nil, nil)
                if accepted >= 0 {
                    _ = fcntl(accepted, F_SETFL, fcntl(accepted, F_GETFL) | O_NONBLOCK)
                    _ = try? LabTCP.setOption(accepted, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                    connections.append(accepted)
                }
            }
            var closed: [Int32] = []
            for (index, connection) in polled.enumerated() where poll.isReady(index + 2) {
                let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
                if count == 0 || (count < 0 && errno != EAGAIN) {
                    closed.append(connection)
                    continue
                }
                guard count > 0, !control.isStopRequested else { continue }
                // Echo all of it; the client's stream is small, so a full send buffer means a dead peer.
                var offset = 0
                while offset < count {
                    let written = buffer.withUnsafeBytes { write(connection, $0.baseAddress! + offset, count - offset) }
                    guard written > 0 else { break }
                    offset += written
                }
                if offset < count { closed.append(connection) }
            }
            for connection in closed {
                close(connection)
                connections.removeAll { $0 == connection }
            }
        }
    }
}
