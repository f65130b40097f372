import Foundation
import Testing

@testable import TakeoverEngine

/// docs/configuration.md stays in step with the code: every key documented in its section, the example in the
/// page is the example file.
@Suite("Configuration documentation")
struct ConfigurationDocumentationTests {
    private let page: String = {
        let path = examplesDirectory.replacing("/examples", with: "/docs/configuration.md")
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }()

    /// The table rows of the section whose heading starts with `heading`.
    private func rows(under heading: String) -> [String] {
        let lines = page.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("### " + heading) }) else { return [] }
        return lines[(start + 1)...].prefix { !$0.hasPrefix("#") }.filter { $0.hasPrefix("| `") }.map(String.init)
    }

    @Test(
        "every key is a row of its section's table, in the order the code lists it",
        arguments: [
            ("`[node]`", ConfigurationKeys.identity), ("`[[interfaces]]`", ConfigurationKeys.interface),
            ("`[[groups]]`", ConfigurationKeys.group), ("`[heartbeat]`", ConfigurationKeys.heartbeat),
            ("`[[heartbeat.channels]]`", ConfigurationKeys.channel), ("`[engine]`", ConfigurationKeys.engine),
            ("`[announcements]`", ConfigurationKeys.announcements), ("`[failover]`", ConfigurationKeys.failover),
            ("`[[hooks]]`", ConfigurationKeys.hook), ("`[metrics]`", ConfigurationKeys.metrics),
            ("`[control]`", ConfigurationKeys.control),
        ])
    func keysDocumented(heading: String, keys: [String]) {
        let documented = rows(under: heading).map { $0.dropFirst(3).prefix { $0 != "`" } }.map(String.init)
        #expect(documented == keys)
    }

    @Test("every top-level table has a section")
    func tablesDocumented() {
        for table in ConfigurationKeys.root where table != "peer" {
            #expect(page.contains("### `[\(table)]`") || page.contains("### `[[\(table)]]`"), "\(table)")
        }
    }

    @Test("the example in the page is examples/two-node/alpha.toml")
    func exampleIncluded() throws {
        let example = try exampleText("alpha")
        #expect(page.contains("```toml\n" + example + "```\n"))
    }
}
