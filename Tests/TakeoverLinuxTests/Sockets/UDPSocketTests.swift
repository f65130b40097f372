import Foundation
import Testing
import TakeoverCore
import TakeoverLab
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// Root tests of the UDP socket in a namespace lab (two hosts on a hub, IPv4 and IPv6 documentation addresses).
/// Sockets are opened on a thread inside each host's namespace and stay there.
@Suite(.serialized) struct UDPSocketTests {
    struct Lab {
        let lab: NetworkLab
        let one: LabInterface
        let two: LabInterface

        init(_ label: String) throws {
            lab = try NetworkLab(label)
            let hub = try lab.addHub()
            one = try lab.connect(try lab.addHost("one"), to: hub, addresses: ["192.0.2.1/24", "2001:db8::1/64"])
            two = try lab.connect(try lab.addHost("two"), to: hub, addresses: ["192.0.2.2/24", "2001:db8::2/64"])
        }

        func socket(on interface: LabInterface, _ address: String, port: UInt16, device: String? = "eth0") throws -> UDPSocket {
            try lab.withNamespace(of: interface.host) {
                try UDPSocket(bindingTo: SocketAddress(IPAddress(address)!, port: port), device: device, receiveBufferSize: 64 * 1024)
            }
        }
    }

    /// Polls `socket` until a datagram arrives (bounded).
    static func receive(_ socket: UDPSocket, into buffer: UnsafeMutableRawBufferPointer) throws -> ReceivedDatagram? {
        var poller = PollSet(fileDescriptors: [socket.fileDescriptor])
        for _ in 0..<20 {
            if case .done(let datagram) = try socket.receive(into: buffer) { return datagram }
            _ = try poller.wait(timeoutMilliseconds: 100)
        }
        return nil
    }

    @Test(arguments: [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")])
    func datagramsArriveWithTheirSource(addresses: (String, String)) throws {
        let setup = try Lab("udp")
        defer { setup.lab.teardown() }
        let sender = try setup.socket(on: setup.one, addresses.0, port: 0)
        let receiver = try setup.socket(on: setup.two, addresses.1, port: 7001)
        #expect(sender.localAddress.port != 0, "the kernel's port is reported")
        #expect(receiver.localAddress == SocketAddress(IPAddress(addresses.1)!, port: 7001))
        #expect(try receiver.receiveBufferSize() >= 64 * 1024)

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        guard case .wouldBlock = try receiver.receive(into: buffer) else {
            Issue.record("nothing was sent yet")
            return
        }
        let payload = Array("heartbeat".utf8)
        let sent = try payload.withUnsafeBytes { try sender.send($0, to: receiver.localAddress) }
        guard case .done(let count) = sent else { throw SystemCallError("send would block", errno: EAGAIN) }
        #expect(count == payload.count)
        let datagram = try #require(try Self.receive(receiver, into: buffer))
        #expect(datagram.length == payload.count && !datagram.truncated)
        #expect(datagram.source == sender.localAddress)
        #expect(Array(buffer[0..<datagram.length]) == payload)

        // Longer than the buffer: the kernel's length says so.
        let long = [UInt8](repeating: 0x55, count: 100)
        _ = try long.withUnsafeBytes { try sender.send($0, to: receiver.localAddress) }
        let truncated = try #require(try Self.receive(receiver, into: buffer))
        #expect(truncated.truncated && truncated.length == 64)
    }

    @Test func aSocketBoundToADownInterfaceCannotSendElsewhere() throws {
        let setup = try Lab("udpdev")
        defer { setup.lab.teardown() }
        let sender = try setup.socket(on: setup.one, "192.0.2.1", port: 7002)
        try setup.lab.setLink(setup.one, up: false)
        let payload: [UInt8] = [1, 2, 3]
        #expect(throws: SystemCallError.self) {
            _ = try payload.withUnsafeBytes { try sender.send($0, to: SocketAddress(.v4(IPv4Address(192, 0, 2, 2)), port: 7002)) }
        }
    }

    @Test func setupErrorsNameTheCall() throws {
        let setup = try Lab("udperr")
        defer { setup.lab.teardown() }
        let noDevice = #expect(throws: SystemCallError.self) { _ = try setup.socket(on: setup.one, "192.0.2.1", port: 0, device: "nosuch0") }
        #expect(noDevice?.call == "setsockopt(SO_BINDTODEVICE, nosuch0)")
        #expect(noDevice?.errno == ENODEV)
        let notOurs = #expect(throws: SystemCallError.self) { _ = try setup.socket(on: setup.one, "192.0.2.9", port: 0) }
        #expect(notOurs?.call == "bind(192.0.2.9:0)")
        #expect(notOurs?.errno == EADDRNOTAVAIL)
    }
}
