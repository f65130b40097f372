import Glibc
import Synchronization

/// A batch of `ip` or `nft` commands applied at a chosen moment without paying a process start then: the tool is
/// started ahead, in the host's namespace, blocked reading its batch from a FIFO; `apply()` writes the batch and
/// waits for the tool to exit. A process start cost 27–116 ms on this loaded 2-core machine (bench/RESULTS.md); the
/// write costs microseconds, so a failure and what a test arranges around it land when the test says.
public final class PreparedBatch: Sendable {
    public enum Tool: Sendable {
        /// `ip -batch`: one command per line.
        case ip
        /// `nft -f`: a ruleset, committed as one transaction once the FIFO closes.
        case nft
    }

    private let commands: String
    private let process: LabProcess
    /// Our end of the FIFO, opened read-write so that the tool's open never waits for a writer; closed by
    /// `apply` (after the batch) or `cancel`, which gives the tool its end-of-file.
    private let writer: Mutex<Int32?>

    /// Starts `tool` in `host` reading the FIFO `fifo` (created here; its directory must exist), and returns
    /// once the tool has it open.
    public init(lab: NetworkLab, host: LabHost, tool: Tool, fifo: String, commands: String) throws(LabError) {
        guard mkfifo(fifo, 0o600) == 0 else {
            throw .launchFailed(arguments: ["mkfifo", fifo], reason: String(cString: strerror(errno)))
        }
        // Close-on-exec: a tool that inherited a writer would never see its end-of-file.
        let descriptor = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .launchFailed(arguments: ["open", fifo], reason: String(cString: strerror(errno)))
        }
        self.commands = commands
        writer = Mutex(descriptor)
        do {
            process = try lab.start(in: host, tool == .ip ? ["ip", "-batch", fifo] : ["nft", "-f", fifo])
        } catch {
            close(descriptor)
            throw error
        }
        // `ip netns exec` execs the tool in the same process: it is ready once that process holds the FIFO.
        let pid = process.processIdentifier
        let opened = waitUntil(timeout: .seconds(10)) {
            Self.openFiles(of: pid).contains(fifo) || !process.isRunning
        }
        guard opened, process.isRunning else {
            cancel()
            throw .launchFailed(arguments: process.arguments, reason: "never opened \(fifo): \(process.standardError)")
        }
    }

    /// Writes the batch, closes the FIFO and waits until the tool applied it and exited with status 0.
    public func apply(timeout: Duration = .seconds(5)) throws(LabError) {
        let written = writer.withLock { descriptor -> Int in
            guard let open = descriptor else { return -1 }
            descriptor = nil
            // A batch fits the pipe's buffer (64 KiB): one write takes it whole, without waiting for the reader.
            defer { close(open) }
            return commands.utf8CString.withUnsafeBufferPointer { write(open, $0.baseAddress, $0.count - 1) }
        }
        let exited = process.waitForExit(timeout: timeout)
        guard written == commands.utf8.count, exited, process.process.terminationStatus == 0 else {
            throw .commandFailed(
                arguments: process.arguments, status: exited ? process.process.terminationStatus ?? -1 : -1,
                standardError: process.standardError + (written < 0 ? " (write to the FIFO failed or came twice)" : ""))
        }
    }

    /// Ends a tool still waiting for its batch (a run that failed before applying it): it reads end-of-file,
    /// applies nothing, and exits. Idempotent.
    public func cancel() {
        writer.withLock { descriptor in
            if let open = descriptor { close(open) }
            descriptor = nil
        }
        if process.isRunning { _ = process.stop(grace: .seconds(1)) }
    }

    deinit { cancel() }

    private static func openFiles(of pid: Int32) -> [String] {
        let directory = "/proc/\(pid)/fd"
        guard let entries = opendir(directory) else { return [] }
        defer { closedir(entries) }
        var targets: [String] = []
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        while let entry = readdir(entries) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            let length = readlink(directory + "/" + name, &buffer, buffer.count - 1)
            if length > 0 {
                targets.append(String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return targets
    }
}

extension NetworkLab {
    /// An nftables ruleset that drops every frame in and out of `devices` at the device (netdev family), as a
    /// dead machine would: applied as one transaction, every link goes quiet at the same instant.
    public static func silencingRuleset(devices: [String]) -> String {
        let chains = devices.map { device in
            """
                chain egress_\(device) { type filter hook egress device \(device) priority 0; policy drop; }
                chain ingress_\(device) { type filter hook ingress device \(device) priority 0; policy drop; }
            """
        }
        return "table netdev dead {\n" + chains.joined(separator: "\n") + "\n}\n"
    }
}
