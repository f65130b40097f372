import Logging
import Synchronization
import TakeoverCore
import TakeoverLinux

/// Says when state-based mode cannot work: the peer's heartbeats arrive, yet the capture on an interface has
/// seen no frame from the peer's MAC for a whole window — almost always a switch that forwards the peer's
/// unicast frames only to the peer's port. And says when the frames (again) arrive.
///
/// A thread of its own that wakes a few times per window and reads what the pipelines and the controller
/// already publish (an atomic, two snapshots): nothing on the data path changes for it.
final class PeerTrafficWatch: Sendable {
    struct Watched: Sendable {
        let interface: String
        let peerMAC: MACAddress
        let pipeline: CapturePipeline
    }

    private final class StopFlag: Sendable {
        let requested = Atomic(false)
    }

    private let stopSignal: EventFD
    private let stopFlag = StopFlag()
    private let thread: LoopThread

    init(watched: [Watched], controller: FailoverController, window: Duration, log: Logger) throws(SystemCallError) {
        let stopSignal = try EventFD()
        self.stopSignal = stopSignal
        let stopFlag = self.stopFlag
        let windowNanoseconds = UInt64(clamping: window.wholeNanoseconds)
        // A few looks per window, and at least four a second so the notice follows the first frames closely.
        let period = Int32(clamping: min(max(window.wholeNanoseconds / 4_000_000, 10), 250))
        thread = try LoopThread(name: "takeover-watch") {
            var seeing = [Bool?](repeating: nil, count: watched.count)
            var poller = PollSet(fileDescriptors: [stopSignal.fileDescriptor])
            let started = MonotonicClock.now()
            while !stopFlag.requested.load(ordering: .acquiring) {
                _ = try? poller.wait(timeoutMilliseconds: period)
                let now = MonotonicClock.now()
                let heartbeatsAlive = controller.counters.channels.contains { channel in
                    channel.lastAccepted.map { now.nanoseconds(since: $0) <= windowNanoseconds } ?? false
                }
                for (index, entry) in watched.enumerated() {
                    let lastPeerFrame = entry.pipeline.lastPeerFrame
                    let recent = lastPeerFrame.map { now.nanoseconds(since: $0) <= windowNanoseconds } ?? false
                    if recent && seeing[index] != true {
                        let statistics = entry.pipeline.statistics()
                        let message =
                            "\(entry.interface): capturing the peer's traffic (frames from \(entry.peerMAC)); "
                                + "\(statistics.sessionCount) session(s) tracked"
                        log.notice("\(message)")
                        seeing[index] = true
                    } else if !recent && seeing[index] != false && heartbeatsAlive
                        && now.nanoseconds(since: started) >= windowNanoseconds
                    {
                        let statistics = entry.pipeline.statistics().receive
                        let towardsPeer = statistics.framesReceived &- statistics.peerFrames
                        let message =
                            "\(entry.interface): no frame from the peer's MAC \(entry.peerMAC) captured for \(window), "
                                + "though its heartbeats arrive (\(towardsPeer) frame(s) to it seen in all). "
                                + "State-based mode needs this port to see the peer's traffic: a mirror (SPAN) port "
                                + "copying the peer's port in both directions, a hub, or a shared medium — a switch "
                                + "delivers the peer's unicast frames only to the peer. Until then the peer's sessions "
                                + "are not tracked and TCP recovery has nothing to act on. (A peer with no traffic at "
                                + "all looks the same.)"
                        log.warning("\(message)")
                        seeing[index] = false
                    }
                }
            }
        }
    }

    /// Ends the thread (bounded wait).
    func stop() {
        stopFlag.requested.store(true, ordering: .releasing)
        try? stopSignal.signal()
        _ = thread.join(timeoutNanoseconds: 2_000_000_000)
    }
}
