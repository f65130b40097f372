import Foundation
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// Why a lab operation failed.
public enum LabError: Error, CustomStringConvertible, Sendable {
    case commandFailed(arguments: [String], status: Int32, standardError: String)
    case timedOut(arguments: [String], after: Duration)
    case launchFailed(arguments: [String], reason: String)
    case addressOutsideTestNets(String)
    case invalidName(String)
    case namespaceEntryFailed(namespace: String, reason: String)
    case tornDown

    public var description: String {
        switch self {
        case .commandFailed(let arguments, let status, let standardError):
            "`\(arguments.joined(separator: " "))` exited with \(status): \(standardError)"
        case .timedOut(let arguments, let after):
            "`\(arguments.joined(separator: " "))` did not finish within \(after); killed"
        case .launchFailed(let arguments, let reason):
            "could not start `\(arguments.joined(separator: " "))`: \(reason)"
        case .addressOutsideTestNets(let address):
            "\(address) is outside the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)"
        case .invalidName(let name):
            "\(name) is not a usable lab name (letters and digits, at most 10 characters)"
        case .namespaceEntryFailed(let namespace, let reason):
            "could not enter network namespace \(namespace): \(reason)"
        case .tornDown:
            "the lab has been torn down"
        }
    }
}

/// The outcome of a finished command.
public struct CommandResult: Sendable {
    public let arguments: [String]
    public let status: Int32
    public let standardOutput: String
    public let standardError: String

    public var succeeded: Bool { status == 0 }
}

/// A process the lab started. Its output goes to files, so a chatty process never blocks on a full pipe
/// and the output can be read while it runs.
public final class LabProcess: Sendable {
    public let arguments: [String]
    public let processIdentifier: Int32
    let process: ChildProcess
    let outputURL: URL
    let errorURL: URL

    init(arguments: [String], process: ChildProcess, outputURL: URL, errorURL: URL) {
        self.arguments = arguments
        self.process = process
        self.processIdentifier = process.processIdentifier
        self.outputURL = outputURL
        self.errorURL = errorURL
    }

    public var isRunning: Bool { process.isRunning }

    /// Output so far.
    public var standardOutput: String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }
    public var standardError: String { (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "" }

    /// Waits until `text` appears in the process's output or error stream (tcpdump announces
    /// "listening on" on stderr once its socket is open), or `timeout` passes. True if it appeared.
    public func waitForOutput(containing text: String, timeout: Duration = .seconds(5)) -> Bool {
        waitUntil(timeout: timeout) { standardOutput.contains(text) || standardError.contains(text) }
    }

    /// Waits until the process exits or `timeout` passes; true if it exited.
    public func waitForExit(timeout: Duration) -> Bool {
        waitUntil(timeout: timeout) { !process.isRunning }
    }

    /// Stops the process: SIGTERM, then SIGKILL if it is still running after `grace`. Returns its exit
    /// status (or the signal that ended it), nil if even SIGKILL did not end it within a second.
    @discardableResult
    public func stop(grace: Duration = .seconds(2)) -> Int32? {
        if process.isRunning {
            kill(processIdentifier, SIGTERM)
            if !waitForExit(timeout: grace) {
                kill(processIdentifier, SIGKILL)
                _ = waitForExit(timeout: .seconds(1))
            }
        }
        return process.terminationStatus
    }

    func removeOutputFiles() {
        try? FileManager.default.removeItem(at: outputURL)
        try? FileManager.default.removeItem(at: errorURL)
    }

    /// Launches `arguments` (the first is looked up in PATH when it has no slash), through TakeoverLinux's
    /// `ChildProcess` (Foundation's `Process.run()` crashes intermittently on Linux; see there).
    static func launch(_ arguments: [String]) throws(LabError) -> LabProcess {
        let directory = FileManager.default.temporaryDirectory
        let stem = "takeover-lab-\(getpid())-\(UUID().uuidString)"
        let outputURL = directory.appendingPathComponent(stem + ".out")
        let errorURL = directory.appendingPathComponent(stem + ".err")
        do {
            let process = try ChildProcess.spawn(arguments, standardOutput: outputURL.path, standardError: errorURL.path)
            return LabProcess(arguments: arguments, process: process, outputURL: outputURL, errorURL: errorURL)
        } catch {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorURL)
            throw .launchFailed(arguments: arguments, reason: "\(error)")
        }
    }

    /// Runs `arguments` to completion within `timeout`; on timeout kills it and throws.
    public static func run(_ arguments: [String], timeout: Duration) throws(LabError) -> CommandResult {
        let child = try launch(arguments)
        defer { child.removeOutputFiles() }
        guard child.waitForExit(timeout: timeout) else {
            child.stop(grace: .milliseconds(200))
            throw .timedOut(arguments: arguments, after: timeout)
        }
        return CommandResult(
            arguments: arguments, status: child.process.terminationStatus ?? -1,
            standardOutput: child.standardOutput, standardError: child.standardError)
    }
}

/// Polls `condition` every millisecond or so until it holds or `timeout` passes (bounded by both).
public func waitUntil(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    var pause = Duration.microseconds(500)
    while true {
        if condition() { return true }
        if clock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: Double(pause.components.attoseconds) / 1e18 + Double(pause.components.seconds))
        pause = min(pause * 2, .milliseconds(20))
    }
}
