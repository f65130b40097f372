extension EngineConfiguration {
    /// The checks a configuration file gets, on a value built in code (an appliance's firmware has no file):
    /// pass 1 — ranges, formats and the keys against each other — by rendering the value as the file it
    /// stands for and reading that back, so a value and a file can never be checked differently; and, with an
    /// `environment` (`LinuxConfigurationEnvironment()` on the machine itself), pass 2 against the machine,
    /// which also fills in the interfaces' MACs. Returns the checked configuration for `Engine(configuration:)`.
    /// A node and peer with the same name render to a priority table with a key twice, which is reported as the
    /// rendered text's TOML error (line and column of that text).
    public func validated(
        environment: (any ConfigurationEnvironment)? = nil
    ) throws(ConfigurationErrors) -> EngineConfiguration {
        let parsed = try ConfigurationLoader.parse(tomlText)
        guard let environment else { return parsed }
        return try ConfigurationLoader.checkEnvironment(parsed, environment)
    }
}
