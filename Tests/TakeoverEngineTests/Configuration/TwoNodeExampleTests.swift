import TakeoverCore
import Testing

@testable import TakeoverEngine

@Suite("Two-node example")
struct TwoNodeExampleTests {
    @Test("both files parse and describe the same cluster from opposite sides")
    func mirrored() throws {
        let alpha = try ConfigurationLoader.parse(try exampleText("alpha"))
        let beta = try ConfigurationLoader.parse(try exampleText("beta"))
        #expect(alpha.node == beta.peer)
        #expect(alpha.peer == beta.node)
        #expect(alpha.interfaces.count == 1 && beta.interfaces.count == 1)
        let (a, b) = (alpha.interfaces[0], beta.interfaces[0])
        #expect(a.mac == b.peerMAC && b.mac == a.peerMAC)
        #expect(a.addresses == b.peerAddresses && b.addresses == a.peerAddresses)
        #expect(alpha.groups.map(\.id) == [1, 2])
        for (mine, theirs) in zip(alpha.groups, beta.groups) {
            #expect(mine.id == theirs.id)
            #expect(mine.addresses == theirs.addresses)
            #expect(mine.priority == theirs.peerPriority && mine.peerPriority == theirs.priority)
        }
        // Active/active: each node is preferred for exactly one group.
        #expect(alpha.groups.map { $0.priority > $0.peerPriority } == [true, false])
        #expect(alpha.heartbeat.channels.count == 2)
        for (mine, theirs) in zip(alpha.heartbeat.channels, beta.heartbeat.channels) {
            #expect(mine.localAddress == theirs.peerAddress && mine.peerAddress == theirs.localAddress)
            #expect(mine.port == theirs.port)
        }
        // Everything but who is who is the same.
        #expect(alpha.heartbeat.interval == beta.heartbeat.interval)
        #expect(
            alpha.engine == beta.engine && alpha.announcements == beta.announcements && alpha.failover == beta.failover)
        #expect(alpha.engine.tcpPolicy == .resume)
        #expect(alpha.heartbeat.interval == .milliseconds(10))
        #expect(alpha.failover.startupWait == .seconds(1), "the failure window (30 ms) is below the 1 s floor")
    }

    @Test("both files pass the machine checks on machines set up as they say")
    func environment() throws {
        for node in ["alpha", "beta"] {
            let configuration = try ConfigurationLoader.parse(try exampleText(node))
            let checked = try ConfigurationLoader.checkEnvironment(
                configuration, FakeEnvironment(matching: configuration))
            #expect(checked == configuration)
        }
    }
}
