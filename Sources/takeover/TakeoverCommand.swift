import ArgumentParser

/// `takeover`: the root command: the daemon (run), its configuration (check, keygen), and the commands that
/// talk to a running daemon over its control socket (status, takeover, release, announce, capture).
@main
struct TakeoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takeover",
        abstract: "A userspace takeover engine: a standby that answers for its failed peer and keeps its TCP sessions.",
        discussion: """
            The configuration file is TOML; docs/configuration.md lists every key. Start with \
            `takeover keygen --output /etc/takeover/key` (copy the key to the peer), then \
            `takeover check --config /etc/takeover/takeover.toml`.
            """,
        subcommands: [
            RunCommand.self, CheckCommand.self, KeygenCommand.self, StatusCommand.self, TakeoverGroupCommand.self,
            ReleaseCommand.self, AnnounceCommand.self, CaptureCommand.self,
        ])
}

/// Options every command that reads the configuration shares.
struct ConfigurationOptions: ParsableArguments {
    static let defaultPath = "/etc/takeover/takeover.toml"

    @Option(name: [.short, .long], help: ArgumentHelp("The configuration file (TOML).", valueName: "file"))
    var config: String = defaultPath
}
