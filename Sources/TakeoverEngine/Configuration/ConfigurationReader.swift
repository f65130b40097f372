import TakeoverCore

/// A value and the index it had in its array, so cross-checks can name `groups[1].addresses[0]` after invalid
/// siblings were dropped.
struct Indexed<Value> {
    var index: Int
    var value: Value
}

/// Reads one table of the document: refuses keys it does not know, and reports every missing or malformed
/// value to the shared `ProblemLog` instead of stopping at the first.
struct TableReader {
    let path: ConfigurationKeyPath
    private let entries: [(key: String, value: ConfigurationValue)]
    private let log: ProblemLog

    /// nil (and a problem reported) when `value` is not a table. Unknown keys are reported here, once.
    init?(_ value: ConfigurationValue, at path: ConfigurationKeyPath, knownKeys: [String], log: ProblemLog) {
        guard case .table(let entries) = value else {
            log.report(path, "expected a table, found \(value.typeName)")
            return nil
        }
        self.path = path
        self.entries = entries
        self.log = log
        for entry in entries where !knownKeys.contains(entry.key) {
            var message = "unknown key"
            if let suggestion = Self.closest(to: entry.key, among: knownKeys) {
                message += " (did you mean \(suggestion)?)"
            }
            message += "; known keys here: " + knownKeys.joined(separator: ", ")
            log.report(path + entry.key, message)
        }
    }

    /// A table that may be absent: an absent one reads as empty, so every key takes its default.
    static func section(_ key: String, in parent: TableReader, knownKeys: [String]) -> TableReader? {
        TableReader(parent.raw(key) ?? .table([]), at: parent.path + key, knownKeys: knownKeys, log: parent.log)
    }

    func raw(_ key: String) -> ConfigurationValue? { entries.first { $0.key == key }?.value }

    /// The value of a required key, decoded; nil (reported) when missing or invalid.
    func required<Value>(_ key: String, _ decode: (ConfigurationValue, ConfigurationKeyPath, ProblemLog) -> Value?)
        -> Value?
    {
        guard let value = raw(key) else {
            log.report(path + key, "missing; this key is required")
            return nil
        }
        return decode(value, path + key, log)
    }

    /// The value of an optional key, decoded, or `fallback` when the key is absent; nil (reported) when invalid.
    func optional<Value>(
        _ key: String, default fallback: Value,
        _ decode: (ConfigurationValue, ConfigurationKeyPath, ProblemLog) -> Value?
    ) -> Value? {
        guard let value = raw(key) else { return fallback }
        return decode(value, path + key, log)
    }

    /// An optional key with no default: `.some(nil)` when absent, nil when present but invalid.
    func optionalWithoutDefault<Value>(
        _ key: String, _ decode: (ConfigurationValue, ConfigurationKeyPath, ProblemLog) -> Value?
    ) -> Value?? {
        guard let value = raw(key) else { return .some(nil) }
        return decode(value, path + key, log).map { .some($0) }
    }

    /// The suggestion for a misspelt key: a known key within two edits.
    static func closest(to key: String, among known: [String]) -> String? {
        known.map { ($0, editDistance(key, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Decoders for single values: each returns nil after reporting why the value is unusable.
enum Decode {
    static func string(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> String? {
        guard case .string(let text) = value else { return typeMismatch("a string", value, path, log) }
        return text
    }

    static func boolean(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> Bool? {
        guard case .boolean(let flag) = value else {
            return typeMismatch("a boolean (true or false)", value, path, log)
        }
        return flag
    }

    static func integer(in range: ClosedRange<Int>) -> (ConfigurationValue, ConfigurationKeyPath, ProblemLog) -> Int? {
        { value, path, log in
            guard case .integer(let number) = value else { return typeMismatch("an integer", value, path, log) }
            guard range.contains(number) else {
                log.report(path, "\(number) is out of range (\(range.lowerBound)–\(range.upperBound))")
                return nil
            }
            return number
        }
    }

    static func typeMismatch<Value>(
        _ expected: String, _ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog
    ) -> Value? {
        log.report(path, "expected \(expected), found \(value.typeName)")
        return nil
    }

    /// One of a fixed set of words.
    static func choice<Choice: RawRepresentable & CaseIterable>(
        _: Choice.Type
    ) -> (ConfigurationValue, ConfigurationKeyPath, ProblemLog) -> Choice? where Choice.RawValue == String {
        { value, path, log in
            guard let text = string(value, path, log) else { return nil }
            guard let choice = Choice(rawValue: text) else {
                let choices = Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                log.report(path, "\"\(text)\" is not one of \(choices)")
                return nil
            }
            return choice
        }
    }

    static func duration(in range: ClosedRange<Duration>) -> (ConfigurationValue, ConfigurationKeyPath, ProblemLog) ->
        Duration?
    {
        { value, path, log in
            if case .integer(let number) = value {
                // The likeliest slip: a bare number. Say what to write instead.
                log.report(
                    path,
                    "expected a duration string (\(DurationText.expectation)), found an integer"
                        + " (write \"\(number)ms\" or another unit)")
                return nil
            }
            guard case .string(let text) = value else {
                return typeMismatch("a duration string (\(DurationText.expectation))", value, path, log)
            }
            guard let duration = DurationText.parse(text) else {
                log.report(path, "\"\(text)\" is not a duration; expected \(DurationText.expectation)")
                return nil
            }
            if duration < range.lowerBound {
                log.report(
                    path,
                    "\(DurationText.format(duration)) is below the minimum \(DurationText.format(range.lowerBound))")
                return nil
            }
            if duration > range.upperBound {
                log.report(
                    path,
                    "\(DurationText.format(duration)) is above the maximum \(DurationText.format(range.upperBound))")
                return nil
            }
            return duration
        }
    }

    static func mac(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> MACAddress? {
        guard let text = string(value, path, log) else { return nil }
        guard let mac = MACAddress(text) else {
            log.report(path, "\"\(text)\" is not a MAC address; expected six hex pairs like \"02:00:5e:00:53:01\"")
            return nil
        }
        if mac.isMulticast || mac == .zero {
            let kind = mac == .zero ? "zero" : mac.isBroadcast ? "broadcast" : "multicast"
            log.report(path, "\(mac) is a \(kind) address; a node's MAC is a unicast address")
            return nil
        }
        return mac
    }

    /// A host address written without a prefix length.
    static func address(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> IPAddress? {
        guard let text = string(value, path, log) else { return nil }
        if text.contains("/" as Character) {
            log.report(path, "\"\(text)\": write this address without a prefix length")
            return nil
        }
        guard let address = IPAddress(text) else {
            log.report(path, "\"\(text)\" is not an IPv4 or IPv6 address")
            return nil
        }
        if let problem = unusableHostAddress(address) {
            log.report(path, "\(address) \(problem)")
            return nil
        }
        return address
    }

    /// An address with its prefix length: `192.0.2.10/24`, `2001:db8::10/64`.
    static func interfaceAddress(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog)
        -> InterfaceAddress?
    {
        guard let text = string(value, path, log) else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            log.report(path, "\"\(text)\" needs a prefix length, like \"192.0.2.10/24\" or \"2001:db8::10/64\"")
            return nil
        }
        guard let address = IPAddress(parts[0]) else {
            log.report(path, "\"\(parts[0])\" is not an IPv4 or IPv6 address")
            return nil
        }
        let maximum = if case .v4 = address { 32 } else { 128 }
        guard let length = Int(parts[1]), (1...maximum).contains(length) else {
            log.report(path, "prefix length \"\(parts[1])\" is out of range for \(address) (1–\(maximum))")
            return nil
        }
        if let problem = unusableHostAddress(address) {
            log.report(path, "\(address) \(problem)")
            return nil
        }
        return InterfaceAddress(address: address, prefixLength: UInt8(length))
    }

    /// Why `address` cannot be a node's or a service's address, if it cannot.
    private static func unusableHostAddress(_ address: IPAddress) -> String? {
        switch address {
        case .v4(let v4):
            if v4 == .any { return "is the unspecified address" }
            if v4 == .broadcast { return "is the broadcast address" }
            if v4.rawValue >> 28 == 0xE { return "is a multicast address" }
            if v4.rawValue >> 24 == 127 { return "is a loopback address" }
        case .v6(let v6):
            if v6 == .any { return "is the unspecified address" }
            if v6.high >> 56 == 0xFF { return "is a multicast address" }
            if v6 == IPv6Address(high: 0, low: 1) { return "is the loopback address" }
        }
        return nil
    }

    /// An absolute file path.
    static func absolutePath(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> String? {
        guard let text = string(value, path, log) else { return nil }
        guard text.hasPrefix("/") else {
            log.report(path, "\"\(text)\" is not an absolute path")
            return nil
        }
        return text
    }

    /// An array whose elements decode one by one; invalid elements are reported and left out.
    static func array<Element>(
        minimumCount: Int = 0, maximumCount: Int = .max,
        _ element: @escaping (ConfigurationValue, ConfigurationKeyPath, ProblemLog) -> Element?
    ) -> (ConfigurationValue, ConfigurationKeyPath, ProblemLog) -> [Indexed<Element>]? {
        { value, path, log in
            guard case .array(let values) = value else { return typeMismatch("an array", value, path, log) }
            if values.count < minimumCount {
                log.report(path, minimumCount == 1 ? "must not be empty" : "needs at least \(minimumCount) entries")
            }
            if values.count > maximumCount {
                log.report(path, "has \(values.count) entries; at most \(maximumCount) are allowed")
            }
            return values.enumerated().compactMap { index, value in
                element(value, path + index, log).map { Indexed(index: index, value: $0) }
            }
        }
    }
}
