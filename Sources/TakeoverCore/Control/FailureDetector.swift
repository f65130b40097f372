/// Decides whether the peer has failed, from heartbeats on one or more channels and, optionally, from the
/// peer's own traffic. Pure: the caller passes the time.
///
/// The peer has failed when every channel has gone `missCount` intervals without a valid heartbeat **and**
/// (when `usesPeerTraffic`) no frame from the peer's MAC was seen for as long. A loss on one channel alone never
/// fails the peer.
///
/// Stall guard: `tick` is expected about once per interval. When a tick comes later than `stallThreshold`
/// after the previous one, our own loop was not running (scheduler, SIGSTOP, a paused VM): the silence we
/// measured is ours, not the peer's, so every deadline moves forward by the stall.
public struct FailureDetector: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var channelCount: Int
        public var interval: UInt64
        public var missCount: Int
        public var usesPeerTraffic: Bool
        /// A tick gap above this counts as our own stall; default: three intervals, at least 5 ms.
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
            self.stallThreshold = stallThreshold ?? max(3 * interval, 5_000_000)
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
        return Verdict(peerFailed: live == 0 && trafficSilent, liveChannels: live, stall: stall)
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
