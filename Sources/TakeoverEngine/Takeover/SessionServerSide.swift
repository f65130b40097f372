public import TakeoverCore

extension Session {
    /// The side of this TCP session that is the server for `addresses` (a group's addresses as flow
    /// addresses): the side holding one of them — and, when the handshake showed who initiated, the
    /// responder. `nil` for UDP, and for a session whose server side is not one of `addresses` (a connection
    /// the peer itself opened to a client, or one whose initiator is the group address).
    public func serverSide(among addresses: Set<FlowAddress>) -> SessionSide? {
        guard isTCP else { return nil }
        if flags.contains(.initiatorKnown) {
            return addresses.contains(key.destination) ? .reply : nil
        }
        if addresses.contains(key.destination) { return .reply }
        if addresses.contains(key.source) { return .original }
        return nil
    }

    /// The address and port `side` sends from.
    public func endpointAddress(_ side: SessionSide) -> (address: FlowAddress, port: UInt16) {
        side == .original ? (key.source, key.sourcePort) : (key.destination, key.destinationPort)
    }
}
