import Foundation
public import TakeoverCore
public import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A bounded UDP flood of our own (xdp-trafficgen 1.3.1 does not run on this kernel): prebuilt IPv4/UDP
/// frames sent from an AF_PACKET socket with `sendmmsg`, a batch per system call, straight to the device.
///
/// Bounded by a frame count and a duration, whichever ends first; optionally paced to a rate. Addresses
/// must be in the documentation ranges. Each frame carries a 64-bit sequence number at the start of its UDP
/// payload, and flows rotate the UDP source port, so a receiver can count and check what arrived. The UDP
/// checksum is 0 (allowed for IPv4), so the per-frame edits need no checksum update.
///
/// The socket belongs to the calling thread's network namespace: run it inside `NetworkLab.withNamespace`.
public enum TrafficGenerator {
    public struct Configuration: Sendable {
        public var interface: String
        public var sourceMAC: MACAddress
        public var destinationMAC: MACAddress
        public var sourceIP: IPv4Address
        public var destinationIP: IPv4Address
        /// Flows rotate the source port through `sourcePort ..< sourcePort + flowCount`.
        public var sourcePort: UInt16
        public var destinationPort: UInt16
        public var flowCount: Int
        /// Frame length without the FCS, at least 60 (the Ethernet minimum) and at most 1514.
        public var frameLength: Int
        public var maximumFrames: Int
        public var maximumDuration: Duration
        /// `nil`: as fast as the socket takes them.
        public var framesPerSecond: Int?
        /// Frames per `sendmmsg`.
        public var batchSize: Int

        public init(
            interface: String, sourceMAC: MACAddress, destinationMAC: MACAddress, sourceIP: IPv4Address,
            destinationIP: IPv4Address, sourcePort: UInt16 = 40_000, destinationPort: UInt16 = 9,
            flowCount: Int = 1, frameLength: Int = 60, maximumFrames: Int, maximumDuration: Duration,
            framesPerSecond: Int? = nil, batchSize: Int = 64
        ) {
            self.interface = interface
            self.sourceMAC = sourceMAC
            self.destinationMAC = destinationMAC
            self.sourceIP = sourceIP
            self.destinationIP = destinationIP
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.flowCount = flowCount
            self.frameLength = frameLength
            self.maximumFrames = maximumFrames
            self.maximumDuration = maximumDuration
            self.framesPerSecond = framesPerSecond
            self.batchSize = batchSize
        }
    }

    public struct Report: Sendable, CustomStringConvertible {
        /// Frames the kernel accepted.
        public var framesSent: Int
        /// `sendmmsg` calls that failed with a transient error (ENOBUFS, EAGAIN): the batch was retried.
        public var transientErrors: Int
        public var seconds: Double
        public var framesPerSecond: Double { seconds > 0 ? Double(framesSent) / seconds : 0 }

        public var description: String {
            "sent \(framesSent) frames in \(String(format: "%.3f", seconds)) s "
                + "(\(Int(framesPerSecond)) frames/s), \(transientErrors) transient send errors"
        }
    }

    public enum GeneratorError: Error, CustomStringConvertible {
        case invalidConfiguration(String)
        case system(SystemCallError)

        public var description: String {
            switch self {
            case .invalidConfiguration(let what): "traffic generator: \(what)"
            case .system(let error): "traffic generator: \(error)"
            }
        }
    }

    /// UDP payload offset in the frame: Ethernet 14 + IPv4 20 + UDP 8.
    public static let sequenceOffset = 42
    private static let sourcePortOffset = 34

    /// Writes the frame template: Ethernet II, IPv4 (DF, TTL 64, checksum set), UDP (checksum 0), zero payload.
    public static func writeTemplate(_ configuration: Configuration, into frame: UnsafeMutableRawBufferPointer) {
        let length = configuration.frameLength
        frame.initializeMemory(as: UInt8.self, repeating: 0)
        configuration.destinationMAC.write(to: frame, at: 0)
        configuration.sourceMAC.write(to: frame, at: 6)
        frame.storeBigEndian(EtherType.ipv4, at: 12)
        frame.storeBigEndian(UInt8(0x45), at: 14)
        frame.storeBigEndian(UInt16(length - 14), at: 16)  // total length
        frame.storeBigEndian(UInt16(0x4000), at: 20)  // don't fragment
        frame.storeBigEndian(UInt8(64), at: 22)
        frame.storeBigEndian(IPProtocolNumber.udp, at: 23)
        frame.storeBigEndian(configuration.sourceIP.rawValue, at: 26)
        frame.storeBigEndian(configuration.destinationIP.rawValue, at: 30)
        let header = UnsafeRawBufferPointer(rebasing: frame[14..<34])
        frame.storeBigEndian(InternetChecksum.checksum(of: header), at: 24)
        frame.storeBigEndian(configuration.sourcePort, at: sourcePortOffset)
        frame.storeBigEndian(configuration.destinationPort, at: 36)
        frame.storeBigEndian(UInt16(length - 34), at: 38)  // UDP length
    }

    /// Floods until `maximumFrames` are sent or `maximumDuration` passes.
    public static func run(_ configuration: Configuration) throws(GeneratorError) -> Report {
        try validate(configuration)
        let batch = configuration.batchSize
        let length = configuration.frameLength
        let descriptor = try openSocket(interface: configuration.interface)
        defer { _ = try? systemCall("close") { close(descriptor) } }

        // One frame buffer, iovec, msghdr and mmsghdr per batch slot, all allocated once.
        let frames = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * length, alignment: 64)
        defer { frames.deallocate() }
        let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: batch)
        defer { vectors.deallocate() }
        // struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; } (glibc declares it only under
        // _GNU_SOURCE, which Swift's Glibc module lacks), laid out by hand.
        let messageStride = (MemoryLayout<msghdr>.size + 4 + 7) & ~7
        let messages = UnsafeMutableRawPointer.allocate(byteCount: batch * messageStride, alignment: 8)
        defer { messages.deallocate() }
        for slot in 0..<batch {
            let frame = UnsafeMutableRawBufferPointer(rebasing: frames[slot * length..<(slot + 1) * length])
            writeTemplate(configuration, into: frame)
            vectors[slot] = iovec(iov_base: frame.baseAddress, iov_len: length)
            var header = msghdr()
            header.msg_iov = vectors + slot
            header.msg_iovlen = 1
            messages.storeBytes(of: header, toByteOffset: slot * messageStride, as: msghdr.self)
            messages.storeBytes(
                of: UInt32(0), toByteOffset: slot * messageStride + MemoryLayout<msghdr>.size, as: UInt32.self)
        }

        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: configuration.maximumDuration)
        var sent = 0
        var transientErrors = 0
        var rounds = 0
        while sent < configuration.maximumFrames, clock.now < deadline {
            rounds += 1
            let count = min(batch, configuration.maximumFrames - sent)
            for slot in 0..<count {
                let sequence = UInt64(sent + slot)
                let frame = UnsafeMutableRawBufferPointer(rebasing: frames[slot * length..<(slot + 1) * length])
                frame.storeBigEndian(sequence, at: sequenceOffset)
                let flow = UInt16(truncatingIfNeeded: Int(sequence % UInt64(configuration.flowCount)))
                frame.storeBigEndian(configuration.sourcePort &+ flow, at: sourcePortOffset)
            }
            let result: IOResult<Int32>
            do {
                result = try nonBlockingSystemCall("sendmmsg") {
                    linuxSendMultipleMessages(descriptor, messages, UInt32(count), 0)
                }
            } catch  where error.errno == ENOBUFS {
                result = .wouldBlock
            } catch {
                throw .system(error)
            }
            switch result {
            case .done(let accepted):
                sent += Int(accepted)
            case .wouldBlock:
                transientErrors += 1
                usleep(50)
            }
            if let rate = configuration.framesPerSecond {
                // Sleep until the next frame is due: frame n leaves at start + n / rate.
                let due = start.advanced(by: .nanoseconds(Int64(Double(sent) / Double(rate) * 1e9)))
                let now = clock.now
                if due > now { Thread.sleep(forTimeInterval: (due - now).seconds) }
            }
        }
        return Report(framesSent: sent, transientErrors: transientErrors, seconds: (clock.now - start).seconds)
    }

    private static func validate(_ configuration: Configuration) throws(GeneratorError) {
        for address in [configuration.sourceIP, configuration.destinationIP] {
            do {
                _ = try NetworkLab.parseTestNetAddress("\(address)/32")
            } catch {
                throw .invalidConfiguration("\(address) is outside the documentation ranges")
            }
        }
        guard (60...1514).contains(configuration.frameLength) else {
            throw .invalidConfiguration("frame length \(configuration.frameLength) outside 60...1514")
        }
        guard configuration.batchSize > 0, configuration.batchSize <= 1024, configuration.flowCount > 0,
            configuration.flowCount <= 65536 - Int(configuration.sourcePort), configuration.maximumFrames >= 0,
            (configuration.framesPerSecond ?? 1) > 0
        else { throw .invalidConfiguration("batch size, flow count, frame count or rate out of range") }
    }

    /// A send-only AF_PACKET socket bound to `interface` (protocol 0: it receives nothing).
    static func openSocket(interface: String) throws(GeneratorError) -> Int32 {
        do throws(SystemCallError) {
            let index = try systemCall("if_nametoindex(\(interface))") { () -> Int32 in
                let index = if_nametoindex(interface)
                return index == 0 ? -1 : Int32(bitPattern: index)
            }
            let descriptor = try systemCall("socket(AF_PACKET)") { socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0) }
            // struct sockaddr_ll (linux/if_packet.h, which Swift's Glibc module does not include): family u16
            // at 0, protocol be16 at 2 (0: send only), ifindex i32 at 4, then hatype, pkttype, halen, addr[8].
            var address = [UInt8](repeating: 0, count: 20)
            address.withUnsafeMutableBytes { bytes in
                bytes.storeBytes(of: UInt16(AF_PACKET), toByteOffset: 0, as: UInt16.self)
                bytes.storeBytes(of: index, toByteOffset: 4, as: Int32.self)
            }
            do {
                try systemCall("bind(AF_PACKET, \(interface))") {
                    address.withUnsafeBytes { bytes in
                        bind(
                            descriptor, bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                            socklen_t(bytes.count))
                    }
                }
            } catch {
                _ = try? systemCall("close") { close(descriptor) }
                throw error
            }
            return descriptor
        } catch {
            throw .system(error)
        }
    }
}

/// glibc's `sendmmsg(2)`: `int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)`, bound by
/// its C symbol because Swift's Glibc module does not declare it (it is under _GNU_SOURCE).
@_silgen_name("sendmmsg")
private func linuxSendMultipleMessages(
    _ descriptor: Int32, _ messages: UnsafeMutableRawPointer, _ count: UInt32, _ flags: Int32
) -> Int32

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
