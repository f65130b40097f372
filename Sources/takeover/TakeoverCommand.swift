import ArgumentParser

/// `takeover`: the root command. The daemon's commands (run, status, takeover, release, capture, announce)
/// join `subcommands` with the engine and the control socket.
@main
struct TakeoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takeover",
        abstract: "A userspace takeover engine: a standby that answers for its failed peer and keeps its TCP sessions.",
        discussion: """
            The configuration file is TOML; docs/configuration.md lists every key. Start with \
            `takeover keygen --output /etc/takeover/key` (copy the key to the peer), then \
            `takeover check --config /etc/takeover/takeover.toml`.
            """,
        subcommands: [RunCommand.self, CheckCommand.self, KeygenCommand.self])
}

/// Options every command that reads the configuration shares.
struct ConfigurationOptions: ParsableArguments {
    static let defaultPath = "/etc/takeover/takeover.toml"

    @Option(name: [.short, .long], help: ArgumentHelp("The configuration file (TOML).", valueName: "file"))
    var config: String = defaultPath
}
