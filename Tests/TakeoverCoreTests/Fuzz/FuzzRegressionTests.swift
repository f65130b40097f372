import Foundation
import TakeoverCore
import Testing

/// Replays, through `ParseTrackHarness` (the same code the libFuzzer target runs), every input the fuzzer
/// ever crashed on (fuzz/regressions/, one file each, named after what it broke) and the committed seed
/// corpus. A trap in the core crashes this test; a broken harness promise fails it with the frame and reason.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz")

    static func inputs(in subdirectory: String) -> [String] {
        let directory = fuzzDirectory.appendingPathComponent(subdirectory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { "\(subdirectory)/\($0)" }
    }

    static let regressions = inputs(in: "regressions")
    static let seeds = inputs(in: "corpus/parse-track") + inputs(in: "corpus/conversations")

    static func replay(_ path: String) throws -> ParseTrackHarness.Outcome {
        let bytes = [UInt8](try Data(contentsOf: fuzzDirectory.appendingPathComponent(path)))
        return try bytes.withUnsafeBytes { input in try ParseTrackHarness.run(input) }
    }

    @Test("every input that crashed the fuzzer now runs through", arguments: regressions)
    func regression(_ path: String) throws {
        let outcome = try Self.replay(path)
        #expect(outcome.frames >= 1)
    }

    @Test("the seed corpus keeps every promise, and its frames parse")
    func seedCorpus() throws {
        try #require(Self.seeds.count > 200, "fuzz/corpus holds the fixture frames (fuzz/make-seeds)")
        var total = ParseTrackHarness.Outcome()
        for path in Self.seeds {
            let outcome = try Self.replay(path)
            total.frames += outcome.frames
            total.parsed += outcome.parsed
            total.refused += outcome.refused
            total.tracked += outcome.tracked
            total.turnedAround += outcome.turnedAround
        }
        // The seeds are well-formed frames (the scapy table's and the kernel's): every one parses.
        #expect(total.refused == 0 && total.parsed == total.frames, "\(total)")
        #expect(total.turnedAround >= 2, "the table's IPv4 and IPv6 echo requests turn around: \(total)")
    }

    @Test("the frame separator splits an input into frames, empty ones included")
    func separator() throws {
        let frame: [UInt8] = [1, 2, 3]
        let input = frame + ParseTrackHarness.frameSeparator + frame + ParseTrackHarness.frameSeparator
        let outcome = try input.withUnsafeBytes { try ParseTrackHarness.run($0) }
        #expect(outcome.frames == 3)
        #expect(outcome.refused == 3)
    }
}
