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

/// What became of one connection.
public enum ResumeOutcome: Sendable, Equatable {
    case resumed(ResumedSessionMarker)
    case refused(TCPResumeRefusal)
    case restoreFailed(TCPRestoreError)
    case handoffFailed(ResumeHandoffError)
}

/// The `resume` TCP policy: each of the peer's connections is rebuilt as a local socket with TCP_REPAIR, from the
/// tracker's session and the bytes the capture kept (`SessionPayloadCapture`), and handed to the local service
/// over a Unix socket (`ResumedSessionReceiver` at `handoffPath`) with its resume marker. A connection that
/// cannot be rebuilt goes to `fallback` (the `reset` policy), counted and logged by reason.
///
/// The sockets bind the peer's address with IP_FREEBIND/IP_TRANSPARENT, so this works before the address is on
/// the interface — and should run before frames for the peer reach the local stack (XDP takeover mode, the
/// address added): a client segment that reaches the stack first, with no socket for it, is answered by a RST.
public final class ResumeTCPRecovery: TCPRecovery {
    private let payloads: SessionPayloadCapture
    private let sender: ResumedSessionSender
    private let fallback: any TCPRecovery
    private let log: Logger
    private let counters = Mutex(ResumeStatistics())

    public init(
        payloads: SessionPayloadCapture, handoffPath: String, fallback: any TCPRecovery, log: Logger
    ) throws(ResumeHandoffError) {
        self.payloads = payloads
        sender = try ResumedSessionSender(path: handoffPath)
        self.fallback = fallback
        self.log = log
    }

    public var statistics: ResumeStatistics { counters.withLock { $0 } }

    public func recover(_ sessions: [Session], addresses: [IPAddress], interface: String, context: FailoverActionContext) {
        // A few system calls per connection, but many connections add up: a thread of its own (the contract).
        context.stepStarted("tcp-resume")
        let work: @Sendable () -> Void = { [self] in
            let outcomes = resume(sessions, addresses: addresses)
            context.stepFinished("tcp-resume")
            let failed = zip(sessions, outcomes).compactMap { session, outcome -> Session? in
                if case .resumed = outcome { return nil }
                return session
            }
            if !failed.isEmpty { fallback.recover(failed, addresses: addresses, interface: interface, context: context) }
        }
        do {
            try LoopThread.startDetached(work)
        } catch {
            log.error("tcp-resume: no thread (\(error)); resuming on the controller thread")
            work()
        }
    }

    /// Rebuilds and hands off each of `sessions` (in the calling thread's network namespace), returning what
    /// became of each, in order. Counts and logs every one that was not resumed; does not call the fallback.
    public func resume(_ sessions: [Session], addresses: [IPAddress]) -> [ResumeOutcome] {
        let served = Set(addresses.map(FlowAddress.init))
        return sessions.map { session in
            let outcome = resume(session, served: served)
            counters.withLock { statistics in
                switch outcome {
                case .resumed: statistics.resumed &+= 1
                case .refused(let reason): statistics.refused[reason] &+= 1
                case .restoreFailed: statistics.restoreFailures &+= 1
                case .handoffFailed: statistics.handoffFailures &+= 1
                }
                if case .resumed = outcome {} else { statistics.fellBack &+= 1 }
            }
            switch outcome {
            case .resumed(let marker):
                log.info("tcp-resume: \(marker.client) → \(marker.server) resumed (receive queue \(marker.receiveQueueLength) B, send queue \(marker.sendQueueLength) B)")
            case .refused(let reason):
                log.warning("tcp-resume: \(session.key) cannot resume: \(reason); falling back")
            case .restoreFailed(let error):
                log.error("tcp-resume: \(session.key) rebuild failed: \(error); falling back")
            case .handoffFailed(let error):
                log.error("tcp-resume: \(session.key) handoff failed: \(error); falling back")
            }
            return outcome
        }
    }

    private func resume(_ session: Session, served: Set<FlowAddress>) -> ResumeOutcome {
        let serverSide: SessionSide = served.contains(session.key.destination) ? .reply : .original
        let plan: TCPResumePlan
        do {
            plan = try payloads.withStore { store throws(TCPResumeRefusal) in
                try TCPResumePlan(session: session, serverSide: serverSide, store: store)
            }
        } catch {
            return .refused(error)
        }
        let socket: Int32
        do {
            socket = try TCPRepair.restore(plan.repairConnection)
        } catch {
            return .restoreFailed(error)
        }
        let marker = plan.marker
        do {
            try sender.send(socket: socket, marker: marker, context: plan.context)
            // The service holds the socket now (the message carries a reference): drop ours only.
            TCPRepair.closeDescriptor(socket)
            return .resumed(marker)
        } catch {
            // The service never got it: put it back in repair mode so closing sends nothing, and let the fallback
            // reset the client.
            TCPRepair.closeSilently(socket)
            return .handoffFailed(error)
        }
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
