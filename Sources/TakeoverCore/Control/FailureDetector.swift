/// Decides whether the peer has failed, from heartbeats on one or more channels and, optionally, from the
/// peer's own traffic. Pure: the caller passes the time.
///
/// The peer has failed when every channel has gone `missCount` intervals without a valid heartbeat **and**
/// (when `usesPeerTraffic`) no frame from the peer's MAC was seen for as long. A loss on one channel alone never
/// fails the peer.
///
/// When to judge: `failureDeadline` is the exact moment the verdict would turn (the newest sign of life plus the
/// window). A loop that evaluates then — besides its periodic tick — decides at the deadline, not up to one
/// interval after it.
///
/// A second, earlier rule when configured (`unansweredRequests`, state-based standbys only): every channel has
/// missed `missedIntervals` intervals AND clients kept sending to the peer's MAC while the peer sent nothing for
/// the rule's window (`UnansweredRequestRule`). The verdict names the rule that decided.
///
/// Stall guard: our loop looks (`tick`) at least once per interval — its periodic timer — and in between at
/// deadlines. When a look comes later than `stallThreshold` after the previous one, our own loop was not
/// running (scheduler, SIGSTOP, a paused VM): the silence we measured is ours, not the peer's, so every
/// deadline moves forward by the stall. The threshold sits below the window (1.5 intervals by default), so a
/// stall long enough to empty the window is always excused rather than judged.
public struct FailureDetector: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var channelCount: Int
        public var interval: UInt64
        public var missCount: Int
        public var usesPeerTraffic: Bool
        /// A gap between two looks above this counts as our own stall; default: 1.5 intervals, at most the window.
        public var stallThreshold: UInt64
        /// The unanswered-requests rule; nil: off. Independent of `usesPeerTraffic` (it needs the peer's frames
        /// only as the start of the silence, and to know that this standby sees the peer's traffic at all).
        public var unansweredRequests: UnansweredRequestRule?

        public init(
            channelCount: Int, interval: UInt64, missCount: Int, usesPeerTraffic: Bool = true,
            stallThreshold: UInt64? = nil, unansweredRequests: UnansweredRequestRule? = nil
        ) {
            precondition(channelCount >= 1 && channelCount <= 8, "1 to 8 heartbeat channels")
            precondition(interval > 0 && missCount >= 1, "interval and miss count must be positive")
            self.channelCount = channelCount
            self.interval = interval
            self.missCount = missCount
            self.usesPeerTraffic = usesPeerTraffic
            self.unansweredRequests = unansweredRequests
            // Below the window: a stall that could hide the peer's heartbeats for a whole window must be excused,
            // not judged (the former default, max(3 intervals, 5 ms), let a 4 ms stall of ours fail the peer at 1 ms).
            self.stallThreshold = stallThreshold ?? max(interval, min(interval + interval / 2, interval * UInt64(missCount)))
        }

        /// How long a channel may stay silent before it counts as missing.
        public var window: UInt64 { interval * UInt64(missCount) }
    }

    /// Which rule failed the peer.
    public enum Rule: Hashable, Sendable {
        /// Every channel (and the peer's traffic, when it counts) silent for the miss count.
        case missedHeartbeats(count: Int)
        /// Every channel silent for `missedIntervals`, and at least `frames` client frames to the peer went
        /// unanswered while the peer sent nothing for `peerSilence` ns.
        case unansweredRequests(frames: Int, peerSilence: UInt64)
    }

    public struct Verdict: Hashable, Sendable {
        public var peerFailed: Bool
        /// The rule that failed the peer; nil when it is not failed.
        public var rule: Rule?
        /// Channels currently within their window.
        public var liveChannels: Int
        /// Our own stall detected at this tick (0 when none), already excused from the deadlines.
        public var stall: UInt64
        /// Time since the newest sign of life (a heartbeat on any channel, or the peer's traffic when it counts),
        /// after any excuse: when the peer is failed, how long after that sign we decided.
        public var silence: UInt64
    }

    public let configuration: Configuration
    private var lastHeard: (MonotonicTime, MonotonicTime, MonotonicTime, MonotonicTime,
                            MonotonicTime, MonotonicTime, MonotonicTime, MonotonicTime)
    private var lastPeerTraffic: MonotonicTime
    /// Whether any frame from the peer was reported (the unanswered rule is off until then).
    private var peerTrafficKnown = false
    /// When the capture had N unanswered client frames after the peer's last frame (`.zero`: none).
    private var unansweredEvidence = MonotonicTime.zero
    /// The end of our last excused stall: the unanswered rule's silences count only from here (the rule acts after
    /// one interval of silence; excusing the stall minus one interval, as for the miss count, would leave it nothing).
    private var observingSince = MonotonicTime.zero
    /// The last look failed the peer and nothing was heard since: no deadline to wait for.
    private var judgedFailed = false
    private var lastTick: MonotonicTime
    public private(set) var stallsExcused: UInt64 = 0

    /// Starts with every channel heard at `start`, so a fresh node gives its peer one full window.
    public init(configuration: Configuration, start: MonotonicTime) {
        self.configuration = configuration
        lastHeard = (start, start, start, start, start, start, start, start)
        lastPeerTraffic = start
        lastTick = start
    }

    public mutating func heartbeatReceived(onChannel channel: Int, at time: MonotonicTime) {
        guard channel >= 0 && channel < configuration.channelCount else { return }
        withUnsafeMutableBytes(of: &lastHeard) { raw in
            let slots = raw.bindMemory(to: MonotonicTime.self)
            if slots[channel] < time { slots[channel] = time }
        }
        judgedFailed = false
    }

    public mutating func peerTrafficSeen(at time: MonotonicTime) {
        if lastPeerTraffic < time || !peerTrafficKnown {
            lastPeerTraffic = max(lastPeerTraffic, time)
            peerTrafficKnown = true
            if configuration.usesPeerTraffic { judgedFailed = false }
        }
    }

    /// The capture counted the rule's N client frames to the peer, the N-th at `time`, all after the peer's last
    /// frame it saw (`UnansweredRequestCounter.evidence`).
    public mutating func unansweredRequestsSeen(at time: MonotonicTime) {
        if unansweredEvidence < time { unansweredEvidence = time }
    }

    public mutating func tick(at now: MonotonicTime) -> Verdict {
        var stall: UInt64 = 0
        let gap = now.nanoseconds(since: lastTick)
        if gap > configuration.stallThreshold {
            // The part of the gap beyond one interval is time we were not looking.
            stall = gap - configuration.interval
            stallsExcused += 1
            excuse(stall, until: now)
            observingSince = now
        }
        lastTick = now
        let window = configuration.window
        var live = 0
        withUnsafeBytes(of: lastHeard) { raw in
            let slots = raw.bindMemory(to: MonotonicTime.self)
            for channel in 0..<configuration.channelCount where now.nanoseconds(since: slots[channel]) <= window {
                live += 1
            }
        }
        let trafficSilent = !configuration.usesPeerTraffic || now.nanoseconds(since: lastPeerTraffic) > window
        var rule: Rule?
        if live == 0 && trafficSilent {
            rule = .missedHeartbeats(count: configuration.missCount)
        } else if let unanswered = configuration.unansweredRequests, unansweredRuleHolds(unanswered, at: now) {
            rule = .unansweredRequests(frames: unanswered.minimumFrames, peerSilence: now.nanoseconds(since: lastPeerTraffic))
        }
        judgedFailed = rule != nil
        return Verdict(
            peerFailed: rule != nil, rule: rule, liveChannels: live, stall: stall,
            silence: now.nanoseconds(since: newestSignOfLife))
    }

    /// Every channel silent beyond k intervals, the evidence belongs to the peer's current silence (after its last
    /// frame, within the window of it), and the peer has been silent for more than the window.
    private func unansweredRuleHolds(_ rule: UnansweredRequestRule, at now: MonotonicTime) -> Bool {
        hasEvidence(rule) && now >= unansweredPoint(rule)
    }

    /// When the rule holds, given evidence: both silences over, each counted from the end of our last stall.
    private func unansweredPoint(_ rule: UnansweredRequestRule) -> MonotonicTime {
        max(heartbeatPoint(rule), max(lastPeerTraffic, observingSince) + (rule.window + 1))
    }

    /// The moment every channel has missed k intervals (counted from the end of our last stall).
    private func heartbeatPoint(_ rule: UnansweredRequestRule) -> MonotonicTime {
        max(newestHeartbeat, observingSince) + (configuration.interval * UInt64(rule.missedIntervals) + 1)
    }

    private func hasEvidence(_ rule: UnansweredRequestRule) -> Bool {
        peerTrafficKnown && unansweredEvidence > lastPeerTraffic
            && unansweredEvidence.nanoseconds(since: lastPeerTraffic) <= rule.window
    }

    /// The next moment a look could find something new, or nil when the last look failed the peer and nothing
    /// was heard since (a timer armed at a past deadline would only spin). The earliest of: the miss-count
    /// deadline (`failureDeadline`); with the unanswered rule, once there is evidence, the moment it holds; before
    /// there is evidence, the moment every channel has missed k intervals (then `awaitsUnansweredEvidence` says
    /// that a new report must wake the loop). May be at or before `now`: then a look is due at once.
    public func nextDeadline(after now: MonotonicTime) -> MonotonicTime? {
        guard !judgedFailed else { return nil }
        var deadline = failureDeadline
        if let rule = configuration.unansweredRequests, peerTrafficKnown {
            if hasEvidence(rule) {
                deadline = min(deadline, unansweredPoint(rule))
            } else if now < heartbeatPoint(rule) {
                deadline = min(deadline, heartbeatPoint(rule))
            }
        }
        return deadline
    }

    /// Whether the unanswered rule waits only for the capture's evidence now: every channel has missed k intervals
    /// and the peer is not failed yet. The loop then wants to be woken by a new report rather than find it at the
    /// next tick.
    public func awaitsUnansweredEvidence(at now: MonotonicTime) -> Bool {
        guard let rule = configuration.unansweredRequests, peerTrafficKnown, !judgedFailed, !hasEvidence(rule) else {
            return false
        }
        return now >= heartbeatPoint(rule)
    }

    /// The first moment at which `tick` fails the peer if nothing more is heard (and no stall of ours is
    /// excused meanwhile): the newest sign of life plus the window, plus 1 ns (a silence of exactly the window
    /// still counts as alive).
    public var failureDeadline: MonotonicTime { newestSignOfLife + (configuration.window + 1) }

    private var newestHeartbeat: MonotonicTime {
        withUnsafeBytes(of: lastHeard) { raw in
            let slots = raw.bindMemory(to: MonotonicTime.self)
            var newest = slots[0]
            for channel in 1..<configuration.channelCount where newest < slots[channel] { newest = slots[channel] }
            return newest
        }
    }

    private var newestSignOfLife: MonotonicTime {
        var newest = newestHeartbeat
        if configuration.usesPeerTraffic && newest < lastPeerTraffic { newest = lastPeerTraffic }
        return newest
    }

    /// Moves every deadline forward by `stall`, never past `now`.
    private mutating func excuse(_ stall: UInt64, until now: MonotonicTime) {
        func moved(_ time: MonotonicTime) -> MonotonicTime { min(time + stall, now) }
        withUnsafeMutableBytes(of: &lastHeard) { raw in
            let slots = raw.bindMemory(to: MonotonicTime.self)
            for channel in 0..<configuration.channelCount { slots[channel] = moved(slots[channel]) }
        }
        lastPeerTraffic = moved(lastPeerTraffic)
        // The evidence moves with the peer's last frame: its distance to it is kept, the silence after it shrinks.
        if unansweredEvidence != .zero { unansweredEvidence = moved(unansweredEvidence) }
    }
}
