import Foundation
import TakeoverLab

/// An SVG of one run: the client's UDP round trip over time (one dot per probe, lost probes as red ticks along the
/// top), with the failure, the standby's detection (first master advertisement), its first announcement and its
/// first answer marked.
enum FailoverPicture {
    static func svg(_ run: FailoverRunResult) -> String {
        let width = 960.0, height = 420.0, left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let points = run.samples ?? []
        // The window: 50 ms before the failure to 3× the first answer (at least 100 ms) after it.
        let end = max(100.0, 3 * Double(run.firstAnswer ?? run.udpGap) / 1e6, Double(run.udpGap) / 1e6 * 1.5)
        let start = -max(20.0, end * 0.15)
        let shown = points.filter { let t = Double($0.sent) / 1e6; return t >= start && t <= end }
        let maximum = max(1.0, (shown.compactMap(\.roundTrip).max().map { Double($0) / 1e6 } ?? 1) * 1.1)
        func x(_ ms: Double) -> Double { left + (ms - start) / (end - start) * (width - left - right) }
        func y(_ ms: Double) -> Double { height - bottom - ms / maximum * (height - top - bottom) }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="20" font-size="14">\(escape(run.system)) · \(run.failure) · client UDP round trip (probe every 1 ms); longest gap \(format(Double(run.udpGap) / 1e6)) ms</text>
            <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="black"/>
            <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="black"/>
            <text x="\((left + width) / 2)" y="\(height - 12)" text-anchor="middle">ms after the failure</text>
            <text x="16" y="\((top + height - bottom) / 2)" transform="rotate(-90 16 \((top + height - bottom) / 2))" text-anchor="middle">round trip (ms)</text>

            """
        for tick in ticks(from: start, to: end) {
            svg += "<line x1=\"\(x(tick))\" y1=\"\(height - bottom)\" x2=\"\(x(tick))\" y2=\"\(height - bottom + 5)\" stroke=\"black\"/>"
                + "<text x=\"\(x(tick))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(format(tick))</text>\n"
        }
        for tick in ticks(from: 0, to: maximum) {
            svg += "<line x1=\"\(left - 5)\" y1=\"\(y(tick))\" x2=\"\(left)\" y2=\"\(y(tick))\" stroke=\"black\"/>"
                + "<text x=\"\(left - 8)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(format(tick))</text>\n"
        }
        for point in shown {
            let t = Double(point.sent) / 1e6
            if let roundTrip = point.roundTrip {
                svg += "<circle cx=\"\(x(t))\" cy=\"\(y(Double(roundTrip) / 1e6))\" r=\"1.6\" fill=\"#1f5fbf\"/>\n"
            } else {
                svg += "<line x1=\"\(x(t))\" y1=\"\(top)\" x2=\"\(x(t))\" y2=\"\(top + 8)\" stroke=\"#d02020\"/>\n"
            }
        }
        let marks: [(String, UInt64?, String)] = [
            ("failure", 0, "#000000"), ("detection", run.detection, "#b06000"),
            ("first announcement", run.firstAnnouncement, "#008040"), ("first answer", run.firstAnswer, "#7020a0"),
        ]
        for (index, mark) in marks.enumerated() {
            guard let time = mark.1 else { continue }
            let position = x(Double(time) / 1e6)
            svg += "<line x1=\"\(position)\" y1=\"\(top)\" x2=\"\(position)\" y2=\"\(height - bottom)\" stroke=\"\(mark.2)\" stroke-dasharray=\"4 3\"/>"
                + "<text x=\"\(position + 3)\" y=\"\(top + 22 + Double(index) * 14)\" fill=\"\(mark.2)\">\(mark.0) \(format(Double(time) / 1e6)) ms</text>\n"
        }
        svg += "<text x=\"\(width - right)\" y=\"\(top - 6)\" text-anchor=\"end\" fill=\"#d02020\">red ticks: probes never answered</text>\n"
        return svg + "</svg>\n"
    }

    static func ticks(from start: Double, to end: Double) -> [Double] {
        let span = max(end - start, 1e-9)
        let raw = span / 8
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
        var values: [Double] = []
        var value = ceil(start / step) * step
        while value <= end && values.count < 20 {
            values.append(value)
            value += step
        }
        return values
    }

    static func format(_ value: Double) -> String {
        abs(value) >= 10 || value == value.rounded() ? String(format: "%.0f", value) : String(format: "%.2f", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
