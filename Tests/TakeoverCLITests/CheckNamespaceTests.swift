import Foundation
import TakeoverEngine
import Testing

/// `takeover check` with its real environment checks (rtnetlink, key file, hook) in a network namespace set up
/// as examples/two-node/alpha.toml says. Needs root (CI runs as root).
@Suite("takeover check in a namespace")
struct CheckNamespaceTests {
    @Test("the two-node example passes on a machine built to match it, and fails where it does not")
    func exampleInNamespace() throws {
        let namespace = "tko-cfg-\(getpid())"
        func ip(_ arguments: String...) throws {
            let result = try run("/usr/sbin/ip", arguments)
            try #require(result.status == 0, "ip \(arguments.joined(separator: " ")): \(result.standardError)")
        }
        try ip("netns", "add", namespace)
        defer { _ = try? run("/usr/sbin/ip", ["netns", "del", namespace]) }
        try ip("-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
        try ip("-n", namespace, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
        try ip("-n", namespace, "link", "set", "eth0", "address", "02:00:5e:00:53:0b")
        try ip("-n", namespace, "addr", "add", "192.0.2.11/24", "dev", "eth0")
        try ip("-n", namespace, "addr", "add", "2001:db8::11/64", "dev", "eth0", "nodad")
        try ip("-n", namespace, "addr", "add", "198.51.100.11/24", "dev", "eth1")
        for link in ["eth0", "eth0p", "eth1", "eth1p"] { try ip("-n", namespace, "link", "set", link, "up") }

        let scratch = try ScratchDirectory()
        #expect(try takeover("keygen", "--output", scratch.path + "/key").status == 0)
        let hook = try scratch.file("notify", "#!/bin/sh\nexit 0\n", mode: 0o755)
        let text = try exampleText("alpha")
            .replacingOccurrences(of: "/etc/takeover/key", with: scratch.path + "/key")
            .replacingOccurrences(of: "/usr/local/lib/takeover/notify", with: hook)
        let withMAC = try scratch.file("alpha.toml", text)
        // Without `mac`, check fills it in from the interface.
        let withoutMAC = try scratch.file(
            "alpha-no-mac.toml", text.replacingOccurrences(of: "mac = \"02:00:5e:00:53:0b\"\n", with: ""))
        let expected = try ConfigurationLoader.parse(text).tomlText

        for path in [withMAC, withoutMAC] {
            let result = try run(
                "/usr/sbin/ip", ["netns", "exec", namespace, takeoverExecutable, "check", "--config", path])
            #expect(result.status == 0, "\(result.standardError)")
            #expect(result.standardOutput == expected)
        }

        try ip("-n", namespace, "addr", "del", "2001:db8::11/64", "dev", "eth0")
        try ip("-n", namespace, "link", "del", "eth1")
        let result = try run(
            "/usr/sbin/ip", ["netns", "exec", namespace, takeoverExecutable, "check", "--config", withMAC])
        #expect(result.status == 1)
        #expect(
            result.standardError == """
                \(withMAC): configuration has 2 problems:
                  interfaces[0].addresses[1]: 2001:db8::11 is not assigned to eth0
                  heartbeat.channels[1].interface: no network interface named "eth1" on this machine

                """)
    }
}
