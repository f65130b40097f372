#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An error from a system call or C library function: which call, and the errno it left.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The outcome of a non-blocking call that may have nothing to do yet.
public enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

extension IOResult: Sendable where Value: Sendable {}

/// Every system call in this module goes through here: `EINTR` is retried, failure throws an error that
/// carries the call's name and errno. `body` returns the C convention: negative (usually -1) on failure.
@inline(__always) @discardableResult
public func systemCall<T: FixedWidthInteger>(_ name: @autoclosure () -> String, _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw SystemCallError(name(), errno: error)
    }
}

/// As `systemCall`, but `EAGAIN`/`EWOULDBLOCK` become `.wouldBlock` instead of an error.
@inline(__always)
public func nonBlockingSystemCall<T: FixedWidthInteger>(_ name: @autoclosure () -> String, _ body: () -> T) throws(SystemCallError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let error = Glibc.errno
        if error == EINTR { continue }
        if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
        throw SystemCallError(name(), errno: error)
    }
}

/// libbpf and libxdp return `-errno` rather than setting errno; this maps that convention.
@inline(__always) @discardableResult
public func negativeErrnoCall(_ name: @autoclosure () -> String, _ body: () -> Int32) throws(SystemCallError) -> Int32 {
    let result = body()
    if result < 0 { throw SystemCallError(name(), errno: -result) }
    return result
}
