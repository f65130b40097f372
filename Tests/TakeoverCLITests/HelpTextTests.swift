import ArgumentParser
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
                and long enough, hooks are executable. On success prints the configuration with every default
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
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["status"]) }
        #expect(throws: (any Error).self) { try TakeoverCommand.parseAsRoot(["check", "--bogus"]) }
    }
}
