import Foundation
import TakeoverCore
import TakeoverEngine
import TakeoverLab

/// The repository root, from this file's path.
let repositoryRoot: String = {
    var path = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    path.removeLast(3)  // Tests/TakeoverCLITests/<file>
    return path.joined(separator: "/")
}()

/// The built `takeover` executable: next to the test bundle in the build directory — or $TAKEOVER_EXECUTABLE, so
/// the lab tests can run another build of it (scripts/build-static's stripped binaries).
let takeoverExecutable: String = {
    if let other = ProcessInfo.processInfo.environment["TAKEOVER_EXECUTABLE"] { return other }
    let testBinary =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("takeover").path
}()

struct CommandResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// Runs `executable` with `arguments`, bounded to 30 s (the lab's launcher: Foundation's Process.run crashes
/// intermittently on Linux).
func run(_ executable: String, _ arguments: [String]) throws -> CommandResult {
    let result = try LabProcess.run([executable] + arguments, timeout: .seconds(30))
    return CommandResult(status: result.status, standardOutput: result.standardOutput, standardError: result.standardError)
}

func takeover(_ arguments: String...) throws -> CommandResult { try run(takeoverExecutable, arguments) }

/// A directory under /tmp removed when the value goes away.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/takeover-cli-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: made)
    }

    func file(_ name: String, _ text: String, mode: mode_t = 0o644) throws -> String {
        let file = path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, mode)
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func mode(of path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

func exampleText(_ node: String) throws -> String {
    try String(contentsOfFile: "\(repositoryRoot)/examples/two-node/\(node).toml", encoding: .utf8)
}

/// Answers pass 2 as a machine set up exactly as the file says would.
struct MatchingEnvironment: ConfigurationEnvironment {
    var configuration: EngineConfiguration

    func interface(named name: String) -> Result<InterfaceFacts, EnvironmentProblem> {
        let own = configuration.interfaces.first { $0.name == name }
        let channelAddresses = configuration.heartbeat.channels.filter { $0.interface == name }.map(\.localAddress)
        guard own != nil || !channelAddresses.isEmpty else {
            return .failure(EnvironmentProblem("no interface \(name)"))
        }
        return .success(
            InterfaceFacts(
                mac: own?.mac ?? MACAddress(0x02, 0, 0, 0, 0, 0x99),
                addresses: (own?.addresses ?? []) + channelAddresses))
    }

    func keyFileProblem(at path: String) -> String? { nil }
    func executableProblem(at path: String) -> String? { nil }
    /// The CPUs the file names, or two.
    func allowedCPUs() -> [Int] { (configuration.heartbeat.cpus ?? [0, 1]).sorted() }
}
