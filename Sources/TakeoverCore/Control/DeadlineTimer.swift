/// What the controller's one-shot deadline timer should do when the detector's next deadline may have changed:
/// after every look, every accepted heartbeat, every report from the capture. Pure; the loop carries it out.
///
/// The rule: the timer is always armed for a moment at or before the next deadline, so the loop judges at the
/// exact deadline, never at the next periodic tick. A deadline that moved later needs no new arming (the timer
/// fires early, the look finds nothing and plans again); one that moved earlier — or any deadline while nothing
/// is armed, e.g. the first heartbeat after a long silence — is armed at once. A deadline already due is judged
/// at once. No deadline (the peer is failed and nothing was heard since) leaves the timer alone.
public struct DeadlineTimer: Sendable {
    public enum Action: Hashable, Sendable {
        /// Nothing to do.
        case keep
        /// Arm the one-shot timer for this moment.
        case arm(MonotonicTime)
        /// The deadline is due: look now.
        case judgeNow
    }

    /// The moment the timer is armed for; nil when it is not (never armed, or fired and read).
    public private(set) var armed: MonotonicTime?

    public init() {}

    /// The timer expired and the loop read it.
    public mutating func fired() { armed = nil }

    public mutating func plan(deadline: MonotonicTime?, now: MonotonicTime) -> Action {
        guard let deadline else { return .keep }
        if deadline <= now {
            armed = nil
            return .judgeNow
        }
        if let armed, armed <= deadline { return .keep }
        armed = deadline
        return .arm(deadline)
    }
}
