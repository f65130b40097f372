public import TakeoverCore

/// Step 5 of taking over a group: what becomes of the peer's TCP sessions (`engine.tcp-policy`). Runs on the
/// controller thread inside `startServing`, after the group's addresses are answered for; it must return
/// quickly (long work on a thread of its own) and count and log every session it could not recover.
public protocol TCPRecovery: Sendable {
    /// `sessions`: the tracked TCP sessions whose server side is one of `addresses` (the group's addresses),
    /// as the standby's tracker holds them at the moment of takeover. `context` stamps sub-steps.
    func recover(_ sessions: [Session], addresses: [IPAddress], interface: String, context: FailoverActionContext)
}
