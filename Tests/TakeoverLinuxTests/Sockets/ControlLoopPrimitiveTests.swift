import Foundation
import Synchronization
import Testing
import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// The control loop's kernel primitives without network traffic: timerfd, eventfd, poll, clocks, the loop thread.
@Suite struct ControlLoopPrimitiveTests {
    @Test func timerExpirationCountSaysHowManyPeriodsPassed() throws {
        let timer = try TimerFD()
        #expect(try timer.readExpirations() == 0, "not armed: nothing expired")
        let armed = MonotonicClock.now()
        try timer.arm(intervalNanoseconds: 1_000_000)
        #expect(try timer.readExpirations() == 0, "the first expiry is one interval away")
        usleep(25_000)  // a loop that ran ~25 periods late
        let before = MonotonicClock.now()
        let count = try timer.readExpirations()
        let after = MonotonicClock.now()
        // The count is the number of whole periods between arming and the read.
        #expect(count >= before.nanoseconds(since: armed) / 1_000_000)
        #expect(count <= after.nanoseconds(since: armed) / 1_000_000)
        #expect(count >= 25)
        #expect(try timer.readExpirations() <= 1, "reading resets the count")
        try timer.disarm()
        _ = try timer.readExpirations()
        usleep(5_000)
        #expect(try timer.readExpirations() == 0, "disarmed")
    }

    @Test func aOneShotTimerFiresOnce() throws {
        let timer = try TimerFD()
        try timer.armOnce(afterNanoseconds: 2_000_000)
        var poller = PollSet(fileDescriptors: [timer.fileDescriptor])
        #expect(try poller.wait(timeoutMilliseconds: 1_000) == 1)
        #expect(try timer.readExpirations() == 1)
        usleep(10_000)
        #expect(try timer.readExpirations() == 0)
    }

    @Test func aRealtimeThreadRunsUnderSCHEDFIFO() throws {
        let seen = Mutex<(policy: Int32, priority: Int32)?>(nil)
        let thread = try LoopThread(realtimePriority: 10) { seen.withLock { $0 = LoopThread.currentScheduling() } }
        #expect(thread.join(timeoutNanoseconds: 2_000_000_000))
        let scheduling = try #require(seen.withLock { $0 })
        #expect(scheduling.policy == SCHED_FIFO && scheduling.priority == 10)
        #expect(LoopThread.currentScheduling().policy == SCHED_OTHER, "the caller's own scheduling is untouched")
    }

    @Test func aThreadCarriesItsName() throws {
        let seen = Mutex<String?>(nil)
        let thread = try LoopThread(name: "takeover-test-thread-long") {
            // The kernel's view of the name.
            let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
            seen.withLock { $0 = comm?.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        #expect(thread.join(timeoutNanoseconds: 2_000_000_000))
        #expect(seen.withLock { $0 } == "takeover-test-t", "15 bytes kept")
    }

    @Test func aDetachedThreadRuns() throws {
        let done = try EventFD()
        try LoopThread.startDetached { try? done.signal() }
        var poller = PollSet(fileDescriptors: [done.fileDescriptor])
        #expect(try poller.wait(timeoutMilliseconds: 2_000) == 1)
        #expect(try done.drain() == 1)
    }

    @Test func pollWakesOnTheTimer() throws {
        let timer = try TimerFD()
        try timer.arm(intervalNanoseconds: 5_000_000)
        var poller = PollSet(fileDescriptors: [timer.fileDescriptor])
        let start = MonotonicClock.now()
        #expect(try poller.wait(timeoutMilliseconds: 1_000) == 1)
        #expect(poller.isReady(0))
        let waited = MonotonicClock.now().nanoseconds(since: start)
        #expect(waited >= 4_000_000 && waited < 500_000_000, "\(waited) ns")
        // A periodic timer keeps counting between the wake and the read; on a loaded machine more than one
        // period may pass, but never more than the time elapsed allows.
        let expirations = try timer.readExpirations()
        let elapsed = MonotonicClock.now().nanoseconds(since: start)
        #expect(expirations >= 1 && expirations <= elapsed / 5_000_000 + 1, "\(expirations) in \(elapsed) ns")
    }

    @Test func eventSignalsFromAnotherThreadWakeThePollAndCoalesce() throws {
        let event = try EventFD()
        #expect(try event.drain() == 0)
        var poller = PollSet(fileDescriptors: [event.fileDescriptor])
        #expect(try poller.wait(timeoutMilliseconds: 0) == 0)
        let signaller = try LoopThread {
            usleep(10_000)
            for _ in 0..<3 { try? event.signal() }
        }
        #expect(try poller.wait(timeoutMilliseconds: 2_000) == 1)
        #expect(signaller.join(timeoutNanoseconds: 2_000_000_000))
        #expect(try event.drain() == 3, "three signals, one wake-up, one drain")
        #expect(try event.drain() == 0)
        #expect(try poller.wait(timeoutMilliseconds: 0) == 0)
    }

    @Test func joinWaitsOnlyAsLongAsAsked() throws {
        let release = try EventFD()
        let thread = try LoopThread {
            var poller = PollSet(fileDescriptors: [release.fileDescriptor])
            _ = try? poller.wait(timeoutMilliseconds: 10_000)
        }
        let start = MonotonicClock.now()
        #expect(!thread.join(timeoutNanoseconds: 50_000_000), "still blocked")
        let waited = MonotonicClock.now().nanoseconds(since: start)
        #expect(waited >= 50_000_000 && waited < 1_000_000_000, "\(waited) ns")
        try release.signal()
        #expect(thread.join(timeoutNanoseconds: 2_000_000_000))
        #expect(thread.join(timeoutNanoseconds: 0), "joined once, true ever after")
    }

    @Test func clocksReadTheKernelClocks() {
        let first = MonotonicClock.now()
        let second = MonotonicClock.now()
        #expect(first <= second)
        var reference = timespec()
        clock_gettime(CLOCK_MONOTONIC, &reference)
        let third = MonotonicClock.now()
        let referenceNanoseconds = UInt64(reference.tv_sec) * 1_000_000_000 + UInt64(reference.tv_nsec)
        #expect(second.nanoseconds <= referenceNanoseconds && referenceNanoseconds <= third.nanoseconds)
        let wall = UInt64(Date().timeIntervalSince1970 * 1e9)
        let realtime = RealtimeClock.nanoseconds()
        #expect(realtime > wall - 1_000_000_000 && realtime < wall + 1_000_000_000)
    }
}
