/// Durations as the configuration file writes them: a decimal number and a unit, `"10ms"`, `"1.5s"`, `"250us"`.
/// Exact to the nanosecond (integer arithmetic throughout, no floating point).
public enum DurationText {
    /// Units, largest first: `format` picks the largest that divides the value exactly.
    static let units: [(name: String, nanoseconds: UInt64)] = [
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000),
        ("ns", 1),
    ]
    /// Accepted on input besides `units`.
    static let aliases: [String: UInt64] = ["µs": 1_000, "μs": 1_000, "min": 60_000_000_000]

    /// Durations longer than this are refused (and every limit in the configuration is far below it).
    static let maximumNanoseconds: UInt64 = 365 * 24 * 3_600_000_000_000

    public static func parse(_ text: String) -> Duration? {
        guard let first = text.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }),
            first != text.startIndex
        else { return nil }
        let number = text[..<first]
        let unitName = String(text[first...])
        guard let unit = units.first(where: { $0.name == unitName })?.nanoseconds ?? aliases[unitName] else {
            return nil
        }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty, parts[0].count <= 12, let whole = UInt64(parts[0]) else {
            return nil
        }
        let (wholeNanoseconds, overflow) = whole.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        var nanoseconds = wholeNanoseconds
        if parts.count == 2 {
            // A fraction must be non-empty and resolve to whole nanoseconds in this unit.
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, let digits = UInt64(fraction) else { return nil }
            var scale: UInt64 = 1
            for _ in 0..<fraction.count { scale *= 10 }
            let (scaled, overflow) = digits.multipliedReportingOverflow(by: unit)
            guard !overflow, scaled % scale == 0 else { return nil }
            nanoseconds += scaled / scale
        }
        guard nanoseconds <= maximumNanoseconds else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// The shortest exact text: `.milliseconds(1500)` is `"1500ms"`, `.seconds(60)` is `"1m"`, zero is `"0s"`.
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.wholeNanoseconds
        if nanoseconds == 0 { return "0s" }
        let unit = units.first { nanoseconds % $0.nanoseconds == 0 }!
        return "\(nanoseconds / unit.nanoseconds)\(unit.name)"
    }

    static let expectation = "a number and a unit (ns, us, ms, s, m, h), like \"10ms\" or \"1.5s\""
}
