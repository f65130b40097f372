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
    }
}
