import ArgumentParser
import FoundationEssentials
import TakeoverCore
import TakeoverEngine

/// `takeover status`: the running daemon's state, from its control socket.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running daemon's groups, peer, owned addresses, counters and last failover.",
        discussion: """
            Asks the daemon over its control socket (root only). --json prints the report as one JSON object \
            (schema: docs/status.schema.json, schemaVersion \(StatusReport.currentSchemaVersion); fields: docs/control.md).
            """)

    @OptionGroup var control: ControlSocketOptions

    @Flag(help: "Print the report as JSON (docs/status.schema.json).")
    var json = false

    func run() throws {
        let status: StatusReport
        do {
            guard let report = try ControlClient.exchange(ControlRequest(command: .status), socket: control.socketPath).status else {
                throw ControlClientError("the reply carries no status")
            }
            status = report
        } catch {
            throw fail(error)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(StatusText.render(status), terminator: "")
        }
    }
}

/// The human form of a status report.
enum StatusText {
    static func render(_ status: StatusReport) -> String {
        var out = "node \(status.node.name) (\(status.node.id)), peer \(status.peer.name) (\(status.peer.id))"
        out += status.controller.running ? "\n" : " — controller not running\n"
        out += "owned addresses: \(status.ownedAddresses.isEmpty ? "none" : status.ownedAddresses.joined(separator: ", "))\n"
        for group in status.groups {
            let peer = group.peer.map { "peer \($0.state), priority \($0.priority)" } ?? "peer not heard"
            out += "group \(group.id) on \(group.interface): \(group.state) (\(peer)); \(group.addresses.joined(separator: ", "))\n"
        }
        for channel in status.heartbeats {
            let rejected = channel.rejected
            let rejectedTotal = rejected.malformed + rejected.badTag + rejected.notForUs + rejected.wrongChannel
                + rejected.staleIncarnation + rejected.replayed
            let last = channel.lastAcceptedAgoMicroseconds.map { ", last \(milliseconds($0)) ago" } ?? ""
            out += "heartbeats \(channel.name): sent \(channel.sent) (\(channel.sendFailures) failed), received \(channel.received), "
            out += "accepted \(channel.accepted), rejected \(rejectedTotal)"
            if rejectedTotal > 0 {
                out += " (malformed \(rejected.malformed), bad tag \(rejected.badTag), not for us \(rejected.notForUs), "
                out += "wrong channel \(rejected.wrongChannel), stale \(rejected.staleIncarnation), replayed \(rejected.replayed))"
            }
            out += last + "\n"
        }
        if let cover = status.controller.stallCover {
            out += "stall cover: \(cover.placement)"
            out += cover.stallsCovered > 0 ? "; covered \(cover.stallsCovered) stalls (\(cover.heartbeatsSent) heartbeats)\n" : "\n"
        }
        if let stalls = status.controller.stallsBeyondWindow, stalls > 0 {
            out += "controller stalls beyond the failure window: \(stalls)\n"
        }
        if let last = status.controller.peerReturns?.last {
            out += "last return of the peer after it was judged failed: \(last)\n"
        }
        for path in status.paths {
            if let xdp = path.xdp {
                let counts = xdp.packets.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                out += "\(path.interface): XDP \(xdp.attachMode), \(xdp.mode)"
                out += counts.isEmpty ? "\n" : ": \(counts.joined(separator: ", "))\n"
            } else {
                out += "\(path.interface): no XDP (\(path.xdpUnavailableReason ?? "-"))\n"
            }
            if let capture = path.sessionCapture {
                out += "\(path.interface): sessions tracked from \(capture == "af_xdp" ? "AF_XDP" : "libpcap")\n"
            }
            if let responder = path.responder {
                out += "\(path.interface): responder \(responder.answering ? "answering \(responder.addresses.joined(separator: ", "))" : "idle"), "
                out += "\(responder.framesReceived) frames, \(responder.arpRepliesSent) ARP replies, "
                out += "\(responder.neighborAdvertisementsSent) NAs, \(responder.announcementsSent) announcements, "
                out += "\(responder.transmitFailures) transmit failures\n"
            }
        }
        if let sessions = status.sessions {
            out += "sessions: \(sessions.count) (\(sessions.framesReceived) frames, \(sessions.dropped) dropped)\n"
        }
        if let failover = status.lastFailover {
            out += "last transition: group \(failover.group) \(failover.from) → \(failover.to) (\(failover.reasonText)), "
            out += "\(milliseconds(failover.decidedAgoMicroseconds)) ago\n"
            for step in failover.steps {
                let started = step.startedAfterMicroseconds.map { "+\(milliseconds($0))" } ?? "?"
                let finished = step.finishedAfterMicroseconds.map { "+\(milliseconds($0))" } ?? "?"
                out += "  \(step.step): \(started) … \(finished)\n"
            }
            if let first = failover.firstAnnouncementAfterMicroseconds {
                out += "  first announcement: +\(milliseconds(first))\n"
            }
            if let finished = failover.releaseFinishedAfterMicroseconds {
                out += "  release finished: +\(milliseconds(finished))\n"
            }
        }
        return out
    }

    static func milliseconds(_ microseconds: UInt64) -> String {
        let whole = microseconds / 1000
        let fraction = microseconds % 1000
        return "\(whole).\(String(repeating: "0", count: 3 - String(fraction).count))\(fraction) ms"
    }
}

/// Options of the two manual commands.
struct GroupOption: ParsableArguments {
    @Option(help: ArgumentHelp("The service group (its id in the configuration).", valueName: "id"))
    var group: UInt16
}

/// `takeover takeover`: serve a group now.
struct TakeoverGroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takeover",
        abstract: "Make this node serve a group now.",
        discussion: """
            At once when the peer is gone; otherwise the peer is asked (in the heartbeats) to release the group, \
            and this node serves it when the peer has.
            """)

    @OptionGroup var group: GroupOption
    @OptionGroup var control: ControlSocketOptions

    func run() throws {
        do {
            let reply = try ControlClient.exchange(ControlRequest(command: .takeover, group: group.group), socket: control.socketPath)
            print(reply.message ?? "ok")
        } catch {
            throw fail(error)
        }
    }
}

/// `takeover release`: hand a group to the peer.
struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Hand a group this node serves to the peer.",
        discussion: "Refused when this node does not serve the group or the peer is not alive (nobody would serve it).")

    @OptionGroup var group: GroupOption
    @OptionGroup var control: ControlSocketOptions

    func run() throws {
        do {
            let reply = try ControlClient.exchange(ControlRequest(command: .release, group: group.group), socket: control.socketPath)
            print(reply.message ?? "ok")
        } catch {
            throw fail(error)
        }
    }
}

/// `takeover announce`: send the announcements again.
struct AnnounceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "announce",
        abstract: "Send the takeover announcements again now for every address this node serves.",
        discussion: """
            Gratuitous ARP (both forms), unsolicited neighbour advertisements and a unicast to every known client, \
            on the configured schedule (announcements.count rounds). Useful after a switch lost its tables.
            """)

    @OptionGroup var control: ControlSocketOptions

    func run() throws {
        do {
            let reply = try ControlClient.exchange(ControlRequest(command: .announce), socket: control.socketPath)
            let announced = reply.announced ?? []
            if announced.isEmpty {
                print(reply.message ?? "nothing announced")
            }
            for interface in announced {
                print("\(interface.interface): announced \(interface.addresses.joined(separator: ", "))")
            }
        } catch {
            throw fail(error)
        }
    }
}
