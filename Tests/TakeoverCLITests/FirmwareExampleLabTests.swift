import Foundation
import TakeoverLab
import Testing

/// examples/firmware (built by scripts/test into .build-firmware before the tests) as the appliance would run it:
/// alone in the failover lab it serves the group, prints the state change, and on SIGTERM hands over and leaves
/// nothing behind — the embedding API end to end.
@Suite("examples/firmware runs the engine", .serialized)
struct FirmwareExampleLabTests {
    static let executable = "\(repositoryRoot)/.build-firmware/debug/firmware"

    @Test("configuration built in code, engine started, state change streamed, SIGTERM stops it clean")
    func runs() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.executable),
            "scripts/test builds it: swift build --package-path examples/firmware --scratch-path .build-firmware")
        let lab = try FailoverLabTests.Lab("firmware")
        defer { lab.lab.teardown() }
        let firmware = try lab.lab.start(
            in: lab.alpha,
            [
                Self.executable, "run", "eth0", "192.0.2.11", "192.0.2.12", lab.betaLAN.mac.description,
                "\(FailoverLabTests.groupAddress)/24", lab.scratch.path + "/key", "1", "2",
            ])
        #expect(firmware.waitForOutput(containing: "group 1: initializing → active", timeout: .seconds(10)), "\(firmware.standardError)")
        let served = waitUntil(timeout: .seconds(2)) {
            (try? lab.addresses(of: lab.alpha).contains(FailoverLabTests.groupAddress)) ?? false
        }
        #expect(served, "the engine added the group address")
        #expect(try lab.xdpAttached(lab.alpha))
        #expect(try lab.ping(), "the client reaches the group address on the firmware node")
        #expect(firmware.stop(grace: .seconds(5)) == 0, "\(firmware.standardOutput)\(firmware.standardError)")
        #expect(!(try lab.addresses(of: lab.alpha).contains(FailoverLabTests.groupAddress)))
        #expect(!(try lab.xdpAttached(lab.alpha)))
    }
}
