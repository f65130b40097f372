import Logging
import Synchronization
public import TakeoverCore
import TakeoverLinux

/// What the `reset` policy has done since the engine started, over every takeover.
public struct TCPResetStatistics: Hashable, Sendable {
    /// Takeovers it ran for (calls to `recover`), counted once their resets are sent.
    public var recoveries: UInt64 = 0
    /// Sessions handed to it.
    public var sessions: UInt64 = 0
    /// Sessions whose client was sent a reset.
    public var sessionsReset: UInt64 = 0
    /// RST frames sent (one or two per session reset).
    public var framesSent: UInt64 = 0
    /// Sessions skipped because the client's expected receive point was never seen (no segment from the
    /// server and no ACK from the client): a guessed RST would only draw a challenge ACK.
    public var skippedUnknownSequence: UInt64 = 0
    /// Sessions skipped because no frame showed which MAC the client is reached through.
    public var skippedUnknownClientMAC: UInt64 = 0
    /// Sessions already over (reset, or closed or in TIME_WAIT on the client's side): nothing to do.
    public var alreadyClosed: UInt64 = 0
    /// Frames the transmit port refused; the last error is in `lastTransmitError`.
    public var transmitFailures: UInt64 = 0
    public var lastTransmitError: String?

    public init() {}
}

/// `engine.tcp-policy = "reset"`: each client of the peer's tracked sessions gets a RST it accepts at once, so
/// it fails now and reconnects — to us, who now hold the address — instead of retransmitting into the void
/// until its RTO gives up.
///
/// RFC 5961 §3.2: a RST is accepted only when its sequence number is exactly the receiver's RCV.NXT; anything
/// else in the window draws a challenge ACK. The tracker's best estimate of the client's RCV.NXT is
/// `receiveNext(client)` (what the server was seen sending, or more if the client acknowledged more). When the
/// client's own latest ACK is behind that (a delayed ACK, or data it never got because the server died while
/// sending), a second RST at that ACK covers the other case; whichever is not exact is at worst answered by a
/// challenge ACK, which now reaches our stack, whose RST for the unknown connection carries the exact value.
///
/// The frames are sent from the group address and port, from our MAC to the MAC the client was seen behind
/// (`LinkAddressBook`), through one transmit port per interface opened at start — never a socket per session.
/// All sessions are planned on the controller thread (one pass under the book's lock, ~ a microsecond each), then
/// sent in one burst (one `send` each) from a thread of its own, which also counts and logs.
final class TCPResetRecovery: TCPRecovery {
    /// One interface's way out.
    final class Port: @unchecked Sendable {
        let interface: String
        let ownMAC: MACAddress
        let book: LinkAddressBook
        /// Used only under `lock`: a libpcap handle is for one thread at a time, and `close` may come from
        /// the thread that shuts the engine down.
        private let sink: PcapCapture
        private let lock = Mutex(())

        /// Opens the transmit port: a libpcap handle on `interface` whose filter matches nothing, so its ring
        /// never holds a frame. Its own handle rather than the responder's or the pipeline's: each of those
        /// belongs to the thread that receives on it, and this one sends from the controller thread.
        init(interface: String, ownMAC: MACAddress, book: LinkAddressBook) throws(PcapCaptureError) {
            self.interface = interface
            self.ownMAC = ownMAC
            self.book = book
            sink = try PcapCapture(
                PcapCaptureConfiguration(
                    interface: interface, snapshotLength: 64, bufferSize: 64 << 10, delivery: .immediate))
            try sink.setFilter("less 1")
        }

        func withSink<R>(_ body: (PcapCapture) -> R) -> R {
            lock.withLock { _ in body(sink) }
        }

        func close() { lock.withLock { _ in sink.close() } }
    }

    private let ports: [String: Port]
    private let log: Logger
    private let counters = Mutex(TCPResetStatistics())
    /// Said once per takeover before resetting (the `resume` policy stands in with resets until it exists).
    init(ports: [Port], log: Logger) {
        self.ports = Dictionary(uniqueKeysWithValues: ports.map { ($0.interface, $0) })
        self.log = log
    }

    var statistics: TCPResetStatistics { counters.withLock { $0 } }

    func close() { ports.values.forEach { $0.close() } }

    private struct Tally {
        var reset = 0
        var frames = 0
        var failures = 0
        var lastError: String?
    }

    func recover(_ sessions: [Session], addresses: [IPAddress], interface: String, context: FailoverActionContext) {
        guard let port = ports[interface] else {
            let message =
                "group \(context.group): tcp-policy reset: no transmit port on \(interface); "
                    + "\(sessions.count) session(s) not reset"
            log.error("\(message)")
            counters.withLock {
                $0.recoveries += 1
                $0.sessions += UInt64(sessions.count)
            }
            return
        }
        let plan = context.step("tcp-reset-plan") {
            port.book.withEntries { macs in
                ResetPlan(sessions, served: Set(addresses.map(FlowAddress.init)), ownMAC: port.ownMAC, clientMACs: macs)
            }
        }
        let sessionCount = sessions.count
        // The burst goes out on a thread of its own, so the controller goes on at once (heartbeats, hooks):
        // a send costs microseconds on a NIC, but tens on veth, where the receivers' work runs inside it.
        do {
            try LoopThread.startDetached { [self] in
                send(plan, sessionCount: sessionCount, port: port, interface: interface, context: context)
            }
        } catch {
            log.warning("group \(context.group): no thread for the resets (\(error)); sending them from the controller")
            send(plan, sessionCount: sessionCount, port: port, interface: interface, context: context)
        }
    }

    private func send(
        _ plan: ResetPlan, sessionCount: Int, port: Port, interface: String, context: FailoverActionContext
    ) {
        var tally = Tally()
        context.step("tcp-reset-send") {
            port.withSink { sink in
                func send(_ control: FrameBuilder.TCPControl) -> Bool {
                    do {
                        let outcome = try sink.transmit { buffer in (try? control.writeReset(into: buffer)) ?? 0 }
                        if case .submitted = outcome {
                            tally.frames += 1
                            return true
                        }
                        tally.lastError = "\(outcome)"
                    } catch {
                        tally.lastError = "\(error)"
                    }
                    tally.failures += 1
                    return false
                }
                for reset in plan.resets {
                    var sentAny = send(reset.control)
                    if let alternative = reset.alternativeSequence {
                        var control = reset.control
                        control.sequence = alternative
                        sentAny = send(control) || sentAny
                    }
                    if sentAny { tally.reset += 1 }
                }
            }
        }
        counters.withLock { counters in
            counters.recoveries += 1
            counters.sessions += UInt64(sessionCount)
            counters.sessionsReset += UInt64(tally.reset)
            counters.framesSent += UInt64(tally.frames)
            counters.skippedUnknownSequence += UInt64(plan.unknownSequence.count)
            counters.skippedUnknownClientMAC += UInt64(plan.unknownClientMAC.count)
            counters.alreadyClosed += UInt64(plan.alreadyClosed)
            counters.transmitFailures += UInt64(tally.failures)
            if let error = tally.lastError { counters.lastTransmitError = error }
        }
        // Logged after the frames are out: the log write is the slow part.
        let message =
            "group \(context.group): tcp-policy reset on \(interface): \(sessionCount) session(s), "
                + "\(tally.reset) reset (\(tally.frames) RST), \(plan.unknownSequence.count) skipped (sequence "
                + "unknown), \(plan.unknownClientMAC.count) skipped (client MAC unknown), "
                + "\(plan.alreadyClosed) already closed"
        log.notice("\(message)")
        if !plan.unknownSequence.isEmpty {
            let message =
                "group \(context.group): not reset, the client's expected sequence was never seen: "
                    + Self.sample(plan.unknownSequence)
            log.warning("\(message)")
        }
        if !plan.unknownClientMAC.isEmpty {
            let message =
                "group \(context.group): not reset, no frame showed the client's MAC: "
                    + Self.sample(plan.unknownClientMAC)
            log.warning("\(message)")
        }
        if tally.failures > 0 {
            log.error("group \(context.group): \(tally.failures) RST frame(s) not sent: \(tally.lastError ?? "-")")
        }
    }

    private static func sample(_ flows: [FlowKey]) -> String {
        let shown = flows.prefix(8).map(\.description).joined(separator: ", ")
        return flows.count > 8 ? shown + " and \(flows.count - 8) more" : shown
    }
}

/// What the reset policy will send for a set of tracked sessions, decided without touching the wire: per
/// session, skipped (and why) or one reset — plus a second at the client's own ACK when that is behind the
/// first (see `TCPResetRecovery`).
public struct ResetPlan: Sendable {
    public struct Reset: Sendable {
        /// The RST: from the group address and port and `ownMAC`, to the client and its MAC, `sequence` at the
        /// client's expected receive point.
        public var control: FrameBuilder.TCPControl
        /// The client's own latest ACK, when it differs from `control.sequence`: a second RST there.
        public var alternativeSequence: UInt32?
    }

    public private(set) var resets: [Reset] = []
    /// Sessions whose client's receive point was never seen.
    public private(set) var unknownSequence: [FlowKey] = []
    /// Sessions whose client's MAC no frame showed.
    public private(set) var unknownClientMAC: [FlowKey] = []
    /// Sessions over already (reset, closed, TIME_WAIT on the client's side).
    public private(set) var alreadyClosed = 0

    /// `served`: the group's addresses; sessions whose server side is not one of them are left out.
    public init(
        _ sessions: [Session], served: Set<FlowAddress>, ownMAC: MACAddress, clientMACs: [FlowAddress: MACAddress]
    ) {
        resets.reserveCapacity(sessions.count)
        for session in sessions {
            guard let serverSide = session.serverSide(among: served) else { continue }
            let client = serverSide.other
            let state = session.state(client)
            // TIME_WAIT too: the connection is over, a reset would only end the wait early.
            if state == .reset || state == .closed || state == .timeWait {
                alreadyClosed += 1
                continue
            }
            guard let sequence = session.receiveNext(client) else {
                unknownSequence.append(session.key)
                continue
            }
            let (clientAddress, clientPort) = session.endpointAddress(client)
            guard let clientMAC = clientMACs[clientAddress] else {
                unknownClientMAC.append(session.key)
                continue
            }
            let (serverAddress, serverPort) = session.endpointAddress(serverSide)
            let acknowledgment = session.sendNext(client) ?? session.receiveNext(serverSide) ?? 0
            let clientEndpoint = session.endpoint(client)
            let clientAcknowledged =
                clientEndpoint.flags.contains(.acknowledgmentKnown) ? clientEndpoint.acknowledgment : sequence
            resets.append(
                Reset(
                    control: FrameBuilder.TCPControl(
                        sourceMAC: ownMAC, destinationMAC: clientMAC, source: serverAddress, destination: clientAddress,
                        sourcePort: serverPort, destinationPort: clientPort, sequence: sequence,
                        acknowledgment: acknowledgment, window: 0),
                    alternativeSequence: clientAcknowledged != sequence ? clientAcknowledged : nil))
        }
    }
}
