public import TakeoverCore

/// What the receive thread did with the frames the source handed it. Every frame lands in exactly one of
/// `recordsQueued`, `framesWithoutFlow`, `droppedRingFull` or `malformed`:
///
///     framesReceived == recordsQueued + framesWithoutFlow + droppedRingFull + malformed.total
public struct CaptureReceiveCounters: Sendable, Equatable {
    /// Frames the source lent to the pipeline.
    public var framesReceived: UInt64 = 0
    /// TCP/UDP records pushed into the ring for the tracker.
    public var recordsQueued: UInt64 = 0
    /// Well-formed frames with nothing to track (ARP, ICMP, later fragments, other protocols). Not a drop.
    public var framesWithoutFlow: UInt64 = 0
    /// TCP/UDP frames lost because the ring to the tracker thread was full (the tracker fell behind).
    public var droppedRingFull: UInt64 = 0
    /// Frames the parser refused, by reason.
    public var malformed = MalformedFrameCounts()
    /// Frames sent from the peer's MAC (whatever became of them).
    public var peerFrames: UInt64 = 0
    /// Frames the backend cut at its snapshot length (parsed anyway when the headers were complete).
    public var truncatedFrames: UInt64 = 0
    /// Batches received (frames per batch = framesReceived / batches: how well the backend batches).
    public var batches: UInt64 = 0

    public init() {}
}

/// A consistent-enough snapshot of the whole pipeline: each part is exact as of its own last publication
/// (the receive side publishes after every batch, the tracker side after every drained batch).
public struct CapturePipelineStatistics: Sendable, Equatable {
    public var receive: CaptureReceiveCounters
    /// The backend's own counters: frames it matched, and frames lost before the pipeline saw them (kernel
    /// ring full, interface drops). Read on the receive thread about every `statisticsInterval`, and at stop.
    public var source: PacketSourceStatistics
    /// Records the tracker thread took from the ring and fed to the tracker.
    public var recordsTracked: UInt64
    /// The tracker's own counters (created, updated, ignored, table full, expired).
    public var tracker: TrackerStatistics
    /// Sessions held now.
    public var sessionCount: Int
    /// Bounded expiry sweeps run so far.
    public var expirySweeps: UInt64
    /// The newest frame from the peer's MAC, `nil` before the first.
    public var lastPeerFrame: MonotonicTime?

    /// Every frame lost anywhere between the wire and the tracker, by any cause.
    public var totalDropped: UInt64 {
        source.dropped &+ source.interfaceDropped &+ receive.droppedRingFull &+ receive.malformed.total
    }
}
