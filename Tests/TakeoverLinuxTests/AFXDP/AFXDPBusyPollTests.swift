import Foundation
import Glibc
import TakeoverCore
import TakeoverLinux
import Testing

/// Busy polling on the AF_XDP socket (AFXDPConfiguration.busyPoll) on the same veth lab as AFXDPSocketTests:
/// the kernel holds the busy-poll time we asked for (read back with getsockopt) and frames still arrive through the
/// busy-polling wait; without CAP_NET_ADMIN the kernel refuses and the socket says why and works without.
/// Root only; namespaces deleted in a `defer`; TEST-NET-1 only.
@Suite("AF_XDP busy polling (root, namespaces)")
struct AFXDPBusyPollTests {
    struct Observations: Sendable {
        var idleReady: Bool
        var idleBusyPolls: UInt64
        var busyPolling: Bool
        var refusal: String?
        var heldByKernel: Int?
        var frames: [[UInt8]]
        var statistics: AFXDPStatistics
    }

    @Test func optionsAreAppliedAndFramesArriveThroughTheBusyPollingWait() throws {
        let lab = NamespaceLab(test: "xbusy")
        defer { lab.destroy() }
        let hosts = try AFXDPSocketTests.makeHosts(lab)
        let sender = try LabUDPSocket.open(in: hosts.client, address: AFXDPSocketTests.clientIPv4)
        defer { sender.close() }
        let asked = AFXDPConfiguration.BusyPoll(microseconds: 50, budget: 32)
        let frameCount = 48

        let seen = try NamespaceLab.inNamespace(hosts.standby) {
            let (program, attachment) = try AFXDPSocketTests.monitoringProgram(ownMAC: hosts.standbyMAC)
            defer { try? attachment.detach() }
            let socket = try AFXDPSocket(
                interface: "s0",
                configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 0, busyPoll: asked),
                program: program)
            // Nothing sent yet: the wait busy-polls once, finds nothing, and sleeps in poll until its timeout.
            let idleReady = try socket.waitForFrames(timeout: .milliseconds(20))
            let idleBusyPolls = try socket.statistics().busyPolls
            for index in 0..<frameCount {
                try sender.send(AFXDPSocketTests.payload(round: 0, index: index), to: AFXDPSocketTests.peerOnlyIPv4,
                                port: 9)
            }
            let frames = try socket.receiveCopies(expected: frameCount, timeout: .seconds(2))
            return Observations(idleReady: idleReady, idleBusyPolls: idleBusyPolls, busyPolling: socket.busyPolling, refusal: socket.busyPollRefusal,
                                heldByKernel: try socket.busyPollMicroseconds(), frames: frames,
                                statistics: try socket.statistics())
        }

        #expect(seen.busyPolling && seen.refusal == nil, "\(seen.refusal ?? "")")
        #expect(seen.heldByKernel == asked.microseconds, "getsockopt reads back \(String(describing: seen.heldByKernel))")
        #expect(seen.frames.count == frameCount, "\(seen.frames.count) frames")
        let payloads = seen.frames.map { LabUDPFrame.read($0, checkUDPChecksum: false)?.payload }
        #expect(payloads == (0..<frameCount).map { Optional(AFXDPSocketTests.payload(round: 0, index: $0)) })
        #expect(!seen.idleReady && seen.idleBusyPolls == 1, "an idle wait busy-polls once: \(seen.idleBusyPolls)")
        #expect(seen.statistics.receiveDrops == 0, "\(seen.statistics)")
    }

    @Test func withoutNetAdminTheKernelRefusesAndTheSocketSaysWhy() throws {
        let lab = NamespaceLab(test: "xbusycap")
        defer { lab.destroy() }
        let hosts = try AFXDPSocketTests.makeHosts(lab)
        let seen = try NetworkNamespace.run(in: hosts.standby, dropping: .some([.netAdmin])) {
            let socket = try AFXDPSocket(
                interface: "s0",
                configuration: AFXDPConfiguration(
                    frameCount: 64, transmitFrameCount: 0, busyPoll: AFXDPConfiguration.BusyPoll()))
            let ready = try socket.waitForFrames(timeout: .milliseconds(20))
            return (socket.busyPolling, socket.busyPollRefusal, try socket.busyPollMicroseconds(), ready,
                    try socket.statistics().busyPolls)
        }
        let (busyPolling, refusal, heldByKernel, ready, busyPolls) = seen
        #expect(!busyPolling && heldByKernel == nil && !ready && busyPolls == 0)
        let reason = try #require(refusal)
        #expect(reason.contains("SO_PREFER_BUSY_POLL") && reason.contains("errno 1")
                && reason.contains("CAP_NET_ADMIN") && reason.contains("without it"), "\(reason)")
    }

    @Test func outOfRangeOptionsAreNamed() {
        for (busyPoll, word) in [(AFXDPConfiguration.BusyPoll(microseconds: 0), "time"),
                                 (AFXDPConfiguration.BusyPoll(budget: 0), "budget"),
                                 (AFXDPConfiguration.BusyPoll(budget: 65536), "budget")] {
            #expect {
                try AFXDPConfiguration(frameCount: 64, busyPoll: busyPoll).validated()
            } throws: { error in
                guard case AFXDPError.invalidConfiguration(let reason) = error else { return false }
                return reason.contains(word)
            }
        }
    }
}
