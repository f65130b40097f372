import Foundation
import Testing
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux

/// Not a check but a measurement, run on demand (`TAKEOVER_MEASURE=1`): repeated full cuts of the active node's
/// links, for a given heartbeat interval (miss count 3), printing the standby's decision latency after the last
/// heartbeat it heard, and from decision to the first takeover action.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["TAKEOVER_MEASURE"] != nil))
struct FailoverLatencyMeasurement {
    @Test(arguments: [(10, nil), (1, nil), (1, 50)] as [(Int, Int32?)])
    func decisionLatencyOverRepeatedCuts(intervalMilliseconds: Int, realtimePriority: Int32?) throws {
        let setup = try FailoverLab("fomeasure")
        defer { setup.lab.teardown() }
        let interval = Duration.milliseconds(intervalMilliseconds)
        let a = try setup.start(.a, actions: RecordingFailoverActions(), adjust: {
            $0.interval = interval
            $0.realtimePriority = realtimePriority
        })
        defer { a.shutdown(timeout: .seconds(3)) }
        let b = try setup.start(.b, actions: RecordingFailoverActions(), adjust: {
            $0.interval = interval
            $0.realtimePriority = realtimePriority
        })
        defer { b.shutdown(timeout: .seconds(3)) }
        #expect(FailoverLab.settle(a, .active, b, .standby))

        var decisions: [UInt64] = []
        var toAction: [UInt64] = []
        for _ in 0..<10 {
            let before = b.timelines.count
            try setup.cut(.a, channel: 0)
            try setup.cut(.a, channel: 1)
            guard waitUntil(timeout: .seconds(3), { b.state(of: FailoverLab.group) == .active }) else { break }
            if let takeover = b.timelines.dropFirst(before).first(where: { $0.transition.reason == .peerFailed }),
                let heard = b.lastHeard, let action = takeover.stamp(of: "serve", .started)
            {
                decisions.append(takeover.transition.at.nanoseconds(since: heard))
                toAction.append(action.nanoseconds(since: takeover.transition.at))
            }
            try setup.restore(.a, channel: 0)
            try setup.restore(.a, channel: 1)
            guard FailoverLab.settle(a, .active, b, .standby) else { break }
        }
        #expect(decisions.count == 10)
        let falseTakeovers = b.timelines.filter { $0.transition.reason == .peerFailed }.count - decisions.count
        func summary(_ values: [UInt64]) -> String {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return "-" }
            return "min \(sorted.first!.milliseconds), median \(sorted[sorted.count / 2].milliseconds), max \(sorted.last!.milliseconds)"
        }
        print("MEASURED interval \(intervalMilliseconds) ms × 3, \(realtimePriority.map { "SCHED_FIFO \($0)" } ?? "ordinary scheduling"), \(decisions.count) cuts: decision after last heartbeat heard: \(summary(decisions)); decision → first action: \(summary(toAction)); takeovers not caused by a cut: \(falseTakeovers); B stalls excused: \(b.counters.stallsExcused), late timer periods: \(b.counters.lateTimerExpirations)")
        print("MEASURED gaps: \(gapReport("A", a.counters)); \(gapReport("B", b.counters))")
    }

    /// Where the silence comes from: the node's own tick lateness (its heartbeats' spacing as sent), its view of
    /// the peer's heartbeats per channel (longest gap; how many arrived late; the peer's send spacing and late
    /// sends from the send times; sequence gaps = lost or extra), the stalls it excused, deadline judgements.
    func gapReport(_ name: String, _ counters: FailoverCounters) -> String {
        let channels = counters.channels.map { channel in
            "\(channel.name) longest gap \(channel.longestGap.milliseconds), late \(channel.lateArrivals), "
                + "peer longest send spacing \(channel.peerLongestSendSpacing.milliseconds), peer late sends "
                + "\(channel.peerLateSends), sequence gaps \(channel.sequenceGaps)"
        }
        return "\(name) [\(counters.scheduling)] longest tick gap \(counters.longestTickGap.milliseconds), "
            + "late timer periods \(counters.lateTimerExpirations), stalls excused \(counters.stallsExcused) "
            + "(longest \(counters.longestStallExcused.milliseconds)), deadline judgements "
            + "\(counters.deadlineJudgements); \(channels.joined(separator: "; "))"
    }
}

/// On demand (`TAKEOVER_MEASURE=1`): two controllers in steady state at 1 ms for a few seconds, so an outside
/// profiler can count what their threads (`takeover-ctl`) do per heartbeat, e.g. mallocs with a uprobe:
/// `perf probe -x /lib/x86_64-linux-gnu/libc.so.6 -a engmalloc=malloc`, then
/// `perf stat -e probe_libc:engmalloc --per-thread -p <pid> -- sleep 2`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TAKEOVER_MEASURE"] != nil))
struct FailoverSteadyStateForProfiling {
    @Test func steadyStateAtOneMillisecond() throws {
        let setup = try FailoverLab("fosteady")
        defer { setup.lab.teardown() }
        let a = try setup.start(.a, actions: RecordingFailoverActions(), adjust: { $0.interval = .milliseconds(1) })
        defer { a.shutdown(timeout: .seconds(3)) }
        let b = try setup.start(.b, actions: RecordingFailoverActions(), adjust: { $0.interval = .milliseconds(1) })
        defer { b.shutdown(timeout: .seconds(3)) }
        #expect(FailoverLab.settle(a, .active, b, .standby))
        let before = (a.counters, b.counters)
        print("MEASURED steady state: pid \(getpid()) settled; running 4 s")
        Thread.sleep(forTimeInterval: 4)
        let after = (a.counters, b.counters)
        for (name, then, now) in [("A", before.0, after.0), ("B", before.1, after.1)] {
            let sent = zip(now.channels, then.channels).map { $0.sent - $1.sent }.reduce(0, +)
            let accepted = zip(now.channels, then.channels).map { $0.heartbeats.accepted - $1.heartbeats.accepted }.reduce(0, +)
            print("MEASURED steady state \(name): \(now.ticks - then.ticks) ticks, \(sent) heartbeats sent, \(accepted) accepted in 4 s")
        }
    }
}
