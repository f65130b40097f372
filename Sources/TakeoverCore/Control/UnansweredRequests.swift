/// The unanswered-requests rule: a liveness signal only a state-based standby has. Its capture sees the frames
/// clients send TO the peer's MAC as well as the peer's own frames; a peer that has died stops answering while its
/// clients go on sending. When, in addition, every heartbeat channel has missed at least `missedIntervals`
/// intervals, the peer is failed before the full miss count.
///
///     peer's last frame P          N-th client frame to the peer (within W of P)          P + W     heartbeat point
///     ──────┼──────────────────────────────┼────────────────────────────────────────────────┼────────────┼──────►
///           └──── no frame from the peer at all ───────────────────────────────────────────►│            │
///                                                                      fails at max(P + W, newest heartbeat + k × interval)
///
/// Guards: heartbeats are authenticated (HMAC), so nothing a stranger sends can fire this rule unless every
/// channel's heartbeats are also missing; frames to the peer count only within W after a frame FROM the peer (no
/// peer traffic seen at all — a switch that does not mirror — keeps the rule off); our own stalls move P and the
/// evidence forward like every other deadline (`FailureDetector`).
public struct UnansweredRequestRule: Hashable, Sendable {
    /// W: how long the peer must have sent nothing at all while clients sent to it (ns).
    public var window: UInt64
    /// N: client frames to the peer, after its last frame and within `window` of it, needed as evidence.
    public var minimumFrames: Int
    /// k: intervals every heartbeat channel must have missed first (at least 1, below the miss count).
    public var missedIntervals: Int

    public init(window: UInt64, minimumFrames: Int = 2, missedIntervals: Int = 1) {
        precondition(window > 0 && minimumFrames >= 1 && missedIntervals >= 1, "unanswered-requests rule: positive settings")
        self.window = window
        self.minimumFrames = minimumFrames
        self.missedIntervals = missedIntervals
    }
}

/// The capture side of the rule, frame by frame on the receive thread (no allocation, a few compares): counts the
/// client frames to the peer's MAC since the peer's last frame, within the window, and notes when the N-th came.
///
///     frameFromPeer(at:)  — any frame from the peer's MAC: a new run starts, nothing is unanswered
///     frameToPeer(at:)    — a frame to the peer's MAC from anyone else (a client)
///     evidence            — when the current run reached N frames (nil: not, or no peer frame seen yet)
public struct UnansweredRequestCounter: Sendable {
    public let rule: UnansweredRequestRule
    /// The peer's newest frame; 0 before the first (then nothing counts: we may not see its traffic at all).
    private var peerFrame: UInt64 = 0
    private var count = 0
    private var reached: UInt64 = 0

    public init(rule: UnansweredRequestRule) { self.rule = rule }

    public var evidence: MonotonicTime? { reached == 0 ? nil : MonotonicTime(nanoseconds: reached) }

    public mutating func frameFromPeer(at time: MonotonicTime) {
        // Frames arrive in capture order; a stamp older than the run's start (another queue) does not end it.
        guard time.nanoseconds >= peerFrame else { return }
        peerFrame = time.nanoseconds
        count = 0
        reached = 0
    }

    /// Returns true when this frame is the N-th of the run (the evidence is new).
    @discardableResult
    public mutating func frameToPeer(at time: MonotonicTime) -> Bool {
        let t = time.nanoseconds
        guard peerFrame != 0, t > peerFrame, t - peerFrame <= rule.window, count < rule.minimumFrames else { return false }
        count += 1
        guard count == rule.minimumFrames else { return false }
        reached = t
        return true
    }
}
