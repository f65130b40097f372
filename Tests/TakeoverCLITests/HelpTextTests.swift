import ArgumentParser
import Foundation
import Testing

@testable import takeover

@Suite("takeover help text")
struct HelpTextTests {
    @Test("root: the subcommands that exist")
    func root() {
        #expect(
            TakeoverCommand.helpMessage(columns: 100) == """
                OVERVIEW: A userspace takeover engine: a standby that answers for its failed peer and keeps its TCP
                sessions.

                The configuration file is TOML; docs/configuration.md lists every key. Start with `takeover keygen
                --output /etc/takeover/key` (copy the key to the peer), then `takeover check --config
                /etc/takeover/takeover.toml`.

                USAGE: takeover <subcommand>

                OPTIONS:
                  -h, --help              Show help information.

                SUBCOMMANDS:
                  run                     Run the takeover daemon in the foreground.
                  check                   Validate a configuration file and print the effective configuration.
                  keygen                  Write a new random heartbeat key (32 bytes, mode 0600).
                  status                  Show the running daemon's groups, peer, owned addresses, counters and
                                          last failover.
                  takeover                Make this node serve a group now.
                  release                 Hand a group this node serves to the peer.
                  announce                Send the takeover announcements again now for every address this node
                                          serves.
                  capture                 Write what the daemon's filter sees to a pcapng file.

                  See 'takeover help <subcommand>' for detailed help.
                """)
    }

    @Test("check: the shared --config option with its default, and --skip-environment")
    func check() {
        #expect(
            TakeoverCommand.helpMessage(for: CheckCommand.self, columns: 100) == """
                OVERVIEW: Validate a configuration file and print the effective configuration.

                Checks the file (syntax, keys, types, ranges, and the keys against each other) and then this
                machine: the interfaces exist and carry the configured MACs and addresses, the key file is private
                and long enough, hooks are executable, the CPUs in heartbeat.cpus are ones this process may use
                (run it under the daemon's CPU affinity). On success prints the configuration with every default
                filled in and exits 0; otherwise prints every problem, each with the key it is about, and exits 1.

                USAGE: takeover check [--config <file>] [--skip-environment]

                OPTIONS:
                  -c, --config <file>     The configuration file (TOML). (default: /etc/takeover/takeover.toml)
                  --skip-environment      Check the file only, not this machine (for a file meant for another node).
                  -h, --help              Show help information.

                """)
    }

    @Test("keygen: --output is required")
    func keygen() {
        #expect(
            TakeoverCommand.helpMessage(for: KeygenCommand.self, columns: 100) == """
                OVERVIEW: Write a new random heartbeat key (32 bytes, mode 0600).

                The bytes come from the kernel's random generator (getrandom(2)). The file is created owner-only
                and never overwritten. Copy it to the peer (same path in both configurations: heartbeat.key-file).

                USAGE: takeover keygen --output <file>

                OPTIONS:
                  -o, --output <file>     Where to write the key; must not exist yet.
                  -h, --help              Show help information.

                """)
    }

    @Test("run: the daemon, its sockets and its signals")
    func runHelp() {
        #expect(
            TakeoverCommand.helpMessage(for: RunCommand.self, columns: 100) == """
                OVERVIEW: Run the takeover daemon in the foreground.

                Validates the configuration exactly as `takeover check` does and refuses to start on any problem.
                Logs to standard error. Serves the control socket (control.socket) and, unless metrics.enabled is
                false, Prometheus metrics (metrics.address). SIGTERM or SIGINT hands the served groups to the peer
                and exits 0.

                USAGE: takeover run [--config <file>] [--log-level <level>]

                OPTIONS:
                  -c, --config <file>     The configuration file (TOML). (default: /etc/takeover/takeover.toml)
                  --log-level <level>     Log level: trace, debug, info, notice, warning, error. (default: info)
                  -h, --help              Show help information.

                """)
    }

    @Test("status: --json, and where the control socket is found")
    func status() {
        #expect(
            TakeoverCommand.helpMessage(for: StatusCommand.self, columns: 100) == """
                OVERVIEW: Show the running daemon's groups, peer, owned addresses, counters and last failover.

                Asks the daemon over its control socket (root only). --json prints the report as one JSON object
                (schema: docs/status.schema.json, schemaVersion 1; fields: docs/control.md).

                USAGE: takeover status [--socket <path>] [--config <file>] [--json]

                OPTIONS:
                  --socket <path>         The daemon's control socket (default: control.socket from --config, else
                                          /run/takeover/control.sock).
                  -c, --config <file>     The configuration file to read control.socket from. (default:
                                          /etc/takeover/takeover.toml)
                  --json                  Print the report as JSON (docs/status.schema.json).
                  -h, --help              Show help information.

                """)
    }

    @Test("takeover and release: --group is required")
    func manualCommands() {
        #expect(
            TakeoverCommand.helpMessage(for: TakeoverGroupCommand.self, columns: 100) == """
                OVERVIEW: Make this node serve a group now.

                At once when the peer is gone; otherwise the peer is asked (in the heartbeats) to release the
                group, and this node serves it when the peer has.

                USAGE: takeover takeover --group <id> [--socket <path>] [--config <file>]

                OPTIONS:
                  --group <id>            The service group (its id in the configuration).
                  --socket <path>         The daemon's control socket (default: control.socket from --config, else
                                          /run/takeover/control.sock).
                  -c, --config <file>     The configuration file to read control.socket from. (default:
                                          /etc/takeover/takeover.toml)
                  -h, --help              Show help information.

                """)
        #expect(
            TakeoverCommand.helpMessage(for: ReleaseCommand.self, columns: 100).hasPrefix("""
                OVERVIEW: Hand a group this node serves to the peer.

                Refused when this node does not serve the group or the peer is not alive (nobody would serve it).

                USAGE: takeover release --group <id> [--socket <path>] [--config <file>]
                """))
    }

    @Test("announce and capture")
    func announceAndCapture() {
        #expect(
            TakeoverCommand.helpMessage(for: AnnounceCommand.self, columns: 100).hasPrefix("""
                OVERVIEW: Send the takeover announcements again now for every address this node serves.

                Gratuitous ARP (both forms), unsolicited neighbour advertisements and a unicast to every known
                client, on the configured schedule (announcements.count rounds). Useful after a switch lost its
                tables.

                USAGE: takeover announce [--socket <path>] [--config <file>]
                """))
        #expect(
            TakeoverCommand.helpMessage(for: CaptureCommand.self, columns: 100) == """
                OVERVIEW: Write what the daemon's filter sees to a pcapng file.

                The daemon captures on every configured interface with the standby's selection (frames to or from
                the peer's MAC, ARP and neighbour discovery about the group addresses) and streams the frames over
                its control socket; this command writes them as they come, one pcapng interface per link. Stops
                after --count frames or --duration (default: 1000 frames), or on Ctrl-C. The file is created mode
                0600: it holds the traffic.

                USAGE: takeover capture --output <file> [--count <n>] [--duration <duration>] [--socket <path>] [--config <file>]

                OPTIONS:
                  -o, --output <file>     The pcapng file to write (replaced if it exists).
                  --count <n>             Stop after this many frames.
                  --duration <duration>   Stop after this long (e.g. 10s, 500ms, 2m).
                  --socket <path>         The daemon's control socket (default: control.socket from --config, else
                                          /run/takeover/control.sock).
                  -c, --config <file>     The configuration file to read control.socket from. (default:
                                          /etc/takeover/takeover.toml)
                  -h, --help              Show help information.

                """)
    }

    @Test("the control commands parse; bad groups, counts and durations are refused")
    func controlParsing() throws {
        let status = try #require(try TakeoverCommand.parseAsRoot(["status", "--json", "--socket", "/tmp/s.sock"]) as? StatusCommand)
        #expect(status.json && status.control.socketPath == "/tmp/s.sock")
        let takeover = try #require(try TakeoverCommand.parseAsRoot(["takeover", "--group", "3"]) as? TakeoverGroupCommand)
        #expect(takeover.group.group == 3)
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["takeover"]) }
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["release", "--group", "70000"]) }
        let capture = try #require(
            try TakeoverCommand.parseAsRoot(["capture", "-o", "/tmp/x.pcapng", "--count", "10", "--duration", "2s"]) as? CaptureCommand)
        #expect(capture.output == "/tmp/x.pcapng" && capture.count == 10 && capture.duration == "2s")
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["capture", "-o", "/tmp/x", "--count", "0"]) }
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["capture", "-o", "/tmp/x", "--duration", "soon"]) }
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["capture"]) }
    }

    @Test("the socket comes from --socket, else the configuration's control.socket, else the default")
    func socketPath() throws {
        let scratch = try ScratchDirectory()
        let file = try scratch.file("alpha.toml", try exampleText("alpha").replacingOccurrences(of: "/run/takeover/control.sock", with: "/run/alpha.sock"))
        let fromConfig = try #require(try TakeoverCommand.parseAsRoot(["status", "-c", file]) as? StatusCommand)
        #expect(fromConfig.control.socketPath == "/run/alpha.sock")
        let missing = try #require(try TakeoverCommand.parseAsRoot(["status", "-c", scratch.path + "/none.toml"]) as? StatusCommand)
        #expect(missing.control.socketPath == "/run/takeover/control.sock")
    }

    @Test("arguments parse into the commands; unknown commands and missing options are refused")
    func parsing() throws {
        let check = try #require(
            try TakeoverCommand.parseAsRoot(["check", "-c", "/tmp/x.toml", "--skip-environment"]) as? CheckCommand)
        #expect(check.options.config == "/tmp/x.toml")
        #expect(check.skipEnvironment)
        let defaulted = try #require(try TakeoverCommand.parseAsRoot(["check"]) as? CheckCommand)
        #expect(defaulted.options.config == "/etc/takeover/takeover.toml")
        #expect(!defaulted.skipEnvironment)
        let keygen = try #require(try TakeoverCommand.parseAsRoot(["keygen", "--output", "/tmp/k"]) as? KeygenCommand)
        #expect(keygen.output == "/tmp/k")
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["keygen"]) }
        let run = try #require(try TakeoverCommand.parseAsRoot(["run", "--config", "/tmp/x.toml", "--log-level", "debug"]) as? RunCommand)
        #expect(run.options.config == "/tmp/x.toml" && run.logLevel == "debug")
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["stats"]) }
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["check", "--bogus"]) }
    }
}
