import Foundation
import TakeoverLab
import Testing

/// The daemon with only the capabilities packaging/systemd/takeover.service grants (its bounding set, via
/// setpriv), alone in the failover lab: it must start, serve (address added, XDP attached) and stop clean.
/// And the same without CAP_BPF or CAP_PERFMON, to show what each buys: without either the XDP program does not load.
@Suite("takeover run with the systemd unit's capabilities only", .serialized)
struct CapabilityLabTests {
    /// The unit's CapabilityBoundingSet, read from the file, in setpriv's spelling (+net_admin,...).
    static func unitCapabilities() throws -> [String] {
        let unit = try String(contentsOfFile: "\(repositoryRoot)/packaging/systemd/takeover.service", encoding: .utf8)
        let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix("CapabilityBoundingSet=") })
        return line.dropFirst("CapabilityBoundingSet=".count).split(separator: " ").map {
            $0.lowercased().replacingOccurrences(of: "cap_", with: "")
        }
    }

    func runAlone(_ label: String, capabilities: [String]) throws -> (status: Int32?, log: String, served: Bool, xdp: Bool, clean: Bool) {
        let lab = try FailoverLabTests.Lab(label)
        defer { lab.lab.teardown() }
        let configuration = try lab.configuration(
            me: (1, "alpha", lab.alphaLAN, 11), peer: (2, "beta", lab.betaLAN, 12))
        let bounding = "-all," + capabilities.map { "+" + $0 }.joined(separator: ",")
        let alpha = try lab.lab.start(
            in: lab.alpha, ["setpriv", "--bounding-set", bounding, "--inh-caps", "-all", takeoverExecutable, "run", "--config", configuration])
        // Nobody answers: alpha serves alone after its startup wait (1 s).
        let served = alpha.waitForOutput(containing: "group 1: initializing → active", timeout: .seconds(10))
        let addressAdded = waitUntil(timeout: .seconds(2)) {
            (try? lab.addresses(of: lab.alpha).contains(FailoverLabTests.groupAddress)) ?? false
        }
        let xdp = try lab.xdpAttached(lab.alpha)
        let status = alpha.stop(grace: .seconds(5))
        let clean = try !lab.xdpAttached(lab.alpha) && !lab.addresses(of: lab.alpha).contains(FailoverLabTests.groupAddress)
        return (status, alpha.standardError, served && addressAdded, xdp, clean)
    }

    @Test("exactly the unit's capabilities: serves with XDP, stops with exit 0 and leaves nothing behind")
    func unitCapabilitiesSuffice() throws {
        let capabilities = try Self.unitCapabilities()
        #expect(Set(capabilities) == ["net_admin", "net_raw", "bpf", "perfmon", "sys_nice"], "the unit's set changed: \(capabilities)")
        let run = try runAlone("capsunit", capabilities: capabilities)
        #expect(run.served, "\(run.log)")
        #expect(run.xdp, "XDP attached with these capabilities: \(run.log)")
        #expect(run.status == 0 && run.clean, "\(run.log)")
    }

    @Test("without CAP_PERFMON the verifier refuses the program (pointer subtraction needs it): why the unit keeps it")
    func withoutPerfmon() throws {
        let run = try runAlone("capsnoperf", capabilities: ["net_admin", "net_raw", "bpf"])
        #expect(run.served && !run.xdp, "\(run.log)")
        #expect(run.log.contains("pointer -= pointer prohibited"), "\(run.log)")
        #expect(run.status == 0 && run.clean, "\(run.log)")
    }

    @Test("without CAP_BPF the XDP program cannot load: the daemon says so and falls back to libpcap")
    func withoutBPF() throws {
        let run = try runAlone("capsnobpf", capabilities: ["net_admin", "net_raw", "perfmon"])
        #expect(run.served && !run.xdp, "\(run.log)")
        #expect(run.log.contains("XDP unavailable"), "\(run.log)")
        #expect(run.status == 0 && run.clean, "\(run.log)")
    }
}

