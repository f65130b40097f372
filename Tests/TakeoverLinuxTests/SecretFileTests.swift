import Foundation
import Testing
import TakeoverLinux

@Suite struct SecretFileTests {
    func withTemporaryFile(mode: Int, contents: [UInt8], _ body: (String) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "takeover-key-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(contents)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        try body(path)
    }

    @Test func readsAnOwnerOnlyFile() throws {
        let key = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        for mode in [0o600, 0o400] {
            try withTemporaryFile(mode: mode, contents: key) { path in
                let read = try SecretFile.read(path)
                #expect(read == key)
            }
        }
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o602])
    func refusesFilesOthersCanAccess(mode: Int) throws {
        try withTemporaryFile(mode: mode, contents: Array(repeating: 1, count: 32)) { path in
            #expect(throws: SecretFile.Error.accessibleByOthers(path: path, mode: UInt32(0o100000 | mode))) {
                try SecretFile.read(path)
            }
            let error = try #require(readError(path))
            #expect(error.description.contains("chmod 600"), "the error says how to fix it")
        }
    }

    @Test func refusesSymbolicLinksAndMissingFiles() throws {
        try withTemporaryFile(mode: 0o600, contents: [1, 2, 3]) { path in
            let link = path + ".link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
            defer { try? FileManager.default.removeItem(atPath: link) }
            #expect(throws: SecretFile.Error.self) { try SecretFile.read(link) }
            if case .cannotOpen(_, let error)? = readError(link) {
                #expect(error.errno == ELOOP)
            } else {
                Issue.record("a symbolic link must fail at open with ELOOP")
            }
        }
        let missing = readError("/nonexistent/takeover.key")
        guard case .cannotOpen(let path, let error)? = missing else {
            Issue.record("expected cannotOpen, got \(String(describing: missing))")
            return
        }
        #expect(path == "/nonexistent/takeover.key" && error.errno == ENOENT)
    }

    func readError(_ path: String) -> SecretFile.Error? {
        do {
            _ = try SecretFile.read(path)
            return nil
        } catch {
            return error
        }
    }
}
