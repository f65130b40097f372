import Testing
import TakeoverCore

@Suite struct FailoverStateMachineTests {
    @Test func bothStartingAtOnceThePreferredServes() {
        var lab = TwoNodeSimulation(priorities: (200, 100))
        lab.run(steps: 10)
        #expect(lab.state(0) == .active)
        #expect(lab.state(1) == .standby)
        #expect(lab.dualOwnerSteps.isEmpty)
    }

    @Test func equalPrioritiesBreakTheTieByNodeID() {
        var lab = TwoNodeSimulation(priorities: (100, 100))
        lab.run(steps: 10)
        #expect(lab.state(0) == .active, "node 1 < node 2 wins the tie")
        #expect(lab.state(1) == .standby)
    }

    @Test func aLoneNodeServesAfterTheStartupWait() {
        var lab = TwoNodeSimulation(priorities: (100, 200), startB: false)
        lab.run(steps: 2)
        #expect(lab.state(0) == .initializing)
        lab.run(steps: 3)
        #expect(lab.state(0) == .active)
        #expect(lab.nodes[0].transitions.last?.reason == .startupNoPeer)
    }

    @Test func preferredNodeReturnsAndTakesBackWithoutTwoOwners() {
        var lab = TwoNodeSimulation(priorities: (100, 200), preemptDelay: 5_000_000, startB: false)
        lab.run(steps: 10)
        #expect(lab.state(0) == .active)
        lab.start(1)
        lab.run(steps: 3)
        #expect(lab.state(1) == .standby, "the returning preferred node waits for the group to be released")
        #expect(lab.nodes[1].machine.outgoingFlags.contains(.ready))
        lab.run(steps: 3)
        #expect(lab.state(0) == .active, "the preemption delay has not passed")
        lab.run(steps: 10)
        #expect(lab.state(1) == .active)
        #expect(lab.state(0) == .standby)
        #expect(lab.nodes[1].transitions.last?.reason == .handedBack)
        #expect(lab.nodes[0].transitions.map(\.reason).contains(.preempted))
        #expect(lab.dualOwnerSteps.isEmpty)
    }

    /// A heartbeat that arrives after a newer one (delayed in the kernel, or on the other channel) must not turn the
    /// view of the peer back: the peer that has since become active, seen as the standby it was, would look like
    /// nobody serving and make this node active too. Rows: the stale message's incarnation and sequence.
    @Test(arguments: [(UInt64(5), UInt64(7)), (5, 1), (4, 50)])
    func anOlderHeartbeatDoesNotTurnTheViewBack(incarnation: UInt64, sequence: UInt64) {
        func heartbeat(_ state: FailoverState, _ flags: HeartbeatFlags = [], incarnation: UInt64 = 5, sequence: UInt64) -> FailoverInput {
            .heartbeat(HeartbeatMessage(
                flags: flags, group: 7, channel: 0, priority: 100, state: state, nodeID: 2, incarnation: incarnation,
                sequence: sequence, sendTime: 0))
        }
        let ms: UInt64 = 1_000_000
        var machine = FailoverStateMachine(
            policy: .init(nodeID: 1, priority: 200, preempt: true, failureWindow: 3 * ms), group: 7, start: .zero)
        // We (preferred) handed the group to the peer; now the operator wants it back: `ready` + `manual`.
        _ = machine.handle(heartbeat(.active, sequence: 8), at: MonotonicTime(nanoseconds: ms))
        #expect(machine.state == .standby)
        _ = machine.handle(.operatorTakeover, at: MonotonicTime(nanoseconds: 2 * ms))
        #expect(machine.state == .standby && machine.outgoingFlags.contains(.manual))
        let stale = machine.handle(heartbeat(.standby, incarnation: incarnation, sequence: sequence), at: MonotonicTime(nanoseconds: 3 * ms))
        #expect(stale.transition == nil && machine.state == .standby, "the peer still serves, as its newest heartbeat said")
        #expect(machine.peer?.state == .active)
        // A newer heartbeat is taken: the peer released the group to us.
        let handedBack = machine.handle(heartbeat(.standby, .released, sequence: 10), at: MonotonicTime(nanoseconds: 4 * ms))
        #expect(handedBack.transition?.reason == .handedBack && machine.state == .active)
        // A restarted peer (higher incarnation) starts its sequence again, and is heard.
        _ = machine.handle(heartbeat(.initializing, incarnation: 6, sequence: 1), at: MonotonicTime(nanoseconds: 5 * ms))
        #expect(machine.peer?.state == .initializing)
    }

    @Test func withoutPreemptionTheHolderKeepsTheGroup() {
        var lab = TwoNodeSimulation(priorities: (100, 200), preempt: false, startB: false)
        lab.run(steps: 10)
        lab.start(1)
        lab.run(steps: 50)
        #expect(lab.state(0) == .active)
        #expect(lab.state(1) == .standby)
        #expect(!lab.nodes[1].machine.outgoingFlags.contains(.ready))
    }

    @Test(arguments: [1, 3, 5])
    func crashedActiveIsTakenOverAfterTheMissWindow(missCount: Int) throws {
        var lab = TwoNodeSimulation(priorities: (200, 100), missCount: missCount)
        lab.run(steps: 10)
        lab.nodes[0].crashed = true
        let crashStep = lab.step
        lab.run(steps: missCount + 3)
        #expect(lab.state(1) == .active)
        let takeover = try #require(lab.nodes[1].transitions.last)
        #expect(takeover.reason == .peerFailed)
        let stepsToDecide = Int(takeover.at.nanoseconds / TwoNodeSimulation.interval) - crashStep
        // The last heartbeat arrives one step after the crash; the peer fails once more than `missCount`
        // intervals have passed since it.
        #expect(stepsToDecide == missCount + 2)
    }

    @Test func lossOnOneChannelNeverCausesATakeover() {
        var lab = TwoNodeSimulation(priorities: (200, 100))
        lab.drop = { sender, channel, _ in sender == 0 && channel == 0 }
        lab.run(steps: 200)
        #expect(lab.state(1) == .standby)
        #expect(lab.nodes[1].transitions.allSatisfy { $0.reason != .peerFailed })
    }

    @Test func flappingLossBelowTheMissCountNeverCausesATakeover() {
        var lab = TwoNodeSimulation(priorities: (200, 100), missCount: 3)
        // Both channels lose two heartbeats out of every three.
        lab.drop = { sender, _, step in sender == 0 && step % 3 != 0 }
        lab.run(steps: 300)
        #expect(lab.state(1) == .standby)
    }

    @Test func aPartitionedHeartbeatPathIsCoveredByPeerTraffic() {
        var lab = TwoNodeSimulation(priorities: (200, 100))
        lab.run(steps: 10)
        lab.clientTraffic = true
        lab.drop = { sender, _, _ in sender == 0 }
        lab.run(steps: 100)
        #expect(lab.state(1) == .standby, "the peer's own frames prove it is alive")
        lab.clientTraffic = false
        lab.run(steps: 10)
        #expect(lab.state(1) == .active)
    }

    @Test func gracefulShutdownHandsOverWithinOneMessage() throws {
        var lab = TwoNodeSimulation(priorities: (200, 100))
        lab.run(steps: 10)
        lab.apply(0, .shutdown)
        #expect(lab.state(0) == .releasing)
        var stepsUntilPeerActive = 0
        while lab.state(1) != .active && stepsUntilPeerActive < 20 {
            lab.run(steps: 1)
            stepsUntilPeerActive += 1
        }
        #expect(lab.state(0) == .stopped)
        #expect(lab.state(1) == .active)
        #expect(try #require(lab.nodes[1].transitions.last).reason == .peerReleasing)
        #expect(stepsUntilPeerActive == lab.releaseSteps + 1, "release work, then one hop")
        #expect(lab.dualOwnerSteps.isEmpty)
    }

    @Test func frozenNodeResumesAndStepsDownInsteadOfStayingDualOwner() {
        var lab = TwoNodeSimulation(priorities: (200, 100), missCount: 3)
        lab.run(steps: 10)
        lab.nodes[0].frozen = true
        lab.run(steps: 20)
        #expect(lab.state(1) == .active)
        lab.nodes[0].frozen = false
        lab.run(steps: 1)
        #expect(lab.state(0) == .releasing, "it steps down at once after resuming")
        // The peer's heartbeat saying it is active arrives first; the dual-owner rule steps this node down.
        #expect(lab.nodes[0].transitions.last?.reason == .dualOwner)
        lab.run(steps: 30)
        // Preemption then hands the group back to the preferred node cleanly.
        #expect(lab.state(0) == .active)
        #expect(lab.state(1) == .standby)
        // The frozen node's state said active while it was stopped; that is not counted as answering here
        // because it was frozen; once it runs again there is never a step with two owners.
        #expect(lab.dualOwnerSteps.allSatisfy { $0 <= 30 })
        #expect(!lab.dualOwnerSteps.contains { $0 > 30 })
    }

    @Test func healedPartitionEndsWithOneOwner() {
        var lab = TwoNodeSimulation(priorities: (200, 100))
        lab.run(steps: 10)
        lab.drop = { _, _, _ in true }
        lab.run(steps: 10)
        #expect(lab.state(0) == .active && lab.state(1) == .active, "a full partition makes both serve")
        lab.drop = { _, _, _ in false }
        lab.run(steps: 20)
        let owners = [0, 1].filter { lab.state($0) == .active }
        #expect(owners == [0])
        #expect(lab.nodes[0].transitions.map(\.reason).contains(.dualOwner))
    }

    /// Found by the namespace lab: after a healed partition the preferred node yields and at once wants the group
    /// back. If it also said `released` (its hand-over flag stays up until it sees the peer active), the peer —
    /// having answered the `ready` by releasing — took that stale `released` as a hand-back once in standby, and
    /// both nodes went active again. Here B's heartbeats are lost just as A finishes yielding, so A never sees B
    /// still active: exactly the real race (B reacts to `ready` within a millisecond, before its next heartbeat).
    @Test func aNodeThatWantsTheGroupBackNeverAlsoSaysReleased() {
        var lab = TwoNodeSimulation(priorities: (200, 100))
        lab.run(steps: 10)
        lab.drop = { _, _, _ in true }
        lab.run(steps: 10)
        #expect(lab.state(0) == .active && lab.state(1) == .active, "a full partition makes both serve")
        let healed = lab.step
        lab.drop = { sender, _, step in sender == 1 && (healed + 3...healed + 4).contains(step) }
        lab.run(steps: 30)
        #expect(lab.state(0) == .active && lab.state(1) == .standby)
        #expect(!lab.dualOwnerSteps.contains { $0 > healed + 1 }, "dual owners after the heal: \(lab.dualOwnerSteps)")
        let afterHeal = MonotonicTime(nanoseconds: UInt64(healed) * TwoNodeSimulation.interval)
        #expect(lab.nodes[0].transitions.filter { $0.at > afterHeal }.map(\.reason) == [.dualOwner, .releaseDone, .handedBack])
        #expect(lab.nodes[1].transitions.filter { $0.at > afterHeal }.map(\.reason) == [.preempted, .releaseDone], "no flapping")
        let flags = lab.nodes[0].machine.outgoingFlags
        #expect(!(flags.contains(.ready) && flags.contains(.released)))
    }

    @Test func operatorReleaseHandsTheGroupToTheStandby() {
        var lab = TwoNodeSimulation(priorities: (200, 100))
        lab.run(steps: 10)
        lab.apply(0, .operatorRelease)
        lab.run(steps: 10)
        #expect(lab.state(1) == .active)
        #expect(lab.state(0) == .standby)
        lab.run(steps: 50)
        #expect(lab.state(1) == .active, "after an operator release the preferred node does not grab it back")
        #expect(lab.dualOwnerSteps.isEmpty)
    }

    @Test func operatorTakeoverAsksThePeerAndSkipsThePreemptionDelay() {
        var lab = TwoNodeSimulation(priorities: (200, 100), preemptDelay: 1_000_000_000)
        lab.run(steps: 10)
        lab.apply(1, .operatorTakeover)
        #expect(lab.state(1) == .standby, "the peer is alive: ask, do not grab")
        #expect(lab.nodes[1].machine.outgoingFlags == [.ready, .manual])
        lab.run(steps: 10)
        #expect(lab.state(1) == .active)
        #expect(lab.nodes[0].transitions.map(\.reason).contains(.peerOperatorTakeover))
        #expect(lab.dualOwnerSteps.isEmpty)
    }

    @Test func commandsThatWouldLeaveNobodyServingAreRefused() {
        var lab = TwoNodeSimulation(priorities: (200, 100), startB: false)
        lab.run(steps: 10)
        let now = lab.now
        let onActive = lab.nodes[0].machine.handle(.operatorRelease, at: now)
        let onIdle = lab.nodes[1].machine.handle(.operatorRelease, at: now)
        #expect(onActive.refusal == .peerNotAlive)
        #expect(onIdle.refusal == .notActive)
        #expect(lab.state(0) == .active)
    }
}
