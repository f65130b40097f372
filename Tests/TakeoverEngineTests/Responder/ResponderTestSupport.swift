import Foundation
import Synchronization
import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#endif

/// The engine's clock: what the responder stamps its status with.
func monotonicNow() -> MonotonicTime { MonotonicClock.now() }

/// A packet port a test feeds and reads from another thread: frames `inject`ed come out of `receive`; frames
/// transmitted are kept with the moment they were submitted. Waits really wait (in short sleeps, bounded by
/// the timeout), so the loop under test does not spin.
final class ScriptedPort: PacketSource, PacketSink, Sendable {
    typealias ReceiveError = Never
    typealias TransmitError = Never

    struct Sent: Sendable {
        var bytes: [UInt8]
        var at: MonotonicTime
    }

    private struct State {
        var inbound: [[UInt8]] = []
        var sent: [Sent] = []
        var received: UInt64 = 0
        var flushes = 0
        /// Transmit reports `.noBufferAvailable` while this is above zero, counting down.
        var refusals = 0
    }

    private let state = Mutex(State())
    let maximumFrameLength = 1518

    func inject(_ frame: [UInt8]) { state.withLock { $0.inbound.append(frame) } }
    func refuseNextTransmits(_ count: Int) { state.withLock { $0.refusals = count } }
    var sent: [Sent] { state.withLock { $0.sent } }
    var flushes: Int { state.withLock { $0.flushes } }

    func waitForFrames(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if state.withLock({ !$0.inbound.isEmpty }) { return true }
            if ContinuousClock.now >= deadline { return false }
            usleep(100)
        }
    }

    func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) -> Int {
        let batch = state.withLock { state -> [[UInt8]] in
            let taken = Array(state.inbound.prefix(limit))
            state.inbound.removeFirst(taken.count)
            state.received += UInt64(taken.count)
            return taken
        }
        for frame in batch {
            frame.withUnsafeBytes { handler(ReceivedFrame(bytes: $0, wireLength: $0.count, timestamp: monotonicNow())) }
        }
        return batch.count
    }

    func statistics() -> PacketSourceStatistics { PacketSourceStatistics(received: state.withLock { $0.received }) }

    func transmit(_ build: (UnsafeMutableRawBufferPointer) -> Int) -> TransmitOutcome {
        let refused = state.withLock { state -> Bool in
            guard state.refusals > 0 else { return false }
            state.refusals -= 1
            return true
        }
        if refused { return .noBufferAvailable }
        var buffer = [UInt8](repeating: 0, count: maximumFrameLength)
        let length = buffer.withUnsafeMutableBytes { build($0) }
        guard length > 0 else { return .abandoned }
        let frame = Sent(bytes: Array(buffer[..<length]), at: monotonicNow())
        state.withLock { $0.sent.append(frame) }
        return .submitted(length: length)
    }

    func flush() { state.withLock { $0.flushes += 1 } }
}

/// What a test needs to know of a frame the responder sent, read with the core's own parser.
struct SentFrame: CustomStringConvertible {
    var destination: MACAddress
    var source: MACAddress
    var arp: ARPSummary?
    var advertisement: NeighborDiscoverySummary?
    var ipDestination: FlowAddress?
    var at: MonotonicTime

    init?(_ sent: ScriptedPort.Sent) {
        guard let frame = sent.bytes.withUnsafeBytes({ try? FrameParser.parse($0) }) else { return nil }
        destination = frame.destination
        source = frame.source
        arp = frame.arp
        if case .neighborAdvertisement(let summary) = frame.transport { advertisement = summary }
        ipDestination = frame.ip?.destination
        at = sent.at
    }

    var isGratuitousARP: Bool {
        guard let arp else { return false }
        return destination == .broadcast && arp.senderProtocolAddress == arp.targetProtocolAddress
    }

    var description: String {
        if let arp { return "ARP op \(arp.operation) \(arp.senderProtocolAddress) → \(destination)" }
        if let advertisement { return "NA \(advertisement.target) flags \(advertisement.flags) → \(destination)" }
        return "frame → \(destination)"
    }
}

/// Polls `condition` every millisecond until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}
