import Foundation
import Glibc
import TakeoverLinux
import TakeoverLab

/// Network namespaces for one test, named with a unique prefix so parallel tests and helpers never collide.
/// Create with `NamespaceLab(test:)`, call `destroy()` in a `defer`: it deletes every namespace it made (and
/// with them their interfaces), also after a failure.
final class NamespaceLab: @unchecked Sendable {  // names are immutable; `namespaces` is only touched by the test
    let prefix: String
    private var namespaces: [String] = []

    struct CommandFailure: Error, CustomStringConvertible {
        let command: [String]
        let status: Int32
        let output: String
        var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
    }

    init(test: String) {
        prefix = "tkx-\(getpid())-\(test)"
    }

    /// Creates namespace `<prefix>-<name>` with its loopback up, and returns its full name.
    @discardableResult
    func addNamespace(_ name: String) throws -> String {
        let full = "\(prefix)-\(name)"
        try Self.run(["ip", "netns", "add", full])
        namespaces.append(full)
        try Self.run(["ip", "-n", full, "link", "set", "lo", "up"])
        return full
    }

    func destroy() {
        for namespace in namespaces.reversed() { _ = try? Self.run(["ip", "netns", "del", namespace]) }
        namespaces.removeAll()
    }

    /// Runs a command (bounded: a 20 s timeout) and returns its combined output; throws on a non-zero exit.
    @discardableResult
    static func run(_ command: [String], allowFailure: Bool = false) throws -> String {
        let result = try LabProcess.run(command, timeout: .seconds(20))
        let output = result.standardOutput + result.standardError
        if result.status != 0 && !allowFailure {
            throw CommandFailure(command: command, status: result.status, output: output)
        }
        return output
    }

    /// Runs `body` on a thread of its own that has entered `namespace` (setns moves only the calling thread;
    /// the thread ends with `body`, so no other code ever runs in the namespace by accident). Interface indexes
    /// and libbpf's netlink sockets are per namespace, so attach, query and detach must all happen in `body`.
    /// `withoutCapabilities` then empties the thread's effective capabilities (also per thread), to see what
    /// an unprivileged caller gets. Make assertions on the returned value, not inside `body` (it runs outside
    /// the test's task).
    static func inNamespace<T: Sendable>(_ namespace: String?, withoutCapabilities: Bool = false,
                                         _ body: @escaping @Sendable () throws -> T) throws -> T {
        try NetworkNamespace.run(in: namespace, dropping: withoutCapabilities ? .all : .none, body)
    }
}

/// A result handed from a helper thread to the waiting test: written before the semaphore is signalled, read
/// after the wait, so the semaphore orders the accesses.
final class ThreadOutcome<T>: @unchecked Sendable {
    var result: Result<T, any Error> = .failure(CancellationError())
}
