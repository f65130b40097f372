import TakeoverCore
import Testing

@testable import TakeoverEngine

@Suite("Configuration defaults and mapping")
struct ConfigurationDefaultsTests {
    @Test("every key left out takes its documented default")
    func defaults() throws {
        let configuration = try ConfigurationLoader.parse(minimalConfiguration)
        #expect(configuration.node == NodeIdentity(id: 1, name: "alpha"))
        #expect(configuration.peer == NodeIdentity(id: 2, name: "beta"))
        #expect(
            configuration.interfaces == [
                InterfaceConfiguration(
                    name: "eth0", mac: nil, addresses: [.v4(IPv4Address(192, 0, 2, 11))],
                    peerMAC: MACAddress(0x02, 0x00, 0x5E, 0x00, 0x53, 0x0C),
                    peerAddresses: [.v4(IPv4Address(192, 0, 2, 12))])
            ])
        // The only interface is the group's interface.
        #expect(
            configuration.groups == [
                ServiceGroupConfiguration(
                    id: 1, interface: "eth0",
                    addresses: [InterfaceAddress(address: .v4(IPv4Address(192, 0, 2, 100)), prefixLength: 24)],
                    priority: 200, peerPriority: 100)
            ])
        let heartbeat = configuration.heartbeat
        #expect(heartbeat.interval == .milliseconds(100))
        #expect(heartbeat.missCount == 3)
        #expect(heartbeat.usesPeerTraffic)
        #expect(heartbeat.keyFile == "/etc/takeover/key")
        #expect(
            heartbeat.channels == [
                HeartbeatChannel(
                    interface: "eth0", localAddress: .v4(IPv4Address(192, 0, 2, 11)),
                    peerAddress: .v4(IPv4Address(192, 0, 2, 12)), port: 7410)
            ])
        #expect(configuration.engine == EngineSettings(mode: .stateBased, capture: .auto, tcpPolicy: .reset))
        #expect(
            configuration.announcements
                == AnnouncementSettings(count: 3, spacing: .milliseconds(10), refresh: .seconds(10)))
        // The startup wait defaults to the failure window (100 ms × 3), but at least 1 s.
        #expect(
            configuration.failover
                == FailoverSettings(preempt: true, preemptDelay: .zero, startupWait: .seconds(1)))
        #expect(configuration.hooks == [])
        #expect(
            configuration.metrics == MetricsSettings(enabled: true, address: .v4(IPv4Address(127, 0, 0, 1)), port: 9464)
        )
        #expect(configuration.control.socketPath == "/run/takeover/control.sock")
    }

    @Test("the unanswered-requests rule: off by default; its three keys reach the core in nanoseconds")
    func unansweredRequestsMapping() throws {
        #expect(try ConfigurationLoader.parse(minimalConfiguration).failureDetector.unansweredRequests == nil)
        let text = minimalConfiguration.replacing(
            exactly: "[heartbeat]\n",
            with: "[heartbeat]\ninterval = \"10ms\"\nunanswered-window = \"8ms\"\nunanswered-frames = 3\nunanswered-after = 2\n")
        let configuration = try ConfigurationLoader.parse(text)
        #expect(
            configuration.failureDetector.unansweredRequests
                == UnansweredRequestRule(window: 8_000_000, minimumFrames: 3, missedIntervals: 2))
        let defaults = try ConfigurationLoader.parse(
            minimalConfiguration.replacing(exactly: "[heartbeat]\n", with: "[heartbeat]\nunanswered-window = \"5ms\"\n"))
        #expect(
            defaults.failureDetector.unansweredRequests
                == UnansweredRequestRule(window: 5_000_000, minimumFrames: 2, missedIntervals: 1))
    }

    @Test("the stall cover: 50 ms below 50 ms heartbeats, off above, 0s turns it off")
    func stallCoverDefaults() throws {
        func cover(_ keys: String) throws -> Duration? {
            try ConfigurationLoader.parse(minimalConfiguration.replacing(exactly: "[heartbeat]\n", with: "[heartbeat]\n" + keys))
                .heartbeat.stallCover
        }
        #expect(try cover("") == nil, "100 ms heartbeats: the window covers a stall")
        #expect(try cover("interval = \"1ms\"\n") == .milliseconds(50))
        #expect(try cover("interval = \"10ms\"\nstall-cover = \"0s\"\n") == nil)
        #expect(try cover("interval = \"10ms\"\nstall-cover = \"20ms\"\n") == .milliseconds(20))
        #expect(throws: (any Error).self, "not longer than the interval") {
            try cover("interval = \"1s\"\nstall-cover = \"1s\"\n")
        }
    }

    @Test(
        "cpus: absent by default; one or two distinct CPUs, two while the cover is on; printed and parsed back",
        arguments: [
            ("", nil, "# cpus: not set; the controller thread is not pinned"),
            ("interval = \"10ms\"\n", nil,
             "# cpus: not set; the controller and the cover on the highest two CPUs the daemon may use"),
            ("interval = \"10ms\"\ncpus = [0, 1]\n", [0, 1], "cpus = [0, 1]"),
            ("interval = \"1ms\"\ncpus = [5, 2]\n", [5, 2], "cpus = [5, 2]"),
            ("cpus = [3]\n", [3], "cpus = [3]"),
            ("interval = \"10ms\"\nstall-cover = \"0s\"\ncpus = [1]\n", [1], "cpus = [1]"),
            // The cover off: the second CPU is unused, but kept (the cover may be turned on with the same list).
            ("cpus = [1, 0]\n", [1, 0], "cpus = [1, 0]"),
        ] as [(String, [Int]?, String)])
    func cpus(keys: String, expected: [Int]?, printed: String) throws {
        let configuration = try ConfigurationLoader.parse(
            minimalConfiguration.replacing(exactly: "[heartbeat]\n", with: "[heartbeat]\n" + keys))
        #expect(configuration.heartbeat.cpus == expected)
        let text = configuration.tomlText
        #expect(text.contains("\n" + printed + "\nkey-file = "), "\(text)")
        #expect(try ConfigurationLoader.parse(text) == configuration)
    }

    @Test("the core's failure detector and state machine get the configured values in nanoseconds")
    func coreMapping() throws {
        let text =
            minimalConfiguration.replacing(
                exactly: "[heartbeat]\n",
                with: "[heartbeat]\ninterval = \"1ms\"\nmiss-count = 5\npeer-traffic = false\n")
            + "\n[failover]\npreempt = false\npreempt-delay = \"1.5s\"\nstartup-wait = \"2s\"\n"
        let configuration = try ConfigurationLoader.parse(text)
        let detector = configuration.failureDetector
        #expect(detector.channelCount == 1)
        #expect(detector.interval == 1_000_000)
        #expect(detector.missCount == 5)
        #expect(!detector.usesPeerTraffic)
        #expect(detector.window == 5_000_000)
        let policy = configuration.failoverPolicy(for: configuration.groups[0])
        #expect(policy.nodeID == 1)
        #expect(policy.priority == 200)
        #expect(!policy.preempt)
        #expect(policy.preemptDelay == 1_500_000_000)
        #expect(policy.failureWindow == 5_000_000)
        #expect(policy.startupWait == 2_000_000_000)
    }

    @Test(
        "durations: parsed exactly, printed in the largest exact unit",
        arguments: [
            ("1ms", Duration.milliseconds(1), "1ms"), ("10ms", .milliseconds(10), "10ms"),
            ("1.5s", .milliseconds(1500), "1500ms"),
            ("250us", .microseconds(250), "250us"), ("250µs", .microseconds(250), "250us"), ("2m", .seconds(120), "2m"),
            ("1h", .seconds(3600), "1h"), ("90s", .seconds(90), "90s"), ("0s", .zero, "0s"),
            ("0.001ms", .nanoseconds(1000), "1us"),
            ("7ns", .nanoseconds(7), "7ns"), ("1min", .seconds(60), "1m"),
        ])
    func durations(text: String, duration: Duration, printed: String) {
        #expect(DurationText.parse(text) == duration)
        #expect(DurationText.format(duration) == printed)
        #expect(DurationText.parse(printed) == duration)
    }

    @Test(
        "not durations",
        arguments: [
            "", "10", "ms", "1.ms", ".5s", "1.5ns", "-1s", "1 s", "1s2", "1e3ms", "10sec", "1.0000000001s",
            "99999999999999h", "1..5s",
        ])
    func notDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test("the printed configuration parses back to the same configuration")
    func roundTrip() throws {
        let dottedName = minimalConfiguration.replacing(exactly: "name = \"alpha\"", with: "name = \"alpha.1\"")
            .replacing(exactly: "alpha = 200", with: "\"alpha.1\" = 200")
        for text in [minimalConfiguration, dottedName, try exampleText("alpha"), try exampleText("beta")] {
            let configuration = try ConfigurationLoader.parse(text)
            #expect(try ConfigurationLoader.parse(configuration.tomlText) == configuration)
        }
    }

    @Test("awkward strings survive printing", arguments: ["quote\"d", "back\\slash", "tab\there", "bell\u{07}", "ünï"])
    func awkwardStrings(argument: String) throws {
        var configuration = try ConfigurationLoader.parse(minimalConfiguration)
        configuration.hooks = [NotifyHook(path: "/usr/local/bin/notify", arguments: [argument, "plain"])]
        #expect(try ConfigurationLoader.parse(configuration.tomlText).hooks == configuration.hooks)
    }

    @Test("the minimal configuration prints with every default spelt out")
    func printedDefaults() throws {
        let configuration = try ConfigurationLoader.parse(minimalConfiguration)
        #expect(
            configuration.tomlText == """
                [node]
                id = 1
                name = "alpha"

                [peer]
                id = 2
                name = "beta"

                [[interfaces]]
                name = "eth0"
                # mac: not set; read from eth0 at start
                addresses = ["192.0.2.11"]
                peer-mac = "02:00:5e:00:53:0c"
                peer-addresses = ["192.0.2.12"]

                [[groups]]
                id = 1
                interface = "eth0"
                addresses = ["192.0.2.100/24"]
                priority = { alpha = 200, beta = 100 }

                [heartbeat]
                interval = "100ms"
                miss-count = 3
                peer-traffic = true
                stall-cover = "0s"
                # cpus: not set; the controller thread is not pinned
                key-file = "/etc/takeover/key"

                [[heartbeat.channels]]
                interface = "eth0"
                local = "192.0.2.11"
                peer = "192.0.2.12"
                port = 7410

                [engine]
                mode = "state-based"
                capture = "auto"
                tcp-policy = "reset"
                resume-socket = "/run/takeover/resume.sock"

                [announcements]
                count = 3
                spacing = "10ms"
                refresh = "10s"

                [failover]
                preempt = true
                preempt-delay = "0s"
                startup-wait = "1s"

                [metrics]
                enabled = true
                address = "127.0.0.1:9464"

                [control]
                socket = "/run/takeover/control.sock"

                """)
    }
}

func exampleText(_ node: String) throws -> String {
    try ConfigurationFile.read("\(examplesDirectory)/two-node/\(node).toml")
}
