import TOMLKit

/// Parses TOML text (TOML 1.0, by toml++ through TOMLKit) into a `ConfigurationValue` table.
enum TOMLDocument {
    static func parse(_ text: String) throws(ConfigurationErrors) -> ConfigurationValue {
        // TOMLKit hands the text to C as a NUL-terminated string: a NUL inside would silently end the file there.
        if text.utf8.contains(0) {
            throw ConfigurationErrors([ConfigurationProblem(nil, "the file contains a NUL byte; it is not TOML text")])
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let position = error.source.begin
            throw ConfigurationErrors([
                ConfigurationProblem(
                    nil, "not valid TOML at line \(position.line), column \(position.column): \(error.description)")
            ])
        } catch {
            throw ConfigurationErrors([ConfigurationProblem(nil, "not valid TOML: \(error)")])
        }
        return convert(table)
    }

    private static func convert(_ table: TOMLTable) -> ConfigurationValue {
        .table(zip(table.keys, table.values).map { (key: $0, value: convert($1)) })
    }

    private static func convert(_ value: any TOMLValueConvertible) -> ConfigurationValue {
        switch value.type {
        case .table: value.table.map(convert) ?? .table([])
        case .array: .array(value.array.map { $0.map(convert) } ?? [])
        case .string: .string(value.string ?? "")
        case .int: .integer(value.int ?? 0)
        case .double: .float(value.double ?? 0)
        case .bool: .boolean(value.bool ?? false)
        case .date, .time, .dateTime: .dateTime(String(describing: value))
        }
    }
}

/// How TOML spells keys and strings, for the printed configuration and for key paths in messages.
enum TOMLSyntax {
    /// A key as TOML writes it: bare when TOML allows it, else quoted.
    static func key(_ name: String) -> String {
        let bare =
            !name.isEmpty
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                    || $0 == "_"
            }
        return bare ? name : quoted(name)
    }

    /// A TOML basic string.
    static func quoted(_ value: String) -> String {
        var result = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
