public import Logging
import Synchronization
public import TakeoverCore
public import TakeoverLinux
public import TakeoverResume

/// Counters of the `resume` policy.
public struct ResumeStatistics: Sendable, Equatable {
    /// Connections rebuilt and handed to the service.
    public var resumed: UInt64 = 0
    /// Connections that could not be rebuilt from what the standby tracked, by reason (reset instead).
    public var refused = TCPResumeRefusalCounts()
    /// Connections whose rebuild failed in the kernel (reset instead).
    public var restoreFailures: UInt64 = 0
    /// Rebuilt connections the service did not take (no receiver at the path, …): reset instead.
    public var handoffFailures: UInt64 = 0
    /// Connections handed to the fallback policy.
    public var fellBack: UInt64 = 0
    public init() {}
}

/// Why one connection was not resumed.
public enum ResumeFailure: Error, Sendable, Equatable {
    case refused(TCPResumeRefusal)
    case restoreFailed(TCPRestoreError)
    case handoffFailed(ResumeHandoffError)
}

/// A connection rebuilt in the kernel, quiet, not yet handed to the service: pass it to `release`, which hands the
/// socket on or closes it (until then the socket is this process's).
public struct RebuiltConnection: Sendable {
    public let session: Session
    public let plan: TCPResumePlan
    public let socket: Int32
    let connection: TCPRepairConnection
}

/// The `resume` TCP policy: each of the peer's connections is rebuilt as a local socket with TCP_REPAIR, from the
/// tracker's session and the bytes the capture kept (`SessionPayloadCapture`), and handed to the local service
/// over a Unix socket (`ResumedSessionReceiver` at `handoffPath`) with its resume marker. A connection that
/// cannot be rebuilt goes to `fallback` (the `reset` policy), counted and logged by reason.
///
/// Two stages, so a caller can put the address and the announcements between them: `rebuild` makes quiet
/// sockets (they bind the peer's address with IP_FREEBIND/IP_TRANSPARENT, so the address need not be local
/// yet, and send nothing); `release` makes each speak (its unacknowledged bytes, or a window probe) and hands it
/// to the service. `release` must come once the client's frames reach this host, or the client's answer is lost
/// and the stall grows to a retransmission timeout; `rebuild` should come before, since a client segment that
/// reaches the stack with no socket for it is answered with a RST. `recover` (the engine's hook, which runs
/// after the address is added) does both at once.
public final class ResumeTCPRecovery: TCPRecovery {
    /// The bytes the tracker keeps per session (the capture pipeline fills it).
    public let payloads: SessionPayloadCapture
    private let sender: ResumedSessionSender
    private let fallback: any TCPRecovery
    private let log: Logger
    private let sendQueuePlacement: TCPRepairConnection.SendQueuePlacement
    private let counters = Mutex(ResumeStatistics())

    public init(
        payloads: SessionPayloadCapture, handoffPath: String, fallback: any TCPRecovery, log: Logger,
        sendQueuePlacement: TCPRepairConnection.SendQueuePlacement = .afterRepair
    ) throws(ResumeHandoffError) {
        self.payloads = payloads
        sender = try ResumedSessionSender(path: handoffPath)
        self.fallback = fallback
        self.log = log
        self.sendQueuePlacement = sendQueuePlacement
    }

    public var statistics: ResumeStatistics { counters.withLock { $0 } }

    /// Both stages at once, for a caller that has nothing to put between them. The engine does not use it: it
    /// calls `rebuildQuietly` before the addresses are added and `finish` after (`TakeoverActions`).
    public func recover(_ sessions: [Session], addresses: [IPAddress], interface: String, context: FailoverActionContext) {
        let stage = rebuildQuietly(sessions, addresses: addresses)
        finish(stage, addresses: addresses, interface: interface, context: context)
    }

    /// What the first stage left for the second: quiet sockets, and the sessions already bound for the fallback.
    public struct QuietStage: Sendable {
        public var rebuilt: [RebuiltConnection] = []
        public var notRebuilt: [Session] = []
    }

    /// The first stage, on the calling thread: every session rebuilt as a quiet socket (or set aside).
    public func rebuildQuietly(_ sessions: [Session], addresses: [IPAddress]) -> QuietStage {
        var stage = QuietStage()
        for result in rebuild(sessions, addresses: addresses) {
            switch result {
            case .success(let rebuilt): stage.rebuilt.append(rebuilt)
            case .failure(let failure): stage.notRebuilt.append(failure.session)
            }
        }
        return stage
    }

    /// The second stage, once the client's frames reach this host: each rebuilt connection transmits and goes
    /// to the service, and what failed either stage goes to the fallback. A few system calls per connection, but
    /// many connections add up: a thread of its own, as the `TCPRecovery` contract asks.
    public func finish(_ stage: QuietStage, addresses: [IPAddress], interface: String, context: FailoverActionContext) {
        context.stepStarted("tcp-resume")
        let work: @Sendable () -> Void = { [self] in
            var failed = stage.notRebuilt
            for rebuilt in stage.rebuilt {
                if case .failure = release(rebuilt) { failed.append(rebuilt.session) }
            }
            context.stepFinished("tcp-resume")
            if !failed.isEmpty { fallback.recover(failed, addresses: addresses, interface: interface, context: context) }
        }
        do {
            try LoopThread.startDetached(work)
        } catch {
            log.error("tcp-resume: no thread (\(error)); resuming on the controller thread")
            work()
        }
    }

    /// A connection that failed a stage, with the session for the fallback.
    public struct StageFailure: Error, Sendable {
        public let session: Session
        public let reason: ResumeFailure
    }

    /// Rebuilds each of `sessions` as a quiet socket in the calling thread's network namespace. Failures are
    /// counted and logged here; nothing is handed to the fallback.
    public func rebuild(_ sessions: [Session], addresses: [IPAddress]) -> [Result<RebuiltConnection, StageFailure>] {
        let served = Set(addresses.map(FlowAddress.init))
        return sessions.map { session in
            let serverSide: SessionSide = served.contains(session.key.destination) ? .reply : .original
            let plan: TCPResumePlan
            do throws(TCPResumeRefusal) {
                plan = try payloads.withStore { store throws(TCPResumeRefusal) in
                    try TCPResumePlan(session: session, serverSide: serverSide, store: store)
                }
            } catch {
                return .failure(failed(session, .refused(error)))
            }
            var connection = plan.repairConnection
            connection.sendQueuePlacement = sendQueuePlacement
            do throws(TCPRestoreError) {
                let socket = try TCPRepair.restore(connection)
                return .success(RebuiltConnection(session: session, plan: plan, socket: socket, connection: connection))
            } catch {
                return .failure(failed(session, .restoreFailed(error)))
            }
        }
    }

    /// Makes `rebuilt` speak and hands it to the service. On failure the socket is closed without a sound
    /// (the fallback then resets the client); on success the service owns it.
    @discardableResult
    public func release(_ rebuilt: RebuiltConnection) -> Result<ResumedSessionMarker, StageFailure> {
        let marker = rebuilt.plan.marker
        do throws(TCPRestoreError) {
            try TCPRepair.startTransmission(rebuilt.socket, rebuilt.connection)
        } catch {
            TCPRepair.closeSilently(rebuilt.socket)
            return .failure(failed(rebuilt.session, .restoreFailed(error)))
        }
        do throws(ResumeHandoffError) {
            try sender.send(socket: rebuilt.socket, marker: marker, context: rebuilt.plan.context)
        } catch {
            TCPRepair.closeSilently(rebuilt.socket)
            return .failure(failed(rebuilt.session, .handoffFailed(error)))
        }
        // The service holds the socket now (the message carries a reference): drop ours only.
        TCPRepair.closeDescriptor(rebuilt.socket)
        counters.withLock { $0.resumed &+= 1 }
        log.info(
            "tcp-resume: \(marker.client) → \(marker.server) resumed (receive queue \(marker.receiveQueueLength) B, send queue \(marker.sendQueueLength) B, context \(marker.contextLength) B)")
        return .success(marker)
    }

    private func failed(_ session: Session, _ reason: ResumeFailure) -> StageFailure {
        counters.withLock { statistics in
            switch reason {
            case .refused(let refusal): statistics.refused[refusal] &+= 1
            case .restoreFailed: statistics.restoreFailures &+= 1
            case .handoffFailed: statistics.handoffFailures &+= 1
            }
            statistics.fellBack &+= 1
        }
        log.warning("tcp-resume: \(session.key) not resumed (\(reason)); falling back")
        return StageFailure(session: session, reason: reason)
    }
}

extension TCPResumePlan {
    /// The kernel's view of the plan.
    public var repairConnection: TCPRepairConnection {
        TCPRepairConnection(
            local: SocketAddress(server.ipAddress, port: serverPort), remote: SocketAddress(client.ipAddress, port: clientPort),
            sendQueueSequence: sendUnacknowledged, sendQueue: sendQueue, receiveQueueSequence: answerPoint,
            receiveQueue: receiveQueue, remoteMSS: clientMSS, windowScaling: windowScaling,
            sendWindowScale: clientWindowShift, receiveWindowScale: serverWindowShift, sack: sack, timestamps: timestamps,
            timestamp: serverTimestamp,
            window: TCPRepairWindow(
                sendWindowUpdateSequence: receiveNext, sendWindow: clientWindow, maximumWindow: clientWindow,
                receiveWindow: serverWindow, receiveWindowUpdate: receiveNext))
    }

    /// The marker the service receives.
    public var marker: ResumedSessionMarker {
        ResumedSessionMarker(
            server: ResumeEndpoint(server, port: serverPort), client: ResumeEndpoint(client, port: clientPort), serverInitialSequence: serverInitialSequence,
            clientInitialSequence: clientInitialSequence, sendUnacknowledged: sendUnacknowledged, sendNext: sendNext,
            contextStart: contextStart, answerPoint: answerPoint, peerAcknowledged: peerAcknowledged,
            receiveNext: receiveNext)
    }
}

extension ResumeEndpoint {
    init(_ address: FlowAddress, port: UInt16) {
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: address.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            buffer.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        self.init(address: address.isIPv4 ? Array(bytes[12..<16]) : bytes, port: port)
    }
}
