import Foundation
import TakeoverEngine
import Testing

@testable import takeover

@Suite("takeover check")
struct CheckCommandTests {
    @Test("in process: the example passes against a machine set up as it says")
    func inProcess() throws {
        let path = "\(repositoryRoot)/examples/two-node/alpha.toml"
        let command = try CheckCommand.parse(["--config", path])
        let parsed = try ConfigurationLoader.parse(try exampleText("alpha"))
        let checked = try command.evaluate(environment: MatchingEnvironment(configuration: parsed)).get()
        #expect(checked == parsed)
        guard
            case .failure(let errors) = try CheckCommand.parse(["--config", "/nonexistent/takeover.toml"]).evaluate(
                environment: nil)
        else {
            Issue.record("a missing file passed")
            return
        }
        #expect(
            errors.problems.map(\.description) == [
                "cannot read configuration file /nonexistent/takeover.toml: open(/nonexistent/takeover.toml): No such file or directory (errno 2)"
            ])
    }

    @Test("the binary prints the effective configuration and exits 0")
    func printsEffectiveConfiguration() throws {
        for node in ["alpha", "beta"] {
            let result = try takeover(
                "check", "--skip-environment", "--config", "\(repositoryRoot)/examples/two-node/\(node).toml")
            #expect(result.status == 0)
            #expect(result.standardError == "")
            #expect(result.standardOutput == (try ConfigurationLoader.parse(try exampleText(node))).tomlText)
        }
    }

    @Test("the binary prints every problem with its key and exits 1")
    func reportsAllProblems() throws {
        let scratch = try ScratchDirectory()
        let text = try exampleText("alpha")
            .replacingOccurrences(of: "interval = \"10ms\"", with: "interval = \"100us\"")
            .replacingOccurrences(of: "alpha = 100, beta = 200", with: "alpha = 100, beta = 999")
            .replacingOccurrences(of: "peer-mac = \"02:00:5e:00:53:0c\"", with: "peer-mac = \"02:00:5e:00:53:0b\"")
        let path = try scratch.file("bad.toml", text)
        let result = try takeover("check", "--skip-environment", "--config", path)
        #expect(result.status == 1)
        #expect(result.standardOutput == "")
        #expect(
            result.standardError == """
                \(path): configuration has 3 problems:
                  groups[1].priority.beta: 999 is out of range (0–255)
                  heartbeat.interval: 100us is below the minimum 1ms
                  interfaces[0].peer-mac: 02:00:5e:00:53:0b is our own MAC (interfaces[0].mac); the peer's MAC must differ

                """)
    }

    @Test("the environment checks run unless skipped")
    func environmentChecked() throws {
        let scratch = try ScratchDirectory()
        let text = try exampleText("alpha").replacingOccurrences(of: "name = \"eth0\"", with: "name = \"tko-nosuch0\"")
            .replacingOccurrences(of: "interface = \"eth0\"", with: "interface = \"tko-nosuch0\"")
            .replacingOccurrences(of: "interface = \"eth1\"", with: "interface = \"tko-nosuch1\"")
            .replacingOccurrences(of: "/etc/takeover/key", with: scratch.path + "/key")
            .replacingOccurrences(of: "/usr/local/lib/takeover/notify", with: scratch.path + "/notify")
        _ = try scratch.file("key", String(repeating: "k", count: 32), mode: 0o644)
        _ = try scratch.file("notify", "#!/bin/sh\n", mode: 0o644)
        let path = try scratch.file("alpha.toml", text)
        #expect(try takeover("check", "--skip-environment", "--config", path).status == 0)
        let result = try takeover("check", "--config", path)
        #expect(result.status == 1)
        #expect(
            result.standardError == """
                \(path): configuration has 4 problems:
                  interfaces[0].name: no network interface named "tko-nosuch0" on this machine
                  heartbeat.channels[1].interface: no network interface named "tko-nosuch1" on this machine
                  heartbeat.key-file: key file \(scratch.path)/key has mode 644; refusing to use a key that group or others can access (chmod 600 \(scratch.path)/key)
                  hooks[0].path: \(scratch.path)/notify is not executable

                """)
    }

    @Test("a configured CPU this process may not use: check names it with the allowed list, and run refuses to start")
    func cpusNotAllowed() throws {
        let scratch = try ScratchDirectory()
        let allowed = LinuxConfigurationEnvironment().allowedCPUs()
        let outside = try #require((0...HeartbeatCPUs.range.upperBound).last { !allowed.contains($0) })
        let text = try exampleText("alpha").replacingOccurrences(
            of: "[heartbeat]\n", with: "[heartbeat]\ncpus = [\(allowed[0]), \(outside)]\n")
        let path = try scratch.file("alpha.toml", text)
        #expect(try takeover("check", "--skip-environment", "--config", path).status == 0)
        let problem = "  heartbeat.cpus: CPU \(outside) is not one this process may use (allowed: \(HeartbeatCPUs.listText(allowed)))\n"
        let checked = try takeover("check", "--config", path)
        #expect(checked.status == 1)
        #expect(checked.standardError.contains(problem), "\(checked.standardError)")
        // The daemon validates as check does, before it opens anything.
        let run = try takeover("run", "--config", path)
        #expect(run.status == 1)
        #expect(run.standardError.contains(problem), "\(run.standardError)")
    }
}
