import Foundation
import TakeoverCore
import TakeoverLinux
import Testing

/// The loader on real interfaces: a client and a standby namespace joined by a veth pair (192.0.2.0/24 only).
/// Root only. Every namespace is deleted in a `defer`.
@Suite("XDP attach (root, namespaces)")
struct XDPAttachTests {
    static let peerMAC = MACAddress(2, 0, 0, 0, 0, 2)
    static let peerIPv4 = IPv4Address(192, 0, 2, 1)  // watched; nobody owns it in the lab
    static let peerOnlyIPv4 = "192.0.2.3"  // the client's neighbour table maps it to the peer's MAC

    /// client (c0, 192.0.2.2/24) ── veth ── standby (s0, no address). Returns the namespace names.
    static func makeLab(_ lab: NamespaceLab) throws -> (client: String, standby: String) {
        let client = try lab.addNamespace("c")
        let standby = try lab.addNamespace("s")
        try NamespaceLab.run(["ip", "-n", client, "link", "add", "c0", "type", "veth", "peer", "name", "s0",
                              "netns", standby])
        try NamespaceLab.run(["ip", "-n", client, "addr", "add", "192.0.2.2/24", "dev", "c0"])
        try NamespaceLab.run(["ip", "-n", client, "neigh", "add", peerOnlyIPv4, "lladdr", "\(peerMAC)", "dev", "c0"])
        try NamespaceLab.run(["ip", "-n", client, "link", "set", "c0", "up"])
        try NamespaceLab.run(["ip", "-n", standby, "link", "set", "s0", "up"])
        return (client, standby)
    }

    static func interfaceMAC(_ namespace: String, _ interface: String) throws -> MACAddress {
        let text = try NamespaceLab.run(["ip", "netns", "exec", namespace, "cat", "/sys/class/net/\(interface)/address"])
        return MACAddress(text.trimmingCharacters(in: .whitespacesAndNewlines))!
    }

    /// One ping to the watched address (the client sends an ARP request for it) and one to the address the
    /// client resolves to the peer's MAC (an ICMP frame addressed to the peer). Nobody answers; each ping
    /// gives up after 0.5 s, by which time its frames have long passed the standby's XDP hook.
    static func clientTraffic(_ client: String) throws {
        // Forget the failed resolution of the last round, so this ping sends an ARP request right away rather
        // than whenever the kernel's retry timer fires. The peer-only entry is permanent and stays.
        try NamespaceLab.run(["ip", "-n", client, "neigh", "flush", "to", "\(peerIPv4)"])
        for target in ["\(peerIPv4)", peerOnlyIPv4] {
            try NamespaceLab.run(["ip", "netns", "exec", client, "ping", "-c", "1", "-W", "0.5", target],
                                 allowFailure: true)
        }
    }

    struct LifecycleObservations: Sendable {
        var mode: XDPAttachMode
        var fallbackReason: String?
        var programID: UInt32
        var attachedWhileRunning: [XDPAttachedProgram]
        var bpftoolWhileRunning: String
        var countsByMode: [(XDPMode, XDPCounters)]
        /// With an AF_XDP socket on s0's queue 0: counters and frames received, per mode.
        var socketCountsByMode: [(XDPMode, XDPCounters)]
        var socketFramesByMode: [(XDPMode, [[UInt8]])]
        var attachedAfterDetach: [XDPAttachedProgram]
        var bpftoolAfterDetach: String
    }

    @Test func attachFlipModesDetachOnVeth() throws {
        let lab = NamespaceLab(test: "life")
        defer { lab.destroy() }
        let (client, standby) = try Self.makeLab(lab)
        let ownMAC = try Self.interfaceMAC(standby, "s0")

        let seen = try NamespaceLab.inNamespace(standby) {
            let program = try XDPProgram()
            try program.configure(ownMAC: ownMAC, peerMAC: Self.peerMAC)
            try program.watch(.v4(Self.peerIPv4))
            let attachment = try program.attach(toInterface: "s0")
            let attached = try XDPInterface.attachedPrograms(interface: "s0")
            let bpftool = try NamespaceLab.run(["bpftool", "net", "show", "dev", "s0"])
            var counts: [(XDPMode, XDPCounters)] = []
            for mode in [XDPMode.off, .monitor, .takeover, .off] {
                try program.setMode(mode)
                let before = try program.counters()
                try Self.clientTraffic(client)
                counts.append((mode, try program.counters().since(before)))
            }
            // Now with a socket on the queue the client's frames arrive on: redirects are delivered.
            let socket = try AFXDPSocket(interface: "s0", queue: 0,
                                         configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 0),
                                         program: program)
            var socketCounts: [(XDPMode, XDPCounters)] = []
            var socketFrames: [(XDPMode, [[UInt8]])] = []
            for mode in [XDPMode.monitor, .takeover] {
                try program.setMode(mode)
                let before = try program.counters()
                try Self.clientTraffic(client)
                socketCounts.append((mode, try program.counters().since(before)))
                socketFrames.append((mode, try socket.receiveCopies(expected: 1, timeout: .milliseconds(500))))
            }
            try program.unregisterSocket(queue: 0)
            try attachment.detach()
            return LifecycleObservations(
                mode: attachment.mode, fallbackReason: attachment.fallbackReason, programID: program.programID,
                attachedWhileRunning: attached, bpftoolWhileRunning: bpftool, countsByMode: counts,
                socketCountsByMode: socketCounts, socketFramesByMode: socketFrames,
                attachedAfterDetach: try XDPInterface.attachedPrograms(interface: "s0"),
                bpftoolAfterDetach: try NamespaceLab.run(["bpftool", "net", "show", "dev", "s0"]))
        }

        #expect(seen.mode == .native, "veth takes XDP natively")
        #expect(seen.fallbackReason == nil)
        #expect(seen.attachedWhileRunning == [XDPAttachedProgram(id: seen.programID, name: "takeover_xdp", mode: .native)])
        // bpftool 7.1 lists XDP programs by id and attach point ("s0(2) driver id 347"), not by name.
        #expect(seen.bpftoolWhileRunning.contains("driver id \(seen.programID)"), "\(seen.bpftoolWhileRunning)")
        for (mode, counted) in seen.countsByMode {
            switch mode {
            case .off:
                #expect(counted[.passedOff].packets >= 2, "off: \(counted)")
                #expect(counted.totalPackets == counted[.passedOff].packets, "off: \(counted)")
            case .monitor:
                #expect(counted[.monitorNoSocket].packets >= 1, "monitor: \(counted)")  // the ICMP to the peer's MAC
                #expect(counted[.passedOff].packets == 0 && counted[.neighborNoSocket].packets == 0, "monitor: \(counted)")
            case .takeover:
                #expect(counted[.neighborNoSocket].packets >= 1, "takeover: \(counted)")  // ARP for the watched IP
                #expect(counted[.takeoverRewritten].packets >= 1, "takeover: \(counted)")  // the ICMP to the peer
                #expect(counted[.monitorNoSocket].packets == 0, "takeover: \(counted)")
            }
        }
        let peerOctets = Self.peerMAC.octets
        for ((mode, counted), (_, frames)) in zip(seen.socketCountsByMode, seen.socketFramesByMode) {
            switch mode {
            case .monitor:
                #expect(counted[.monitorRedirected].packets >= 1 && counted[.monitorNoSocket].packets == 0, "\(counted)")
                // The client's ICMP echo to the address it resolved to the peer's MAC.
                #expect(frames.contains { frame in
                    frame.count >= 34 && Array(frame[0..<6]) == peerOctets && frame[12] == 0x08 && frame[13] == 0x00
                        && Array(frame[30..<34]) == [192, 0, 2, 3]
                }, "monitor frames: \(frames)")
            case .takeover:
                #expect(counted[.neighborRedirected].packets >= 1 && counted[.neighborNoSocket].packets == 0, "\(counted)")
                // The client's broadcast ARP request for the watched address.
                #expect(frames.contains { frame in
                    frame.count >= 42 && frame[0..<6].allSatisfy { $0 == 0xFF } && frame[12] == 0x08 && frame[13] == 0x06
                        && frame[21] == 1 && Array(frame[38..<42]) == [192, 0, 2, 1]
                }, "takeover frames: \(frames)")
            case .off:
                Issue.record("off is not run with a socket")
            }
        }
        #expect(seen.attachedAfterDetach.isEmpty)
        #expect(!seen.bpftoolAfterDetach.contains("s0("), "\(seen.bpftoolAfterDetach)")
    }

    struct FallbackObservations: Sendable {
        var mode: XDPAttachMode
        var fallbackReason: String?
        var attached: [XDPAttachedProgram]
        var nativeOnlyError: XDPError?
        var attachedAfterDetach: [XDPAttachedProgram]
    }

    /// A bridge has no native XDP: the loader falls back to generic mode and says why.
    @Test func fallsBackToGenericModeWhereNativeIsUnsupported() throws {
        let lab = NamespaceLab(test: "gen")
        defer { lab.destroy() }
        let standby = try lab.addNamespace("s")
        try NamespaceLab.run(["ip", "-n", standby, "link", "add", "br0", "type", "bridge"])
        try NamespaceLab.run(["ip", "-n", standby, "link", "set", "br0", "up"])

        let seen = try NamespaceLab.inNamespace(standby) {
            let program = try XDPProgram()
            var nativeOnlyError: XDPError?
            do {
                _ = try program.attach(toInterface: "br0", preference: .nativeOnly)
            } catch let error as XDPError {
                nativeOnlyError = error
            }
            let attachment = try program.attach(toInterface: "br0")
            let attached = try XDPInterface.attachedPrograms(interface: "br0")
            try attachment.detach()
            return FallbackObservations(
                mode: attachment.mode, fallbackReason: attachment.fallbackReason, attached: attached,
                nativeOnlyError: nativeOnlyError, attachedAfterDetach: try XDPInterface.attachedPrograms(interface: "br0"))
        }

        #expect(seen.mode == .generic)
        let reason = try #require(seen.fallbackReason)
        #expect(reason.contains("br0") && reason.contains("bpf_xdp_attach") && reason.contains("generic"), "\(reason)")
        #expect(seen.attached.map(\.mode) == [.generic])
        let error = try #require(seen.nativeOnlyError)
        guard case .attachFailed(let interface, let call) = error else {
            Issue.record("expected attachFailed, got \(error)")
            return
        }
        #expect(interface == "br0")
        #expect(call.call.hasPrefix("bpf_xdp_attach") && call.errno != 0)
        #expect(error.description.contains("br0") && error.description.contains("errno \(call.errno)"), "\(error)")
        #expect(seen.attachedAfterDetach.isEmpty)
    }

    struct StaleObservations: Sendable {
        var crashedID: UInt32
        var sameModeReplacement: XDPAttachedProgram?
        var secondID: UInt32
        var attachedAfterSameMode: [XDPAttachedProgram]
        var crashedDetachError: XDPError?
        var attachedAfterCrashedDetach: [XDPAttachedProgram]
        var crossModeReplacement: XDPAttachedProgram?
        var thirdID: UInt32
        var attachedAfterCrossMode: [XDPAttachedProgram]
        var attachedAtEnd: [XDPAttachedProgram]
    }

    /// A program left by a crashed run is recognised by name and replaced: atomically in the same mode,
    /// detached first across modes. The stale attachment's own detach cannot remove its successor.
    @Test func replacesAProgramLeftByACrashedRun() throws {
        let lab = NamespaceLab(test: "stale")
        defer { lab.destroy() }
        let (_, standby) = try Self.makeLab(lab)

        let seen = try NamespaceLab.inNamespace(standby) {
            let crashed = try XDPProgram()
            let crashedAttachment = try crashed.attach(toInterface: "s0")  // never detached: the "crash"

            let second = try XDPProgram()
            let secondAttachment = try second.attach(toInterface: "s0")
            let afterSameMode = try XDPInterface.attachedPrograms(interface: "s0")
            var crashedDetachError: XDPError?
            do { try crashedAttachment.detach() } catch let error as XDPError { crashedDetachError = error }
            let afterCrashedDetach = try XDPInterface.attachedPrograms(interface: "s0")

            let third = try XDPProgram()
            let thirdAttachment = try third.attach(toInterface: "s0", preference: .genericOnly)
            let afterCrossMode = try XDPInterface.attachedPrograms(interface: "s0")
            try thirdAttachment.detach()
            return StaleObservations(
                crashedID: crashed.programID, sameModeReplacement: secondAttachment.replacedStaleProgram,
                secondID: second.programID, attachedAfterSameMode: afterSameMode, crashedDetachError: crashedDetachError,
                attachedAfterCrashedDetach: afterCrashedDetach, crossModeReplacement: thirdAttachment.replacedStaleProgram,
                thirdID: third.programID, attachedAfterCrossMode: afterCrossMode,
                attachedAtEnd: try XDPInterface.attachedPrograms(interface: "s0"))
        }

        #expect(seen.sameModeReplacement == XDPAttachedProgram(id: seen.crashedID, name: "takeover_xdp", mode: .native))
        #expect(seen.attachedAfterSameMode.map(\.id) == [seen.secondID])
        #expect(seen.crashedDetachError != nil, "detaching a replaced program must not succeed silently")
        #expect(seen.attachedAfterCrashedDetach.map(\.id) == [seen.secondID], "the successor survives")
        #expect(seen.crossModeReplacement == XDPAttachedProgram(id: seen.secondID, name: "takeover_xdp", mode: .native))
        #expect(seen.attachedAfterCrossMode == [XDPAttachedProgram(id: seen.thirdID, name: "takeover_xdp", mode: .generic)])
        #expect(seen.attachedAtEnd.isEmpty)
    }

    @Test func missingInterfaceIsNamed() throws {
        let program = try XDPProgram()
        #expect(throws: XDPError.interfaceNotFound("tkxmissing0")) {
            try program.attach(toInterface: "tkxmissing0")
        }
        #expect(XDPError.interfaceNotFound("tkxmissing0").description == "no network interface named \"tkxmissing0\"")
    }
}

/// Errors an operator meets: another project's program, no privileges.
@Suite("XDP refusals (root, namespaces)")
struct XDPRefusalTests {
    /// A program of another project, built here so its name is certainly not ours.
    static func buildForeignProgram(in directory: URL) throws -> String {
        let source = directory.appendingPathComponent("foreign.bpf.c")
        let object = directory.appendingPathComponent("foreign.bpf.o")
        try """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("xdp") int foreign_xdp(struct xdp_md *ctx) { return XDP_PASS; }
        char LICENSE[] SEC("license") = "GPL";
        """.write(to: source, atomically: true, encoding: .utf8)
        try NamespaceLab.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                              "-c", source.path, "-o", object.path])
        return object.path
    }

    @Test func leavesAForeignProgramAlone() throws {
        let lab = NamespaceLab(test: "foreign")
        defer { lab.destroy() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(lab.prefix)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let object = try Self.buildForeignProgram(in: directory)
        let standby = try lab.addNamespace("s")
        try NamespaceLab.run(["ip", "-n", standby, "link", "add", "br0", "type", "bridge"])
        try NamespaceLab.run(["ip", "-n", standby, "link", "set", "dev", "br0", "xdpgeneric", "obj", object, "sec", "xdp"])

        let (error, stillAttached) = try NamespaceLab.inNamespace(standby) {
            let program = try XDPProgram()
            var refusal: XDPError?
            do { _ = try program.attach(toInterface: "br0") } catch let error as XDPError { refusal = error }
            return (refusal, try XDPInterface.attachedPrograms(interface: "br0"))
        }

        guard case .foreignProgramAttached(let interface, let foreign) = try #require(error) else {
            Issue.record("expected foreignProgramAttached, got \(String(describing: error))")
            return
        }
        #expect(interface == "br0" && foreign.name == "foreign_xdp" && foreign.mode == .generic && !foreign.isTakeover)
        #expect(stillAttached == [foreign])
        #expect(error!.description.contains("foreign_xdp") && error!.description.contains("refusing"))
    }

    @Test func withoutCapabilitiesTheErrorSaysWhatIsNeeded() throws {
        let lab = NamespaceLab(test: "caps")
        defer { lab.destroy() }
        let standby = try lab.addNamespace("s")
        try NamespaceLab.run(["ip", "-n", standby, "link", "add", "br0", "type", "bridge"])

        // Loading needs CAP_BPF; attaching a loaded program needs CAP_NET_ADMIN. Check both refusals.
        let loaded = try XDPProgram()
        let (loadError, attachError, attached) = try NamespaceLab.inNamespace(standby, withoutCapabilities: true) {
            var loadError: XDPError?
            var attachError: XDPError?
            do { _ = try XDPProgram() } catch let error as XDPError { loadError = error }
            do { _ = try loaded.attach(toInterface: "br0") } catch let error as XDPError { attachError = error }
            return (loadError, attachError, try? XDPInterface.attachedPrograms(interface: "br0"))
        }

        for error in [loadError, attachError] {
            guard case .insufficientPrivileges(let call) = try #require(error) else {
                Issue.record("expected insufficientPrivileges, got \(String(describing: error))")
                continue
            }
            #expect(call.errno == EPERM)
            let text = error!.description
            #expect(text.contains("CAP_BPF") && text.contains("CAP_NET_ADMIN") && text.contains("libpcap"), "\(text)")
        }
        #expect(attached?.isEmpty ?? true)
    }
}
