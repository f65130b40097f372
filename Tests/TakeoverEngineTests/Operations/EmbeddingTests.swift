import TakeoverCore
import Testing

@testable import TakeoverEngine

@Suite("embedding: a configuration value gets a file's checks; state changes as a stream")
struct EmbeddingTests {
    @Test("a value built from the minimal file validates to itself; a broken value reports the key")
    func validated() throws {
        let parsed = try ConfigurationLoader.parse(minimalConfiguration)
        #expect(try parsed.validated() == parsed)

        var samePeer = parsed
        samePeer.peer.id = samePeer.node.id
        #expect(throws: ConfigurationErrors.self) { try samePeer.validated() }
        do {
            _ = try samePeer.validated()
        } catch {
            #expect(error.problems.contains { $0.keyPath?.description.hasPrefix("peer") == true }, "\(error)")
        }

        var badInterval = parsed
        badInterval.heartbeat.interval = .seconds(60)
        #expect(throws: ConfigurationErrors.self) { try badInterval.validated() }
    }

    @Test("FailoverStateChange.stream delivers what the callback gets, in order, without blocking it")
    func stream() async throws {
        let (changes, onStateChange) = FailoverStateChange.stream(bufferSize: 4)
        let transitions = [FailoverState.standby, .active, .releasing].map { state in
            FailoverStateChange(
                group: 1, transition: FailoverTransition(from: .initializing, to: state, reason: .startupNoPeer, at: .zero),
                timelineID: 1)
        }
        transitions.forEach(onStateChange)
        var received: [FailoverStateChange] = []
        for await change in changes {
            received.append(change)
            if received.count == transitions.count { break }
        }
        #expect(received == transitions)
    }
}
