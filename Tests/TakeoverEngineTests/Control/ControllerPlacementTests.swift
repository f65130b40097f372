import Testing
import TakeoverCore
import TakeoverLinux

@testable import TakeoverEngine

/// Where the controller thread and the stall cover run, decided from the allowed CPUs and `[heartbeat] cpus` without
/// the kernel; and a controller that refuses to start on a CPU it may not use.
@Suite struct ControllerPlacementTests {
    static let cover = Duration.milliseconds(50)
    static let limit: UInt64 = 50_000_000

    struct Row: Sendable, CustomTestStringConvertible {
        var stallCover: Duration?
        var cpus: [Int]?
        var allowed: [Int]
        var expected: Result<StallCoverPlacement, FailoverControllerError>
        var testDescription: String { "cover \(stallCover.map { "\($0)" } ?? "off"), cpus \(cpus ?? []), allowed \(allowed)" }
    }

    static let rows: [Row] = [
        // Not configured: today's default, the highest two allowed CPUs; the controller unpinned without a cover.
        Row(stallCover: cover, cpus: nil, allowed: [0, 1],
            expected: .success(.running(controllerCPU: 1, coverCPU: 0, limit: limit, chosen: .highestAllowed))),
        Row(stallCover: cover, cpus: nil, allowed: [0, 2, 5, 7],
            expected: .success(.running(controllerCPU: 7, coverCPU: 5, limit: limit, chosen: .highestAllowed))),
        Row(stallCover: cover, cpus: nil, allowed: [3],
            expected: .success(.unavailable("1 CPU allowed; the cover needs a second one"))),
        Row(stallCover: nil, cpus: nil, allowed: [0, 1], expected: .success(.off)),
        // Configured: exactly there, the reverse of the default included.
        Row(stallCover: cover, cpus: [0, 1], allowed: [0, 1],
            expected: .success(.running(controllerCPU: 0, coverCPU: 1, limit: limit, chosen: .configured))),
        Row(stallCover: cover, cpus: [2, 6], allowed: [0, 1, 2, 3, 4, 5, 6, 7],
            expected: .success(.running(controllerCPU: 2, coverCPU: 6, limit: limit, chosen: .configured))),
        Row(stallCover: nil, cpus: [1], allowed: [0, 1], expected: .success(.offControllerPinned(controllerCPU: 1))),
        Row(stallCover: nil, cpus: [0, 1], allowed: [0, 1], expected: .success(.offControllerPinned(controllerCPU: 0))),
        // A CPU this process may not use: refused, never run elsewhere.
        Row(stallCover: cover, cpus: [0, 7], allowed: [0, 1], expected: .failure(.cpuNotAllowed(cpu: 7, allowed: [0, 1]))),
        Row(stallCover: nil, cpus: [5], allowed: [0, 1, 2, 3], expected: .failure(.cpuNotAllowed(cpu: 5, allowed: [0, 1, 2, 3]))),
        Row(stallCover: nil, cpus: [1, 9], allowed: [0, 1], expected: .failure(.cpuNotAllowed(cpu: 9, allowed: [0, 1]))),
        Row(stallCover: cover, cpus: [0, 1], allowed: [], expected: .failure(.cpuNotAllowed(cpu: 0, allowed: []))),
    ]

    @Test(arguments: rows)
    func placement(_ row: Row) {
        let placement = Result { () throws(FailoverControllerError) in
            try FailoverController.placement(stallCover: row.stallCover, cpus: row.cpus, allowed: row.allowed)
        }
        #expect(placement == row.expected)
    }

    @Test func thePlacementSaysWhereTheThreadsRunAndWhoChose() {
        #expect(
            "\(StallCoverPlacement.running(controllerCPU: 1, coverCPU: 0, limit: Self.limit, chosen: .highestAllowed))"
                == "controller on CPU 1, stall cover on CPU 0 (the highest two allowed), for up to 50.00 ms")
        #expect(
            "\(StallCoverPlacement.running(controllerCPU: 0, coverCPU: 1, limit: Self.limit, chosen: .configured))"
                == "controller on CPU 0, stall cover on CPU 1 (as heartbeat.cpus says), for up to 50.00 ms")
        #expect("\(StallCoverPlacement.offControllerPinned(controllerCPU: 3))" == "off, controller on CPU 3 (as heartbeat.cpus says)")
        #expect("\(StallCoverPlacement.off)" == "off, controller thread not pinned")
        #expect(
            "\(FailoverControllerError.cpuNotAllowed(cpu: 7, allowed: [0, 1]))"
                == "heartbeat.cpus: CPU 7 is not one this process may use (allowed: 0-1)")
        #expect(HeartbeatCPUs.listText([0, 1, 2, 3, 6, 8, 9, 11]) == "0-3,6,8-9,11")
        #expect(HeartbeatCPUs.listText([4]) == "4" && HeartbeatCPUs.listText([]) == "")
    }

    @Test func theControllerConfigurationRefusesBadCPULists() {
        func problems(_ cpus: [Int], cover: Duration?) -> [String] {
            FailoverControllerConfiguration(
                nodeID: 1, channels: [FailoverControllerTests.channel], groups: [FailoverGroup(id: 1, priority: 1)],
                stallCover: cover, cpus: cpus
            ).problems
        }
        #expect(problems([0, 1], cover: Self.cover).isEmpty)
        #expect(problems([1], cover: nil).isEmpty)
        #expect(problems([1], cover: Self.cover) == ["cpus: 2 CPUs needed while stall-cover is on (the controller's, then the cover's)"])
        #expect(problems([2, 2], cover: Self.cover) == ["cpus: CPU 2 given twice"])
        #expect(problems([], cover: nil) == ["cpus: 1 or 2 CPUs are needed, not 0"])
        #expect(problems([0, 1, 2], cover: nil) == ["cpus: 1 or 2 CPUs are needed, not 3"])
        #expect(problems([-1, 1024], cover: Self.cover) == [
            "cpus: CPU -1 is out of range (0–1023)", "cpus: CPU 1024 is out of range (0–1023)",
        ])
    }

    /// A real controller (loopback channel, no namespace) whose configured CPU this process may not use: `start`
    /// refuses with the key, the CPU and the allowed list; no thread starts, and shutdown still closes it.
    @Test func aControllerRefusesToStartOnACPUItMayNotUse() throws {
        let allowed = LoopThread.allowedCPUs()
        let outside = try #require((0...HeartbeatCPUs.range.upperBound).last { !allowed.contains($0) })
        let channel = HeartbeatChannel(
            name: "lo", interface: nil, localAddress: IPAddress("127.0.0.1")!, peerAddress: IPAddress("127.0.0.2")!,
            port: 7493)
        let controller = try FailoverController(
            configuration: FailoverControllerConfiguration(
                nodeID: 1, channels: [channel], groups: [FailoverGroup(id: 1, priority: 1)],
                stallCover: Self.cover, cpus: [allowed[0], outside]),
            authenticator: try HMACAuthenticator(key: Array(repeating: 1, count: 32)), actions: RecordingFailoverActions())
        let error = #expect(throws: FailoverControllerError.self) { try controller.start() }
        #expect(error == .cpuNotAllowed(cpu: outside, allowed: allowed))
        #expect(
            error?.description
                == "heartbeat.cpus: CPU \(outside) is not one this process may use (allowed: \(HeartbeatCPUs.listText(allowed)))")
        #expect(!controller.isRunning)
        #expect(controller.shutdown(timeout: .seconds(1)))
    }
}
