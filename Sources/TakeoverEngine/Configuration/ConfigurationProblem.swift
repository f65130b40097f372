/// Where a value sits in the configuration file: `groups[1].addresses[0]` (array indexes count from 0).
public struct ConfigurationKeyPath: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    /// A dotted path with no indexes, for literals in code and tests: `"heartbeat.interval"`.
    public init(stringLiteral text: String) {
        components = text.split(separator: ".").map { .key(String($0)) }
    }

    public static let root = ConfigurationKeyPath()

    public func appending(_ key: String) -> ConfigurationKeyPath { ConfigurationKeyPath(components + [.key(key)]) }
    public func appending(_ index: Int) -> ConfigurationKeyPath { ConfigurationKeyPath(components + [.index(index)]) }
    public static func + (path: ConfigurationKeyPath, key: String) -> ConfigurationKeyPath { path.appending(key) }
    public static func + (path: ConfigurationKeyPath, index: Int) -> ConfigurationKeyPath { path.appending(index) }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                // A key TOML would quote (a node name with a dot, say) is quoted here too.
                let written = TOMLSyntax.key(key)
                text += text.isEmpty ? written : "." + written
            case .index(let index): text += "[\(index)]"
            }
        }
        return text.isEmpty ? "(top level)" : text
    }
}

/// One thing wrong with a configuration: the key it is about and what is wrong with it.
public struct ConfigurationProblem: Hashable, Sendable, CustomStringConvertible {
    /// nil for problems that belong to no key (the file cannot be read, or is not TOML).
    public var keyPath: ConfigurationKeyPath?
    public var message: String

    public init(_ keyPath: ConfigurationKeyPath?, _ message: String) {
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String { keyPath.map { "\($0): \(message)" } ?? message }
}

/// Every problem found in a configuration, in file order within each pass (syntax and keys, then cross-checks,
/// then the checks against this machine). A configuration with any problem is never used: nothing starts
/// half-configured.
public struct ConfigurationErrors: Error, Hashable, Sendable, CustomStringConvertible {
    public var problems: [ConfigurationProblem]

    public init(_ problems: [ConfigurationProblem]) { self.problems = problems }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return "configuration has \(count):\n" + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// Collects problems while a configuration is read, so that one pass reports all of them.
final class ProblemLog {
    private(set) var problems: [ConfigurationProblem] = []

    func report(_ keyPath: ConfigurationKeyPath?, _ message: String) {
        problems.append(ConfigurationProblem(keyPath, message))
    }

    var isEmpty: Bool { problems.isEmpty }
}
