import Foundation
import Logging
import Testing
@testable import TakeoverEngine

@Suite struct DaemonLogHandlerTests {
    @Test func linesCarryMillisecondsInStreamLogHandlersLayout() {
        var seconds = time_t(1_795_346_900)  // 2026-11-22T11:28:20Z
        var utc = tm()
        gmtime_r(&seconds, &utc)
        let line = DaemonLogHandler.line(
            time: utc, milliseconds: 7, level: .notice, label: "takeover", metadata: ["b": "2", "a": "1"],
            source: "TakeoverEngine", message: "node standby started")
        #expect(line == "2026-11-22T11:28:20.007+0000 notice takeover: a=1 b=2 [TakeoverEngine] node standby started\n")
        let bare = DaemonLogHandler.line(
            time: utc, milliseconds: 999, level: .warning, label: "", metadata: [:], source: "takeover", message: "x")
        #expect(bare == "2026-11-22T11:28:20.999+0000 warning: [takeover] x\n")
    }

    @Test func eachLineIsOneWriteToTheDescriptor() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        var handler = DaemonLogHandler(label: "takeover", fileDescriptor: ends[1])
        handler.logLevel = .info
        handler[metadataKey: "node"] = "standby"
        let logger = Logger(label: "takeover") { _ in handler }
        logger.debug("not at info")
        logger.notice("first")
        logger.info("second", metadata: ["group": "1"])
        close(ends[1])
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(ends[0], &buffer, buffer.count)
            guard count > 0 else { break }
            received.append(contentsOf: buffer[0..<count])
        }
        let lines = String(decoding: received, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first?.hasSuffix(" notice takeover: node=standby [TakeoverEngineTests] first") == true, "\(lines)")
        #expect(lines.last?.hasSuffix(" info takeover: group=1 node=standby [TakeoverEngineTests] second") == true, "\(lines)")
        // yyyy-mm-ddThh:mm:ss.mmm±hhmm
        #expect(lines.allSatisfy { $0.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} "#, options: .regularExpression) != nil })
    }
}
