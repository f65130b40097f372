import Testing

@testable import TakeoverEngine

/// Damaged files end in problems, never in a trap or a half-read configuration.
@Suite("Damaged configuration files")
struct ConfigurationDamageTests {
    private func outcome(_ text: String) -> Result<EngineConfiguration, ConfigurationErrors> {
        Result { () throws(ConfigurationErrors) in try ConfigurationLoader.parse(text) }
    }

    @Test("every prefix of the example: problems, or a configuration that agrees with the whole file")
    func everyPrefix() throws {
        let text = try exampleText("alpha")
        let whole = try ConfigurationLoader.parse(text)
        let bytes = Array(text.utf8)
        // The last required value is the first channel's peer; every section after it is optional.
        let firstChannelPeer = try #require(text.firstRange(of: "peer = \"192.0.2.12\"\n"))
        let required = text.utf8.distance(from: text.startIndex, to: firstChannelPeer.upperBound)
        var passed = 0
        for length in 0..<bytes.count {
            switch outcome(String(decoding: bytes[..<length], as: UTF8.self)) {
            case .success(let configuration):
                passed += 1
                #expect(length >= required - 1, "a file cut at byte \(length), before the last required value, passed")
                #expect(configuration.node == whole.node && configuration.peer == whole.peer)
                #expect(configuration.interfaces == whole.interfaces && configuration.groups == whole.groups)
                #expect(configuration.heartbeat.channels[0] == whole.heartbeat.channels[0])
            case .failure(let errors):
                #expect(!errors.problems.isEmpty)
            }
        }
        // Cuts between the optional sections do pass; this test would be empty if none did.
        #expect(passed > 0)
    }

    @Test("every line removed or doubled: a configuration or problems, and removing a required key names it")
    func everyLine() throws {
        let lines = try exampleText("alpha").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (index, line) in lines.enumerated() {
            var removed = lines
            removed.remove(at: index)
            if case .failure(let errors) = outcome(removed.joined(separator: "\n")) {
                #expect(!errors.problems.isEmpty)
                // A required key removed is reported by its name.
                if line.hasPrefix("peer-mac =") || line.hasPrefix("local =") || line.hasPrefix("priority =") {
                    let key = String(line.prefix { $0 != " " })
                    #expect(
                        errors.problems.contains { "\($0.keyPath.map(String.init(describing:)) ?? "")".hasSuffix(key) })
                }
            }
            var doubled = lines
            doubled.insert(line, at: index)
            // TOML forbids a key or a table header twice, and a doubled `[[array]]` header adds an empty entry
            // that misses its required keys: only blank and comment lines may repeat.
            let harmless = line.allSatisfy(\.isWhitespace) || line.hasPrefix("#")
            if case .success = outcome(doubled.joined(separator: "\n")) {
                #expect(harmless, "line \(index + 1) doubled was accepted: \(line)")
            } else {
                #expect(!harmless, "line \(index + 1) doubled was refused: \(line)")
            }
        }
    }
}
