/// What `takeover status --json` prints and the control socket's `status` returns (docs/control.md has the
/// schema, `StatusSchemaTests` checks it). Times are durations in microseconds — relative to the decision for
/// timeline steps, to the report for "ago" — because the monotonic clock means nothing outside this machine.
public struct StatusReport: Codable, Hashable, Sendable {
    /// Bumped when a field changes meaning or goes away (adding fields does not bump it).
    public static let currentSchemaVersion = 1

    public struct Node: Codable, Hashable, Sendable {
        public var id: UInt32
        public var name: String
    }

    public struct Group: Codable, Hashable, Sendable {
        public struct Peer: Codable, Hashable, Sendable {
            public var nodeID: UInt32
            public var priority: UInt8
            public var state: String
        }

        public var id: UInt16
        /// initializing, standby, active, releasing, stopped.
        public var state: String
        /// This node answers for the group's addresses (active or releasing).
        public var serving: Bool
        public var interface: String
        public var addresses: [String]
        /// The peer's last heartbeat for the group; absent before the first and after the peer failed.
        public var peer: Peer?
    }

    public struct HeartbeatChannel: Codable, Hashable, Sendable {
        public struct Rejected: Codable, Hashable, Sendable {
            public var malformed: UInt64
            public var badTag: UInt64
            public var notForUs: UInt64
            public var wrongChannel: UInt64
            public var staleIncarnation: UInt64
            public var replayed: UInt64
        }

        public var name: String
        public var sent: UInt64
        public var sendFailures: UInt64
        public var sendQueueFull: UInt64
        public var lastSendError: String?
        public var received: UInt64
        public var receiveErrors: UInt64
        public var accepted: UInt64
        public var rejected: Rejected
        public var lastAcceptedAgoMicroseconds: UInt64?
    }

    public struct Controller: Codable, Hashable, Sendable {
        public var running: Bool
        public var ticks: UInt64
        public var lateTimerExpirations: UInt64
        public var stallsExcused: UInt64
        public var transitions: UInt64
        public var releaseTimeouts: UInt64
        public var loopErrors: UInt64
        /// Times the failure detector failed the peer, by the rule that decided (absent in older reports).
        public var peerFailures: PeerFailures?
        /// The peer heard again after it was judged failed, by what its heartbeats said (absent in older reports).
        public var peerReturns: PeerReturns?
        /// Ticks that came more than the failure window late (our heartbeats that late), and the stall cover
        /// (absent in older reports).
        public var stallsBeyondWindow: UInt64?
        public var stallCover: StallCover?
    }

    public struct StallCover: Codable, Hashable, Sendable {
        /// Where the controller thread and the cover run, and who chose the CPUs: "controller on CPU 1, stall cover on
        /// CPU 0 (the highest two allowed), for up to 50.00 ms", "… (as heartbeat.cpus says), …", "off, controller
        /// thread not pinned", "off, controller on CPU 0 (as heartbeat.cpus says)", or "unavailable: …".
        public var placement: String
        public var heartbeatsSent: UInt64
        public var sendFailures: UInt64
        public var stallsCovered: UInt64
    }

    public struct PeerReturns: Codable, Hashable, Sendable {
        /// It sent in time; the heartbeats arrived late (a false failover caused on the way or by this host).
        public var heartbeatsDelayed: UInt64
        /// It kept sending; nothing arrived on any channel for longer than the window (a cut that healed).
        public var heartbeatsLost: UInt64
        /// It sent nothing for longer than the window (its own stall).
        public var peerStalled: UInt64
        /// The last return, as the daemon logged it.
        public var last: String?
    }

    public struct PeerFailures: Codable, Hashable, Sendable {
        public var missedHeartbeats: UInt64
        public var unansweredRequests: UInt64
    }

    /// One interface's frame paths: the XDP program's verdicts and the ARP/ND responder.
    public struct Path: Codable, Hashable, Sendable {
        public struct XDP: Codable, Hashable, Sendable {
            /// native or generic.
            public var attachMode: String
            /// off, monitor, takeover.
            public var mode: String
            /// Packets per outcome (the program's per-CPU counters summed), keyed by outcome name.
            public var packets: [String: UInt64]
        }

        public struct Responder: Codable, Hashable, Sendable {
            public var running: Bool
            public var answering: Bool
            public var addresses: [String]
            public var framesReceived: UInt64
            /// Of `framesReceived`, the ARP/ND frames the AF_XDP capture diverted to the responder (takeover mode).
            public var framesFromInbox: UInt64
            /// Diverted frames dropped on the way (the responder's inbox full, or a frame longer than its slots).
            public var inboxDrops: UInt64
            public var arpRepliesSent: UInt64
            public var neighborAdvertisementsSent: UInt64
            /// Requests seen and not answered (not ours, malformed…).
            public var ignored: UInt64
            /// Answers that could not be sent.
            public var unsent: UInt64
            public var announcementsSent: UInt64
            public var announcementsDeferred: UInt64
            public var transmitFailures: UInt64
            public var knownClients: Int
            public var lastError: String?
        }

        public var interface: String
        public var xdp: XDP?
        /// Why there is no XDP on this interface (when `xdp` is absent).
        public var xdpUnavailableReason: String?
        /// What the session tracker reads here: "af_xdp" or "libpcap" (absent in stateless mode).
        public var sessionCapture: String?
        public var responder: Responder?
    }

    /// The session tracker, when the engine runs one (state-based mode).
    public struct Sessions: Codable, Hashable, Sendable {
        public var count: Int
        public var framesReceived: UInt64
        public var recordsTracked: UInt64
        /// Frames lost anywhere between the wire and the tracker.
        public var dropped: UInt64
    }

    /// The last transition's timeline.
    public struct Failover: Codable, Hashable, Sendable {
        public struct Step: Codable, Hashable, Sendable {
            public var step: String
            public var startedAfterMicroseconds: UInt64?
            public var finishedAfterMicroseconds: UInt64?
        }

        /// Increasing within one daemon run: a new id is a new transition.
        public var id: UInt64
        public var group: UInt16
        public var from: String
        public var to: String
        /// The reason's name (peerFailed, operatorTakeover, …) and its sentence.
        public var reason: String
        public var reasonText: String
        /// How long ago the decision was taken (for a takeover: the failure decided).
        public var decidedAgoMicroseconds: UInt64
        /// The decision on CLOCK_MONOTONIC (ns; the same clock for every process of the machine, in any network
        /// namespace): to line it up with another process's stamps, such as a lab's failure (absent in older reports).
        public var decidedAtMonotonicNanoseconds: UInt64?
        public var steps: [Step]
        /// Decision → first announcement on the wire (takeovers; absent when none went out yet).
        public var firstAnnouncementAfterMicroseconds: UInt64?
        /// Decision → first ARP/ND request for the group's addresses answered by the responder (takeovers; absent
        /// until a client asked). Frames the XDP program rewrote to our MAC are answered by the kernel, unseen here.
        public var firstClientAnswerAfterMicroseconds: UInt64?
        /// Releases: decision → release finished.
        public var releaseFinishedAfterMicroseconds: UInt64?
    }

    public var schemaVersion: Int
    public var node: Node
    public var peer: Node
    public var controller: Controller
    public var groups: [Group]
    /// Addresses this node answers for now (the union of the served groups').
    public var ownedAddresses: [String]
    public var heartbeats: [HeartbeatChannel]
    public var paths: [Path]
    public var sessions: Sessions?
    public var lastFailover: Failover?
}
