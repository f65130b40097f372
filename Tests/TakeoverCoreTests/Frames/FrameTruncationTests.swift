import TakeoverCore
import Testing

/// Every prefix of every fixture frame, and every cut inside every IP packet with its length fields made to
/// agree, is either refused with the error of the layer it ends in or read as a consistent shorter frame.
/// Each prefix is parsed from an exact-size copy, so an out-of-bounds read traps the debug build.
@Suite struct FrameTruncationTests {
    @Test(arguments: try FrameFixtures.load())
    func everyPrefixThrowsTheLayerItEndsIn(_ vector: FrameVector) throws {
        let bytes = vector.bytes
        let expected = vector.expected
        let full = try parseOutcome(bytes).get()
        let networkOffset = expected.networkOffset

        // Where the network layer's fixed header ends, and where its own length field says it ends.
        let fixedEnd: Int
        let declaredEnd: Int
        let fixedLayer: FrameLayer
        let lengthError: FrameError?
        if let ip = expected.ip {
            declaredEnd = ip.transportOffset + ip.transportLength
            if ip.version == 4 {
                (fixedEnd, fixedLayer) = (networkOffset + 20, .ipv4)
                lengthError = .badIPv4TotalLength(UInt16(declaredEnd - networkOffset))
            } else {
                (fixedEnd, fixedLayer) = (networkOffset + 40, .ipv6)
                lengthError = .badIPv6PayloadLength(UInt16(declaredEnd - networkOffset - 40))
            }
        } else {
            (fixedEnd, declaredEnd, fixedLayer, lengthError) = (networkOffset + 28, networkOffset + 28, .arp, nil)
        }

        for cut in 0..<bytes.count {
            let outcome = parseOutcome(Array(bytes[..<cut]))
            let want: Result<ParsedFrame, FrameError> =
                if cut < 14 {
                    .failure(.truncated(.ethernet))
                } else if cut < networkOffset {
                    .failure(.truncated(.vlanTag))
                } else if cut < fixedEnd {
                    .failure(.truncated(fixedLayer))
                } else if cut < declaredEnd, let lengthError {
                    .failure(lengthError)
                } else {
                    // Only Ethernet padding is missing: the same frame.
                    .success(full)
                }
            #expect(outcome == want, "cut at \(cut) of \(bytes.count)")
        }
    }

    @Test(arguments: try FrameFixtures.load().filter { $0.expected.ip != nil })
    func everyCutInsideTheIPPacketIsRefusedByItsLayerOrReadShorter(_ vector: FrameVector) throws {
        let expected = vector.expected
        let ip = try #require(expected.ip)
        let full = try parseOutcome(vector.bytes).get()
        let networkOffset = expected.networkOffset
        let fixedEnd = networkOffset + (ip.version == 4 ? 20 : 40)
        let transportOffset = ip.transportOffset

        for end in fixedEnd..<(transportOffset + ip.transportLength) {
            var bytes = Array(vector.bytes[..<end])
            // Make the IP length agree with the cut, so the cut lands in the layers after it.
            let lengthField = ip.version == 4 ? end - networkOffset : end - networkOffset - 40
            bytes[networkOffset + (ip.version == 4 ? 2 : 4)] = UInt8(lengthField >> 8)
            bytes[networkOffset + (ip.version == 4 ? 3 : 5)] = UInt8(lengthField & 0xFF)
            let outcome = parseOutcome(bytes)
            let comment: Comment = "cut at \(end), \(end - transportOffset) bytes after the IP header"

            if end < transportOffset {
                // Inside IPv4 options or the IPv6 extension-header chain.
                if ip.version == 4 {
                    #expect(outcome == .failure(.badIPv4TotalLength(UInt16(lengthField))), comment)
                } else {
                    switch outcome {
                    case .failure(.truncated(.ipv6ExtensionHeader)), .failure(.badIPv6ExtensionHeaderLength(_)): break
                    default: Issue.record("\(outcome): \(comment)")
                    }
                }
                continue
            }
            let carried = end - transportOffset
            let shorter = full.withIP { $0.transportLength = UInt16(carried) }
            #expect(outcome == expectedInnerCut(of: vector, full: shorter, carried: carried, bytes: bytes), comment)
        }
    }

    /// What a cut `carried` bytes into the transport header must give, given the frame scapy described.
    private func expectedInnerCut(
        of vector: FrameVector, full: ParsedFrame, carried: Int, bytes: [UInt8]
    ) -> Result<ParsedFrame, FrameError> {
        let want = vector.expected.transport
        var shorter = full
        switch full.transport {
        case .unparsed:
            return .success(shorter)
        case .tcp(var tcp):
            let headerLength = Int(tcp.segment.payloadOffset) - vector.expected.ip!.transportOffset
            if carried < 20 { return .failure(.truncated(.tcp)) }
            if carried < headerLength { return .failure(.badTCPDataOffset(UInt8(headerLength / 4))) }
            tcp.segment.payloadLength = UInt32(carried - headerLength)
            shorter.transport = .tcp(tcp)
            return .success(shorter)
        case .udp(var udp):
            if carried < 8 { return .failure(.truncated(.udp)) }
            if vector.expected.ip!.isFragment {
                udp.payloadLength = UInt16(carried - 8)
                shorter.transport = .udp(udp)
                return .success(shorter)
            }
            if carried < 8 + want.payloadLength! {
                return .failure(.badUDPLength(UInt16(8 + want.payloadLength!)))
            }
            return .success(shorter)
        case .icmpEcho(var echo):
            if carried < 8 { return .failure(.truncated(.icmp)) }
            echo.dataLength = UInt16(carried - 8)
            shorter.transport = .icmpEcho(echo)
            return .success(shorter)
        case .icmp:
            return carried < 4 ? .failure(.truncated(.icmp)) : .success(shorter)
        case .neighborSolicitation(var nd), .neighborAdvertisement(var nd):
            if carried < 4 { return .failure(.truncated(.icmp)) }
            if carried < 24 { return .failure(.truncated(.neighborDiscovery)) }
            // The fixture's options are all one unit (8 bytes) long.
            let transportOffset = vector.expected.ip!.transportOffset
            let optionStart = 24 + (carried - 24) / 8 * 8
            switch (carried - 24) % 8 {
            case 0: break
            case 1: return .failure(.truncated(.neighborDiscovery))
            default: return .failure(.badNeighborDiscoveryOptionLength(type: bytes[transportOffset + optionStart]))
            }
            let wanted: UInt8 = want.kind == "neighbor_solicitation" ? 1 : 2
            let present = stride(from: 24, to: optionStart, by: 8).contains { bytes[transportOffset + $0] == wanted }
            if !present {
                nd.hasLinkLayerAddress = false
                nd.linkLayerAddress = .zero
            }
            shorter.transport =
                want.kind == "neighbor_solicitation" ? .neighborSolicitation(nd) : .neighborAdvertisement(nd)
            return .success(shorter)
        }
    }
}
