import TakeoverCore

/// The capture pipeline's receive thread, frame by frame: classify, count, write records into the ring, note the
/// newest peer frame, copy TCP payload into the store when there is one.
///
/// A value handed to `PacketSource.receive(limit:into:)` rather than a closure: libpcap calls its handler from a
/// C callback, which can reach a closure only through a heap box made once per `receive` call
/// (`withoutActuallyEscaping`), but reaches a value through a pointer to it. The receive thread keeps one handler
/// for its whole life; it owns the ring's producer end and the receive counters.
///
///     begin(payloadStore:) ── receive(limit:into: &handler) → handle(frame) × n ── finish() → newest peer frame,
///                                                                                       new unanswered evidence
struct CaptureBatchHandler: ReceivedFrameHandler, ~Copyable {
    private var producer: SPSCRing<CaptureRecord>.Producer
    private let peerMAC: MACAddress?
    private let batchSize: Int
    /// Since the thread started; the pipeline publishes a copy after each batch.
    private(set) var counters = CaptureReceiveCounters()
    /// Slots reserved for this batch, and how many of them hold records.
    private var room = 0
    private var written = 0
    /// Nanoseconds of the newest frame from the peer in this batch; 0 when none.
    private var newestPeerFrame: UInt64 = 0
    /// The unanswered-requests rule's capture side (frames to the peer's MAC since its last frame); nil: off.
    private var unanswered: UnansweredRequestCounter?
    /// Nanoseconds of the evidence reached in this batch; 0 when none.
    private var newEvidence: UInt64 = 0
    /// The payload store for this batch only: the caller holds the store's lock (`SessionPayloadCapture.withStore`)
    /// from `begin` to `finish` and the pointer is cleared at `finish`, so it never outlives the access (a receive
    /// that throws ends the receive thread: the handler is not used again). `nil`: no payload capture.
    private var payloadStore: UnsafeMutablePointer<SessionPayloadStore>?

    init(
        producer: consuming SPSCRing<CaptureRecord>.Producer, peerMAC: MACAddress?, batchSize: Int,
        unansweredRequests: UnansweredRequestRule? = nil
    ) {
        self.producer = producer
        self.peerMAC = peerMAC
        self.batchSize = batchSize
        unanswered = peerMAC == nil ? nil : unansweredRequests.map(UnansweredRequestCounter.init)
    }

    /// What a batch publishes (ns; 0: none in this batch).
    struct Signals {
        var newestPeerFrame: UInt64
        var unansweredEvidence: UInt64
    }

    /// Starts a batch: reserves up to `batchSize` ring slots. `payloadStore` must stay valid and exclusively
    /// this handler's until `finish`.
    mutating func begin(payloadStore: UnsafeMutablePointer<SessionPayloadStore>?) {
        room = producer.reserve(batchSize)
        written = 0
        newestPeerFrame = 0
        newEvidence = 0
        self.payloadStore = payloadStore
    }

    /// Publishes the batch's records to the tracker and returns what the controller wants from the batch.
    mutating func finish() -> Signals {
        producer.submit(written)
        counters.batches &+= 1
        payloadStore = nil
        return Signals(newestPeerFrame: newestPeerFrame, unansweredEvidence: newEvidence)
    }

    mutating func handle(_ frame: ReceivedFrame) {
        counters.framesReceived &+= 1
        if frame.isTruncated { counters.truncatedFrames &+= 1 }
        var fromPeer = false
        switch FrameClassification.classify(frame, peerMAC: peerMAC) {
        case .record(let record):
            fromPeer = record.flags.contains(.fromPeer)
            if let payloadStore, case .tcp(let segment) = record.transport {
                payloadStore.pointee.capture(
                    record.flow, segment, payload: frame.payload(of: segment), at: record.timestamp)
            }
            // A full reservation gets one refresh: the tracker may have freed slots meanwhile.
            if written == room { room = producer.reserve(batchSize) }
            if written < room {
                producer[written] = record
                written &+= 1
                counters.recordsQueued &+= 1
            } else {
                counters.droppedRingFull &+= 1
            }
        case .noFlow(let peer):
            fromPeer = peer
            counters.framesWithoutFlow &+= 1
        case .malformed(let reason, let peer):
            fromPeer = peer
            counters.malformed[reason] &+= 1
        }
        if fromPeer {
            counters.peerFrames &+= 1
            newestPeerFrame = Swift.max(newestPeerFrame, frame.timestamp.nanoseconds)
            unanswered?.frameFromPeer(at: frame.timestamp)
        } else if unanswered != nil, frame.bytes.count >= 6, MACAddress(reading: frame.bytes, at: 0) == peerMAC,
            unanswered!.frameToPeer(at: frame.timestamp)
        {
            newEvidence = frame.timestamp.nanoseconds
        }
    }
}
