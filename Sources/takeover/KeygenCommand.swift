import ArgumentParser
import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `takeover keygen`: makes the cluster's shared heartbeat key.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new random heartbeat key (32 bytes, mode 0600).",
        discussion: """
            The bytes come from the kernel's random generator (getrandom(2)). The file is created owner-only and \
            never overwritten. Copy it to the peer (same path in both configurations: heartbeat.key-file).
            """)

    @Option(
        name: [.short, .long], help: ArgumentHelp("Where to write the key; must not exist yet.", valueName: "file"))
    var output: String

    func run() throws {
        try KeyFileWriter.write(KeyFileWriter.randomKey(), to: output)
        print("wrote a \(KeyFileWriter.keyLength)-byte key to \(output) (mode 0600)")
    }
}

enum KeyFileWriter {
    static let keyLength = 32

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `keyLength` bytes from the kernel's generator: the standard library's `SystemRandomNumberGenerator` is
    /// getrandom(2) on Linux (glibc's module map does not export getrandom to Swift), and it blocks until the
    /// kernel's pool is initialised rather than hand out weak bytes early in boot.
    static func randomKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var key: [UInt8] = []
        key.reserveCapacity(keyLength)
        while key.count < keyLength {
            withUnsafeBytes(of: generator.next() as UInt64) { key += $0 }
        }
        return key
    }

    /// Creates `path` (refusing an existing file or a symbolic link), mode 0600 whatever the umask, and writes
    /// `key`. A partly written file is removed.
    static func write(_ key: [UInt8], to path: String) throws(Failure) {
        let fd: Int32
        do {
            fd = try systemCall("open(\(path))") {
                open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
        } catch  where error.errno == EEXIST {
            throw Failure(
                description: "\(path) exists; refusing to overwrite a key (remove it first if you mean to replace it)")
        } catch {
            throw Failure(description: "cannot create \(path): \(error)")
        }
        do {
            try systemCall("fchmod(\(path))") { fchmod(fd, 0o600) }
            var written = 0
            while written < key.count {
                written += try key.withUnsafeBytes { buffer throws(SystemCallError) in
                    try systemCall("write(\(path))") {
                        Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                    }
                }
            }
            try systemCall("fsync(\(path))") { fsync(fd) }
            close(fd)
        } catch {
            close(fd)
            unlink(path)
            throw Failure(description: "cannot write \(path): \(error)")
        }
    }
}
