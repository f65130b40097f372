// The one function both the libFuzzer target (fuzz/Sources/ParseTrackFuzzer, which links this very file
// through a symlink) and `FuzzRegressionTests` run an input through, so a crash the fuzzer found replays
// here exactly as it happened there.
//
// An input is one frame, or several frames joined by `ParseTrackHarness.frameSeparator` (so the fuzzer can
// build conversations the tracker follows across frames). Each frame goes through
//   1. `FrameParser.parse`, whose result must keep every offset it reports inside the frame;
//   2. for TCP and UDP, a small `TCPTracker` shared by the frames of one input (fresh per input, so an input
//      replays alone; short timeouts and a sweep after every frame, so sessions also expire and leave):
//      a tracked flow's session must exist, a new session start at the segment's end, the count stay within
//      capacity, and after every removal every session left must still be found by its key;
//   3. `FrameBuilder.turnAroundEchoRequest` on a copy: a refused frame must come back untouched; a turned
//      request must parse as the echo reply with the addresses swapped and every checksum as valid as before.
// A broken promise is reported as a `Violation` (the fuzzer traps on it, the tests fail on it); a trap
// inside the core is a crash in either.
import TakeoverCore

enum ParseTrackHarness {
    /// Splits an input into frames. Eight bytes unlikely inside the frames of the seed corpus.
    static let frameSeparator: [UInt8] = Array("\u{0}FRAME\u{0}\u{0}".utf8)

    /// Sessions the per-input tracker holds: small, so inputs reach a full table and probe wrap-around.
    static let trackerCapacity = 4

    /// Time between two frames of an input: 1 ms plus the frame's length modulo 8 ms, so the fuzzer steers it.
    static func interval(before frame: UnsafeRawBufferPointer) -> UInt64 { UInt64(1 + frame.count % 8) * 1_000_000 }

    /// Timeouts of milliseconds (instead of seconds to hours), so sessions expire within one input.
    static var shortTimeouts: SessionTimeouts {
        var timeouts = SessionTimeouts()
        timeouts.established = 40_000_000
        timeouts.transitory = 20_000_000
        timeouts.timeWait = 10_000_000
        timeouts.closed = 5_000_000
        timeouts.udp = 15_000_000
        return timeouts
    }

    /// One broken promise, with the frame's index in the input.
    struct Violation: Error, CustomStringConvertible {
        var frame: Int
        var what: String
        var description: String { "frame \(frame): \(what)" }
    }

    /// What one input did, for the tests' tables.
    struct Outcome: Equatable {
        var frames = 0
        var parsed = 0
        var refused = 0
        var tracked = 0
        var turnedAround = 0
    }

    /// Runs every frame of `input` through parse, track and turnaround; throws the first broken promise.
    static func run(_ input: UnsafeRawBufferPointer) throws(Violation) -> Outcome {
        var outcome = Outcome()
        var tracker = TCPTracker(capacity: trackerCapacity, timeouts: shortTimeouts, seed: 0x5EED)
        var time = MonotonicTime(nanoseconds: 1_000_000_000)
        var start = 0
        while start <= input.count {
            let end = nextSeparator(in: input, from: start) ?? input.count
            let frame = UnsafeRawBufferPointer(rebasing: input[start..<end])
            time = time + interval(before: frame)
            try runFrame(frame, index: outcome.frames, tracker: &tracker, at: time, outcome: &outcome)
            outcome.frames += 1
            start = end + frameSeparator.count
        }
        return outcome
    }

    static func nextSeparator(in input: UnsafeRawBufferPointer, from start: Int) -> Int? {
        let length = frameSeparator.count
        guard input.count - start >= length else { return nil }
        let first = frameSeparator[0]
        for candidate in start...(input.count - length) where input[candidate] == first {
            if (1..<length).allSatisfy({ input[candidate + $0] == frameSeparator[$0] }) { return candidate }
        }
        return nil
    }

    static func runFrame(
        _ frame: UnsafeRawBufferPointer, index: Int, tracker: inout TCPTracker, at time: MonotonicTime,
        outcome: inout Outcome
    ) throws(Violation) {
        func check(_ condition: Bool, _ what: @autoclosure () -> String) throws(Violation) {
            if !condition { throw Violation(frame: index, what: what()) }
        }
        let parsed: ParsedFrame?
        do {
            parsed = try FrameParser.parse(frame)
            outcome.parsed += 1
        } catch {
            parsed = nil
            outcome.refused += 1
        }
        if let parsed {
            try checkOffsets(parsed, frameLength: frame.count, check)
            try checkTracking(parsed, tracker: &tracker, at: time, check, tracked: &outcome.tracked)
        }
        let expired = tracker.expire(now: time, slotBudget: 3)
        if expired > 0 { try checkEverySessionFound(tracker, check) }
        try checkTurnaround(frame, parsed: parsed, check, turned: &outcome.turnedAround)
    }

    typealias Check = (Bool, @autoclosure () -> String) throws(Violation) -> Void

    /// Every offset and length the parser reports lies inside the frame.
    static func checkOffsets(_ parsed: ParsedFrame, frameLength: Int, _ check: Check) throws(Violation) {
        let network = Int(parsed.networkOffset)
        try check(network <= frameLength, "network offset \(network) past the frame (\(frameLength))")
        guard let ip = parsed.ip else { return }
        let transportEnd = Int(ip.transportOffset) + Int(ip.transportLength)
        try check(
            Int(ip.transportOffset) >= network && transportEnd <= frameLength,
            "transport \(ip.transportOffset)+\(ip.transportLength) outside \(network)..\(frameLength)")
        switch parsed.transport {
        case .tcp(let tcp):
            let end = Int(tcp.segment.payloadOffset) + Int(tcp.segment.payloadLength)
            try check(
                Int(tcp.segment.payloadOffset) >= Int(ip.transportOffset) + 20 && end <= transportEnd,
                "TCP payload \(tcp.segment.payloadOffset)+\(tcp.segment.payloadLength) outside the IP packet")
            try check(tcp.segment.options.sackBlockCount <= 4, "more than four SACK blocks")
        case .udp(let udp):
            let end = Int(udp.payloadOffset) + Int(udp.payloadLength)
            try check(
                Int(udp.payloadOffset) == Int(ip.transportOffset) + 8 && end <= transportEnd,
                "UDP payload \(udp.payloadOffset)+\(udp.payloadLength) outside the IP packet")
        case .icmpEcho(let echo):
            let end = Int(echo.dataOffset) + Int(echo.dataLength)
            try check(
                Int(echo.dataOffset) == Int(ip.transportOffset) + 8 && end <= transportEnd,
                "echo data \(echo.dataOffset)+\(echo.dataLength) outside the IP packet")
        default:
            break
        }
    }

    /// Tracks a TCP segment or UDP datagram and checks the session it leaves.
    static func checkTracking(
        _ parsed: ParsedFrame, tracker: inout TCPTracker, at time: MonotonicTime, _ check: Check, tracked: inout Int
    ) throws(Violation) {
        guard let key = parsed.flow else { return }
        let result: TrackResult
        var segmentEnd: UInt32?
        switch parsed.transport {
        case .tcp(let tcp):
            result = tracker.track(key, tcp.segment, at: time)
            segmentEnd = tcp.segment.sequence &+ tcp.segment.sequenceLength
        case .udp(let udp):
            result = tracker.trackUDP(key, payloadLength: Int(udp.payloadLength), at: time)
        default:
            return
        }
        try check(tracker.count <= trackerCapacity, "\(tracker.count) sessions in a table of \(trackerCapacity)")
        switch result {
        case .created, .updated:
            tracked += 1
            guard let session = tracker.session(for: key) else {
                return try check(false, "\(result) but no session for \(key)")
            }
            try check(session.key == key || session.key == key.reversed, "\(key) found \(session.key)")
            // A session just created (or restarted by a new SYN) knows exactly where its sender is. (After an
            // update no such check holds: "later" in sequence space is ambiguous half a space away.)
            if result == .created, let segmentEnd, key != key.reversed {
                let sender = session.endpoint(session.side(sending: key))
                try check(
                    sender.flags.contains(.sequenceKnown) && sender.nextSequence == segmentEnd,
                    "new session's next sequence \(sender.nextSequence), segment ends at \(segmentEnd)")
            }
        case .tableFull:
            try check(tracker.count == trackerCapacity, "table full with \(tracker.count) of \(trackerCapacity)")
        case .ignored:
            break
        }
    }

    /// After removals (which shift probe runs back), every session left is found again by its key.
    static func checkEverySessionFound(_ tracker: borrowing TCPTracker, _ check: Check) throws(Violation) {
        var held = 0
        var lost: FlowKey?
        tracker.table.forEach { session in
            held += 1
            if tracker.session(for: session.key) == nil { lost = session.key }
        }
        try check(lost == nil, "session \(lost.map { "\($0)" } ?? "") no longer found after expiry")
        try check(held == tracker.count, "\(held) sessions held, count says \(tracker.count)")
    }

    /// The turnaround on a copy: untouched when refused; when the frame parsed as an echo request, the
    /// result is its reply with addresses swapped, and checksums that were valid stay valid.
    static func checkTurnaround(
        _ frame: UnsafeRawBufferPointer, parsed: ParsedFrame?, _ check: Check, turned: inout Int
    ) throws(Violation) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: frame.count, alignment: 8)
        defer { copy.deallocate() }
        copy.copyMemory(from: frame)
        let replier = MACAddress(rawValue: 0x02_00_5E_ED_00_01)
        let length: Int
        do {
            length = try FrameBuilder.turnAroundEchoRequest(in: copy, replyFrom: replier)
        } catch {
            try check(copy.elementsEqual(frame), "refused turnaround (\(error)) changed the frame")
            return
        }
        turned += 1
        try check(length == frame.count, "turnaround returned \(length) for a \(frame.count)-byte frame")
        guard let request = parsed, case .icmpEcho(let echo) = request.transport, !echo.isReply,
            let requestIP = request.ip
        else { return }
        let replyFrame = UnsafeRawBufferPointer(copy)
        let reparsed = Result { () throws(FrameError) in try FrameParser.parse(replyFrame) }
        guard case .success(let reply) = reparsed, case .icmpEcho(let replyEcho) = reply.transport,
            let replyIP = reply.ip
        else { return try check(false, "the turned-around echo request parses as \(reparsed)") }
        try check(replyEcho.isReply, "the turnaround left an echo request")
        try check(
            replyEcho.identifier == echo.identifier && replyEcho.sequence == echo.sequence
                && replyEcho.dataLength == echo.dataLength, "the turnaround changed the echo's identity or data")
        try check(
            replyIP.source == requestIP.destination && replyIP.destination == requestIP.source,
            "the turnaround did not swap the IP addresses")
        try check(
            reply.destination == request.source && reply.source == replier, "the turnaround's MAC addresses")
        for (name, before, after) in [
            ("IPv4 header", headerChecksumValid(frame, request), headerChecksumValid(replyFrame, reply)),
            ("ICMP", icmpChecksumValid(frame, request), icmpChecksumValid(replyFrame, reply)),
        ] {
            try check(before == after, "\(name) checksum valid \(before) before the turnaround, \(after) after")
        }
    }

    /// IPv4: the header sums to 0xFFFF; IPv6 has no header checksum (always true).
    static func headerChecksumValid(_ frame: UnsafeRawBufferPointer, _ parsed: ParsedFrame) -> Bool {
        guard case .ipv4(let ip) = parsed.network else { return true }
        var sum = InternetChecksum()
        sum.add(bytes: UnsafeRawBufferPointer(rebasing: frame[Int(parsed.networkOffset)..<Int(ip.transportOffset)]))
        return sum.checksum == 0
    }

    /// The ICMP message (with the ICMPv6 pseudo-header) sums to 0xFFFF.
    static func icmpChecksumValid(_ frame: UnsafeRawBufferPointer, _ parsed: ParsedFrame) -> Bool {
        guard let ip = parsed.ip else { return false }
        let start = Int(ip.transportOffset)
        var sum =
            parsed.isIPv6
            ? InternetChecksum.ipv6PseudoHeader(
                source: IPv6Address(high: ip.source.high, low: ip.source.low),
                destination: IPv6Address(high: ip.destination.high, low: ip.destination.low),
                nextHeader: IPProtocolNumber.icmpv6, length: UInt32(ip.transportLength))
            : InternetChecksum()
        sum.add(bytes: UnsafeRawBufferPointer(rebasing: frame[start..<(start + Int(ip.transportLength))]))
        return sum.checksum == 0
    }
}
