import Foundation
import Logging
import Testing
import TakeoverCore
import TakeoverEngine

@Suite struct HookRunnerTests {
    @Test func hooksGetTheirArgvAndTheChangeInTheEnvironmentAndAreKilledAfterTheirTimeout() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("takeover-hook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out").path
        let script = directory.appendingPathComponent("notify").path
        try """
            #!/bin/sh
            echo "$1 $2|$TAKEOVER_NODE|$TAKEOVER_GROUP|$TAKEOVER_PREVIOUS_STATE|$TAKEOVER_STATE|$TAKEOVER_REASON|$TAKEOVER_HOOK_TEST_INHERITED" > \(output).tmp
            mv \(output).tmp \(output)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o700)
        let sleeper = directory.appendingPathComponent("sleeper").path
        try "#!/bin/sh\nexec sleep 30\n".write(toFile: sleeper, atomically: true, encoding: .utf8)
        chmod(sleeper, 0o700)

        // The daemon's own environment reaches the hook too.
        setenv("TAKEOVER_HOOK_TEST_INHERITED", "from-the-daemon", 1)
        let runner = HookRunner(
            hooks: [
                NotifyHook(path: script, arguments: ["--one", "two words"]),
                NotifyHook(path: sleeper, timeout: .milliseconds(100)),
            ],
            nodeName: "beta", log: Logger(label: "test"))
        runner.run(
            group: 7,
            transition: FailoverTransition(from: .standby, to: .active, reason: .peerFailed, at: .zero))
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: output) && Date() < deadline { usleep(10_000) }
        let line = try String(contentsOfFile: output, encoding: .utf8)
        #expect(line == "--one two words|beta|7|standby|active|\(TransitionReason.peerFailed.rawValue)|from-the-daemon\n")
        // The sleeper is killed after 100 ms: no `sleep 30` child of ours is left.
        let killed = Date().addingTimeInterval(5)
        var sleepers = 1
        while sleepers > 0 && Date() < killed {
            usleep(20_000)
            // Children of every thread of ours (each hook is started from a thread of its own).
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            sleepers = tasks.flatMap { task in
                ((try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ")
            }.filter { pid in
                ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").hasPrefix("sleep")
            }.count
        }
        #expect(sleepers == 0)
    }
}
