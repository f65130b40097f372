import FoundationEssentials
import Logging
import TakeoverCore
import TakeoverLinux

/// One `capture` request, on its own thread: opens a libpcap capture per planned interface with the engine's
/// filter, and reads the AF_XDP tracker's tap where there is one (the frames the XDP program redirects never
/// reach libpcap), sends the reply line (the interfaces), then one line per frame, then the end line. It stops at the
/// frame limit, at the duration, when the client hangs up or falls `ControlLimits.replyTimeout` behind, or
/// when the server shuts down. The captures are separate from the engine's own sockets: a slow client never
/// slows the data plane, it only loses its own frames (counted in the end line).
struct CaptureStreamer: Sendable {
    let plan: CapturePlan
    let socket: Handoff<StreamSocket>
    let frameLimit: Int?
    let duration: Duration?
    let stopRequested: StopFlag
    let log: Logger

    static let snapLength = 65535
    /// Opened while the controller runs: a ring small enough that allocating it cannot delay our heartbeats by a
    /// failure window (`PcapCaptureConfiguration.bufferSize`); the streamer drains it at once.
    static let ringSize = 1 << 20

    func run() {
        let connection = socket.value
        defer { connection.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var captures: [PcapCapture] = []
        defer { captures.forEach { $0.close() } }
        do {
            for (name, filter) in plan.interfaces {
                let capture = try PcapCapture(
                    PcapCaptureConfiguration(
                        interface: name, snapshotLength: Self.snapLength, bufferSize: Self.ringSize, delivery: .immediate))
                try capture.setFilter(filter)
                captures.append(capture)
            }
        } catch {
            send(ControlReply.failure(ControlError(.failed, "capture: \(error)")), encoder, connection)
            return
        }
        // (interface index, reader, tap, its drops before this capture)
        var taps: [(index: Int, reader: FrameInboxReader, tap: CaptureTap, droppedBefore: UInt64)] = []
        defer { taps.forEach { $0.tap.end() } }
        for (index, name) in plan.names.enumerated() {
            guard let tap = plan.taps[name] else { continue }
            guard let reader = tap.begin() else {
                send(
                    ControlReply.failure(
                        ControlError(.failed, "capture: another capture is reading \(name)'s AF_XDP frames; try again when it ends")),
                    encoder, connection)
                return
            }
            taps.append((index, reader, tap, tap.counters.droppedFull))
        }
        let header = CaptureHeader(
            interfaces: plan.interfaces.map {
                .init(name: $0.name, linkType: PcapLinkType.ethernet.rawValue, snapLength: UInt32(Self.snapLength), filter: $0.filter)
            })
        guard send(ControlReply(capture: header), encoder, connection) else { return }

        let started = MonotonicClock.now()
        let deadline = duration.map { started + $0.wholeNanoseconds }
        let realtimeOffset = RealtimeClock.nanoseconds() &- MonotonicClock.now().nanoseconds
        // Descriptors: the captures, the client, then the taps' wake-ups.
        var poller = PollSet(
            fileDescriptors: captures.map(\.selectableFileDescriptor) + [connection.fileDescriptor]
                + taps.map(\.tap.wakeUp.fileDescriptor))
        func line(_ frame: ReceivedFrame, interface: Int) {
            let line = CaptureLine(
                frame: .init(
                    interface: interface, timeNanoseconds: frame.timestamp.nanoseconds &+ realtimeOffset,
                    length: frame.wireLength, data: Data(frame.bytes).base64EncodedString()))
            if let encoded = try? encoder.encode(line) {
                pending.append(contentsOf: encoded)
                pending.append(UInt8(ascii: "\n"))
            }
        }
        var frames: UInt64 = 0
        var reason = "count"
        var pending: [UInt8] = []
        streaming: while true {
            if let frameLimit, frames >= UInt64(frameLimit) { break }
            if stopRequested.isSet {
                reason = "server stopping"
                break
            }
            let now = MonotonicClock.now()
            if let deadline, now >= deadline {
                reason = "duration"
                break
            }
            let waitMilliseconds = deadline.map { Int32(clamping: min(100, ($0.nanoseconds(since: now) + 999_999) / 1_000_000)) } ?? 100
            do {
                _ = try poller.wait(timeoutMilliseconds: waitMilliseconds)
            } catch {
                reason = "error: \(error)"
                break
            }
            // The client sends nothing after its request: readable means it hung up.
            if poller.isReady(captures.count) {
                reason = "client"
                break
            }
            for (index, capture) in captures.enumerated() where poller.isReady(index) {
                let remaining = frameLimit.map { max(0, $0 - Int(frames)) } ?? 256
                guard remaining > 0 else { break }
                do {
                    frames += UInt64(try capture.receive(limit: min(256, remaining)) { line($0, interface: index) })
                } catch {
                    reason = "error: \(error)"
                    break streaming
                }
            }
            for (position, tap) in taps.enumerated() {
                if poller.isReady(captures.count + 1 + position) { _ = try? tap.tap.wakeUp.drain() }
                // Drained whole (the tap must not fill); past the frame limit, frames are read and not sent.
                tap.reader.drain { frame in
                    guard frameLimit.map({ frames < UInt64($0) }) ?? true else { return }
                    frames += 1
                    line(frame, interface: tap.index)
                }
            }
            if !pending.isEmpty {
                do {
                    try connection.writeAll(pending, timeout: ControlLimits.replyTimeout)
                } catch {
                    log.notice("capture: client gone: \(error)")
                    return
                }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let dropped =
            captures.reduce(UInt64(0)) { total, capture in
                guard let statistics = try? capture.statistics() else { return total }
                return total + statistics.dropped + statistics.interfaceDropped
            } + taps.reduce(UInt64(0)) { $0 + ($1.tap.counters.droppedFull &- $1.droppedBefore) }
        send(CaptureLine(end: .init(frames: frames, dropped: dropped, reason: reason)), encoder, connection)
        connection.shutdownWrite()
    }

    @discardableResult
    private func send(_ value: some Encodable, _ encoder: JSONEncoder, _ connection: StreamSocket) -> Bool {
        do {
            var line = [UInt8](try encoder.encode(value))
            line.append(UInt8(ascii: "\n"))
            try connection.writeAll(line, timeout: ControlLimits.replyTimeout)
            return true
        } catch {
            return false
        }
    }
}
