#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads a secret (the cluster's shared key) from a file that only its owner may read. The check is made on
/// the opened descriptor (`fstat`), so the file cannot be swapped between check and read, and a symbolic link
/// is refused outright (`O_NOFOLLOW`).
public enum SecretFile {
    public enum Error: Swift.Error, Equatable, Sendable, CustomStringConvertible {
        case cannotOpen(path: String, SystemCallError)
        case notARegularFile(path: String)
        /// Group or others have some access: the key may already be known to them.
        case accessibleByOthers(path: String, mode: UInt32)
        case tooLarge(path: String, size: Int)
        case cannotRead(path: String, SystemCallError)

        public var description: String {
            switch self {
            case .cannotOpen(let path, let error): "cannot open key file \(path): \(error)"
            case .notARegularFile(let path): "key file \(path) is not a regular file"
            case .accessibleByOthers(let path, let mode):
                "key file \(path) has mode \(String(mode & 0o777, radix: 8)); refusing to use a key that group or others can access (chmod 600 \(path))"
            case .tooLarge(let path, let size): "key file \(path) has \(size) bytes; a key file holds at most 4096"
            case .cannotRead(let path, let error): "cannot read key file \(path): \(error)"
            }
        }
    }

    public static let maximumSize = 4096

    public static func read(_ path: String) throws(Error) -> [UInt8] {
        let fd: Int32
        do {
            fd = try systemCall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        } catch {
            throw .cannotOpen(path: path, error)
        }
        defer { close(fd) }
        var status = stat()
        do {
            try systemCall("fstat") { fstat(fd, &status) }
        } catch {
            throw .cannotRead(path: path, error)
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
        guard status.st_mode & 0o077 == 0 else { throw .accessibleByOthers(path: path, mode: status.st_mode) }
        guard status.st_size <= maximumSize else { throw .tooLarge(path: path, size: Int(status.st_size)) }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var filled = 0
        while filled < bytes.count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemCallError) in
                    try systemCall("read") { Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled) }
                }
            }
            let count: Int
            switch result {
            case .success(let read): count = read
            case .failure(let error): throw .cannotRead(path: path, error)
            }
            if count == 0 { break }
            filled += count
        }
        return Array(bytes[..<filled])
    }
}
