import Foundation
import TakeoverEngine
import TakeoverLinux
import Testing

@testable import takeover

@Suite("takeover keygen")
struct KeygenCommandTests {
    @Test("writes 32 random bytes, mode 0600 whatever the umask, that the daemon's key reader accepts")
    func writesKey() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/key"
        let saved = umask(0)
        defer { umask(saved) }
        try KeyFileWriter.write(KeyFileWriter.randomKey(), to: path)
        #expect(try mode(of: path) == 0o600)
        let key = try SecretFile.read(path)
        #expect(key.count == 32)
        _ = try HMACAuthenticator(key: key)
    }

    @Test("two keys differ")
    func keysDiffer() {
        // Equal 256-bit keys from a working generator: probability 2^-256.
        #expect(KeyFileWriter.randomKey() != KeyFileWriter.randomKey())
        #expect(KeyFileWriter.randomKey().count == 32)
    }

    @Test("the binary refuses to overwrite a file or follow a symbolic link, and leaves both alone")
    func refusesOverwrite() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/key"
        let first = try takeover("keygen", "--output", path)
        #expect(first.status == 0)
        #expect(first.standardOutput == "wrote a 32-byte key to \(path) (mode 0600)\n")
        #expect(try mode(of: path) == 0o600)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(original.count == 32)

        let second = try takeover("keygen", "--output", path)
        #expect(second.status == 1)
        #expect(second.standardError.contains("\(path) exists; refusing to overwrite a key"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)

        let target = try scratch.file("target", "do not touch")
        let link = scratch.path + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(try takeover("keygen", "--output", link).status == 1)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "do not touch")

        let missingDirectory = try takeover("keygen", "--output", scratch.path + "/no/such/dir/key")
        #expect(missingDirectory.status == 1)
        #expect(missingDirectory.standardError.contains("cannot create \(scratch.path)/no/such/dir/key"))
    }
}
