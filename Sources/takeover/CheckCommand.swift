import ArgumentParser
import TakeoverEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `takeover check`: validates a configuration the way the daemon will before it starts.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file and print the effective configuration.",
        discussion: """
            Checks the file (syntax, keys, types, ranges, and the keys against each other) and then this machine: \
            the interfaces exist and carry the configured MACs and addresses, the key file is private and long \
            enough, hooks are executable, the CPUs in heartbeat.cpus are ones this process may use (run it under \
            the daemon's CPU affinity). On success prints the configuration with every default filled in and \
            exits 0; otherwise prints every problem, each with the key it is about, and exits 1.
            """)

    @OptionGroup var options: ConfigurationOptions

    @Flag(help: "Check the file only, not this machine (for a file meant for another node).")
    var skipEnvironment = false

    func run() throws {
        switch evaluate(environment: skipEnvironment ? nil : LinuxConfigurationEnvironment()) {
        case .success(let configuration):
            print(configuration.tomlText, terminator: "")
        case .failure(let errors):
            writeToStandardError("\(options.config): \(errors)\n")
            throw ExitCode.failure
        }
    }

    func evaluate(environment: (any ConfigurationEnvironment)?) -> Result<EngineConfiguration, ConfigurationErrors> {
        Result { () throws(ConfigurationErrors) in
            try ConfigurationLoader.load(file: options.config, environment: environment)
        }
    }
}

/// Unbuffered, so it never interleaves out of order with what ArgumentParser prints.
func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}
