import TakeoverCore

/// Two nodes running the real detector and state machine for one group, on a simulated clock with 1 ms steps.
/// Heartbeats go out every interval on every channel (and at once after a transition) and arrive at the next
/// step unless the scenario drops them. The engine's release actions take `releaseSteps` steps.
struct TwoNodeSimulation {
    struct Node {
        var name: String
        var machine: FailoverStateMachine
        var detector: FailureDetector
        var sequence: UInt64 = 0
        var crashed = false
        var frozen = false
        var releaseDueStep: Int?
        var transitions: [FailoverTransition] = []
    }

    static let interval: UInt64 = 1_000_000
    var nodes: [Node]
    var step = 0
    var releaseSteps = 2
    /// (sender index, channel, step) → dropped?
    var drop: (Int, Int, Int) -> Bool = { _, _, _ in false }
    /// Whether the peer's traffic reaches the other node's capture (the active node's kernel answers clients).
    var clientTraffic = false
    var inFlight: [(to: Int, channel: Int, message: HeartbeatMessage)] = []
    /// Steps at which both nodes were active (answering) at once.
    var dualOwnerSteps: [Int] = []

    init(priorities: (UInt8, UInt8), preempt: Bool = true, preemptDelay: UInt64 = 0, missCount: Int = 3, channels: Int = 2, startB: Bool = true) {
        func node(_ name: String, _ id: UInt32, _ priority: UInt8) -> Node {
            let window = Self.interval * UInt64(missCount)
            return Node(
                name: name,
                machine: FailoverStateMachine(
                    policy: .init(nodeID: id, priority: priority, preempt: preempt, preemptDelay: preemptDelay, failureWindow: window),
                    group: 7, start: .zero),
                detector: FailureDetector(
                    configuration: .init(channelCount: channels, interval: Self.interval, missCount: missCount), start: .zero))
        }
        nodes = [node("A", 1, priorities.0), node("B", 2, priorities.1)]
        nodes[1].crashed = !startB
    }

    var now: MonotonicTime { MonotonicTime(nanoseconds: UInt64(step) * Self.interval) }
    func state(_ index: Int) -> FailoverState { nodes[index].machine.state }

    mutating func start(_ index: Int) {
        let window = nodes[index].detector.configuration
        nodes[index].machine = FailoverStateMachine(policy: nodes[index].machine.policy, group: 7, start: now)
        nodes[index].detector = FailureDetector(configuration: window, start: now)
        nodes[index].crashed = false
    }

    mutating func apply(_ index: Int, _ input: FailoverInput) {
        let outcome = nodes[index].machine.handle(input, at: now)
        guard let transition = outcome.transition else { return }
        nodes[index].transitions.append(transition)
        if outcome.stopServing { nodes[index].releaseDueStep = step + releaseSteps }
        if outcome.sendHeartbeatNow { send(from: index) }
    }

    mutating func send(from index: Int) {
        let node = nodes[index]
        let channels = node.detector.configuration.channelCount
        for channel in 0..<channels where !drop(index, channel, step) {
            nodes[index].sequence += 1
            let message = HeartbeatMessage(
                flags: node.machine.outgoingFlags, group: 7, channel: UInt8(channel),
                priority: node.machine.policy.priority, state: node.machine.state, nodeID: node.machine.policy.nodeID,
                incarnation: 1, sequence: nodes[index].sequence, sendTime: now.nanoseconds)
            inFlight.append((1 - index, channel, message))
        }
    }

    mutating func run(steps count: Int, each: (inout TwoNodeSimulation) -> Void = { _ in }) {
        for _ in 0..<count {
            step += 1
            each(&self)
            let arriving = inFlight
            inFlight = []
            for (to, channel, message) in arriving where !nodes[to].crashed && !nodes[to].frozen {
                nodes[to].detector.heartbeatReceived(onChannel: channel, at: now)
                apply(to, .heartbeat(message))
            }
            for index in nodes.indices where !nodes[index].crashed && !nodes[index].frozen {
                if clientTraffic, nodes[1 - index].machine.state == .active, !nodes[1 - index].crashed {
                    nodes[index].detector.peerTrafficSeen(at: now)
                }
                if let due = nodes[index].releaseDueStep, due <= step {
                    nodes[index].releaseDueStep = nil
                    apply(index, .releaseCompleted)
                }
                apply(index, .tick(nodes[index].detector.tick(at: now)))
                send(from: index)
            }
            let answering = nodes.indices.filter { !nodes[$0].crashed && nodes[$0].machine.state == .active }
            if answering.count > 1 { dualOwnerSteps.append(step) }
        }
    }
}
