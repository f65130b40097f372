import ArgumentParser
import FoundationEssentials
import TakeoverEngine
import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where the commands that talk to a running daemon find its control socket.
struct ControlSocketOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The daemon's control socket (default: control.socket from --config, else \(ControlSettings.defaultSocketPath)).",
            valueName: "path"))
    var socket: String?

    @Option(name: [.short, .long], help: ArgumentHelp("The configuration file to read control.socket from.", valueName: "file"))
    var config: String = ConfigurationOptions.defaultPath

    /// --socket, else the configuration's control.socket when the file reads, else the default.
    var socketPath: String {
        if let socket { return socket }
        if let configuration = try? ConfigurationLoader.load(file: config, environment: nil) {
            return configuration.control.socketPath
        }
        return ControlSettings.defaultSocketPath
    }
}

/// One connection to the daemon's control socket: a request line out, reply lines back.
struct ControlClient {
    let connection: StreamSocket
    private var buffered: [UInt8] = []

    static let connectFailureHint = "is `takeover run` running, and are you root?"

    init(path: String) throws(ControlClientError) {
        do {
            connection = try StreamSocket.connectUnix(path: path)
            // Blocking reads with a poll deadline per line (readLine); writes are tiny.
            try connection.setNonBlocking(true)
        } catch {
            throw ControlClientError("cannot connect to \(path): \(error) (\(Self.connectFailureHint))")
        }
    }

    func send(_ request: ControlRequest) throws(ControlClientError) {
        do {
            var line = [UInt8](try JSONEncoder().encode(request))
            line.append(UInt8(ascii: "\n"))
            try connection.writeAll(line, timeout: .seconds(5))
        } catch {
            throw ControlClientError("sending the request: \(error)")
        }
    }

    /// The next line (without its newline), nil at end of stream; waits at most `timeout` for it.
    mutating func readLine(timeout: Duration) throws(ControlClientError) -> [UInt8]? {
        let deadline = MonotonicClock.now() + timeout.wholeNanoseconds
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffered[..<newline])
                buffered.removeSubrange(...newline)
                return line
            }
            do {
                let result: IOResult<Int>
                do {
                    result = try chunk.withUnsafeMutableBytes { (buffer) throws(SystemCallError) in
                        try connection.read(into: buffer)
                    }
                } catch let error as SystemCallError where error.errno == ECONNRESET {
                    // The daemon closed with bytes of ours unread (a refused request): Linux reports a reset.
                    return nil
                }
                switch result {
                case .done(0): return nil
                case .done(let count): buffered += chunk[..<count]
                case .wouldBlock: try connection.waitUntil(POLLIN, deadline: deadline)
                }
            } catch {
                throw ControlClientError("reading the reply: \(error)")
            }
        }
    }

    mutating func read<T: Decodable>(_ type: T.Type, timeout: Duration) throws(ControlClientError) -> T {
        guard let line = try readLine(timeout: timeout) else {
            throw ControlClientError("the daemon closed the connection without a reply")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(line))
        } catch {
            throw ControlClientError("unreadable reply: \(error)")
        }
    }

    /// Sends `request` and returns its reply, or throws the daemon's error.
    static func exchange(_ request: ControlRequest, socket: String, timeout: Duration = .seconds(10)) throws(ControlClientError) -> ControlReply {
        var client = try ControlClient(path: socket)
        try client.send(request)
        let reply = try client.read(ControlReply.self, timeout: timeout)
        if let error = reply.error { throw ControlClientError("\(error.code.rawValue): \(error.message)") }
        return reply
    }
}

struct ControlClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Prints `error` on standard error and exits 1.
    func fail(_ error: some Error) -> ExitCode {
        writeToStandardError("takeover: \(error)\n")
        return ExitCode.failure
    }
}
