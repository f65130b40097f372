/// A parsed configuration document, independent of the file syntax: what the TOML parser produced, converted
/// at once into plain values so the readers below never touch the parser's types.
public indirect enum ConfigurationValue: Sendable {
    /// Keys in the order the parser gives them (TOMLKit: sorted).
    case table([(key: String, value: ConfigurationValue)])
    case array([ConfigurationValue])
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case float(Double)
    /// Dates and times: valid TOML, never valid here.
    case dateTime(String)

    /// How an error message names this value's type.
    public var typeName: String {
        switch self {
        case .table: "a table"
        case .array: "an array"
        case .string: "a string"
        case .integer: "an integer"
        case .boolean: "a boolean"
        case .float: "a floating-point number"
        case .dateTime: "a date or time"
        }
    }
}
