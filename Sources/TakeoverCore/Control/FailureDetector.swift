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

        public init(
            channelCount: Int, interval: UInt64, missCount: Int, usesPeerTraffic: Bool = true,
            stallThreshold: UInt64? = nil
        ) {
            precondition(channelCount >= 1 && channelCount <= 8, "1 to 8 heartbeat channels")
            precondition(interval > 0 && missCount >= 1, "interval and miss count must be positive")
            self.channelCount = channelCount
            self.interval = interval
            self.missCount = missCount
            self.usesPeerTraffic = usesPeerTraffic
            // Below the window: a stall that could hide the peer's heartbeats for a whole window must be excused,
            // not judged (the former default, max(3 intervals, 5 ms), let a 4 ms stall of ours fail the peer at 1 ms).
            self.stallThreshold = stallThreshold ?? max(interval, min(interval + interval / 2, interval * UInt64(missCount)))
        }

        /// How long a channel may stay silent before it counts as missing.
        public var window: UInt64 { interval * UInt64(missCount) }
    }

    public struct Verdict: Hashable, Sendable {
        public var peerFailed: Bool
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
    }

    public mutating func peerTrafficSeen(at time: MonotonicTime) {
        if lastPeerTraffic < time { lastPeerTraffic = time }
    }

    public mutating func tick(at now: MonotonicTime) -> Verdict {
        var stall: UInt64 = 0
        let gap = now.nanoseconds(since: lastTick)
        if gap > configuration.stallThreshold {
            // The part of the gap beyond one interval is time we were not looking.
            stall = gap - configuration.interval
            stallsExcused += 1
            excuse(stall, until: now)
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
        return Verdict(
            peerFailed: live == 0 && trafficSilent, liveChannels: live, stall: stall,
            silence: now.nanoseconds(since: newestSignOfLife))
    }

    /// The first moment at which `tick` fails the peer if nothing more is heard (and no stall of ours is
    /// excused meanwhile): the newest sign of life plus the window, plus 1 ns (a silence of exactly the window
    /// still counts as alive).
    public var failureDeadline: MonotonicTime { newestSignOfLife + (configuration.window + 1) }

    private var newestSignOfLife: MonotonicTime {
        var newest = withUnsafeBytes(of: lastHeard) { raw in
            let slots = raw.bindMemory(to: MonotonicTime.self)
            var newest = slots[0]
            for channel in 1..<configuration.channelCount where newest < slots[channel] { newest = slots[channel] }
            return newest
        }
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
    }
}
