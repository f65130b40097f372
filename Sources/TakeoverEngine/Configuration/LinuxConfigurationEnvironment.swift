import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Pass 2 against this machine: interfaces over rtnetlink (in the caller's network namespace), the key file
/// through `SecretFile` (the daemon's own reader, so the check cannot disagree with it), hooks with `stat`, CPUs
/// with `sched_getaffinity` (the calling thread's: a daemon started under another affinity, a systemd
/// `CPUAffinity=` say, may be allowed others).
public final class LinuxConfigurationEnvironment: ConfigurationEnvironment, Sendable {
    private let netlink: Result<RouteNetlinkSocket, RouteNetlinkError>

    public init() {
        netlink = Result { () throws(RouteNetlinkError) in try RouteNetlinkSocket() }
    }

    public func interface(named name: String) -> Result<InterfaceFacts, EnvironmentProblem> {
        let socket: RouteNetlinkSocket
        switch netlink {
        case .success(let opened): socket = opened
        case .failure(let error): return .failure(EnvironmentProblem("cannot look up \(name): \(error)"))
        }
        do {
            let link = try socket.link(named: name)
            let addresses = try socket.addresses(interfaceIndex: link.index).map(\.address)
            let mac = link.hardwareType == LinkInfo.ethernetHardwareType ? link.hardwareAddress : nil
            return .success(InterfaceFacts(mac: mac, addresses: addresses))
        } catch .interfaceNotFound {
            return .failure(EnvironmentProblem("no network interface named \"\(name)\" on this machine"))
        } catch {
            return .failure(EnvironmentProblem("cannot look up \(name): \(error)"))
        }
    }

    public func keyFileProblem(at path: String) -> String? {
        let key: [UInt8]
        do {
            key = try SecretFile.read(path)
        } catch {
            return error.description
        }
        guard key.count >= HMACAuthenticator.minimumKeyLength else {
            return "key file \(path) holds \(key.count) bytes; at least \(HMACAuthenticator.minimumKeyLength) are needed"
                + " (takeover keygen writes 32)"
        }
        return nil
    }

    public func allowedCPUs() -> [Int] { LoopThread.allowedCPUs() }

    public func executableProblem(at path: String) -> String? {
        var status = stat()
        do {
            try systemCall("stat(\(path))") { stat(path, &status) }
        } catch {
            // A command line in `path` is the likeliest mistake: hooks never go through a shell.
            let hint = path.contains(" " as Character) ? " (path names one executable; put its arguments in arguments = [...])" : ""
            return "\(path) cannot be used as a hook: \(error)\(hint)"
        }
        guard status.st_mode & S_IFMT == S_IFREG else { return "\(path) is not a regular file" }
        guard status.st_mode & 0o111 != 0, access(path, X_OK) == 0 else { return "\(path) is not executable" }
        // The daemon runs hooks as root: a hook others can rewrite is a way in.
        guard status.st_mode & 0o022 == 0 else {
            let mode = String(status.st_mode & 0o777, radix: 8)
            return "\(path) is writable by group or others (mode \(mode)); the daemon runs hooks as root"
        }
        return nil
    }
}

/// Reads the configuration file as UTF-8 text.
enum ConfigurationFile {
    /// Configuration files are small; a bigger file is a mistake (a log, a binary), not a configuration.
    static let maximumSize = 1 << 20

    struct ReadError: Error, CustomStringConvertible {
        var description: String
    }

    static func read(_ path: String) throws(ReadError) -> String {
        let fd: Int32
        do {
            fd = try systemCall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            throw ReadError(description: "cannot read configuration file \(path): \(error)")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count: Int
            do {
                count = try chunk.withUnsafeMutableBytes { buffer throws(SystemCallError) in
                    try systemCall("read(\(path))") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
                }
            } catch {
                throw ReadError(description: "cannot read configuration file \(path): \(error)")
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= maximumSize else {
                throw ReadError(description: "configuration file \(path) is larger than \(maximumSize) bytes")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ReadError(description: "configuration file \(path) is not UTF-8 text")
        }
        return text
    }
}
