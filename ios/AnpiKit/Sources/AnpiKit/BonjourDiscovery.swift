#if canImport(Network)
import Foundation
import Network

/// Peer discovery on iOS. Raw mDNS multicast needs an Apple-granted
/// entitlement, so iOS finds peers through Bonjour instead: this advertises
/// the node's port as `_anpi._udp` with NWListener's service and browses
/// with NWBrowser, feeding each peer found into `Anpi.addPeer`. The app's
/// Info.plist needs NSLocalNetworkUsageDescription and NSBonjourServices
/// (`_anpi._udp`).
public final class BonjourDiscovery: @unchecked Sendable {
    private let anpi: Anpi
    private let queue = DispatchQueue(label: "jp.anpi.bonjour")
    private var browser: NWBrowser?
    private var advertiser: NWListener?

    public init(anpi: Anpi) {
        self.anpi = anpi
    }

    /// Advertise `port` (where `startSync` listens) and browse for peers.
    public func start(port: UInt16) throws {
        let params = NWParameters.udp
        params.includePeerToPeer = true
        // The listener only carries the Bonjour advertisement; the node's
        // own QUIC socket answers on `port`.
        let advertiser = try NWListener(using: params)
        advertiser.service = NWListener.Service(type: "_anpi._udp", txtRecord: portRecord(port))
        advertiser.newConnectionHandler = { $0.cancel() }
        advertiser.start(queue: queue)
        self.advertiser = advertiser

        let browser = NWBrowser(for: .bonjourWithTXTRecord(type: "_anpi._udp", domain: nil), using: params)
        browser.browseResultsChangedHandler = { [weak self] results, _ in
            for result in results { self?.resolve(result) }
        }
        browser.start(queue: queue)
        self.browser = browser
    }

    public func stop() {
        browser?.cancel()
        advertiser?.cancel()
        browser = nil
        advertiser = nil
    }

    private func portRecord(_ port: UInt16) -> NWTXTRecord {
        var txt = NWTXTRecord()
        txt["p"] = String(port)
        return txt
    }

    /// Resolve a result to an address by connecting briefly, then feed it.
    private func resolve(_ result: NWBrowser.Result) {
        guard case let .bonjour(txt) = result.metadata, let portText = txt["p"], let port = UInt16(portText) else {
            return
        }
        let connection = NWConnection(to: result.endpoint, using: .udp)
        connection.stateUpdateHandler = { [weak self] state in
            if case .ready = state,
               case let .hostPort(host, _)? = connection.currentPath?.remoteEndpoint {
                let address: String
                switch host {
                case let .ipv4(a): address = "\(a):\(port)"
                case let .ipv6(a): address = "[\(a)]:\(port)"
                default: address = "\(host):\(port)"
                }
                _ = try? self?.anpi.addPeer(address)
                connection.cancel()
            }
        }
        connection.start(queue: queue)
    }
}
#endif
