import SwiftUI
import AnpiFFI
import AnpiKit

/// The sample app: the priority list with reasons, a recipient's 様式1 page,
/// recording a check with a large button per result, claims, the duplicate
/// banner, nearby peers and office sync status.
@main
struct AnpiSampleApp: App {
    @StateObject private var model = AppModel()

    var body: some Scene {
        WindowGroup {
            NavigationStack {
                PriorityListView()
                    .toolbar {
                        NavigationLink(destination: PeersView()) { Image(systemName: "antenna.radiowaves.left.and.right") }
                    }
            }
            .environmentObject(model)
            .task { await model.start() }
        }
    }
}

/// What the screens show, refreshed on every DataChanged event.
@MainActor
final class AppModel: ObservableObject {
    @Published var rows: [PriorityRow] = []
    @Published var duplicates: [Duplicate] = []
    @Published var peers: [PeerStatus] = []
    /// Data a newer anpi made is held here unread: the core's words for it.
    @Published var updateNotice: String?
    @Published var clockNotice: String?
    @Published var error: String?
    private(set) var anpi: Anpi?
    private(set) var space: String = ""
    private var discovery: BonjourDiscovery?

    func start() async {
        do {
            let folder = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
                .appendingPathComponent("anpi").path
            let anpi = try await Anpi.open(folder: folder, databaseKey: try DatabaseKeychain.key())
            self.anpi = anpi
            space = try await anpi.spaces().first?.id ?? ""
            let listening = try await anpi.startSync()
            if let port = listening.split(separator: ":").last.flatMap({ UInt16($0) }) {
                let discovery = BonjourDiscovery(anpi: anpi)
                try discovery.start(port: port)
                self.discovery = discovery
            }
            await refresh()
            for await event in anpi.events() {
                switch event {
                case .dataChanged, .synced, .status: await refresh()
                case .needsUpdate(let message): updateNotice = message
                case .clockOff(let message): clockNotice = message
                default: peers = (try? anpi.syncStatus()) ?? peers
                }
            }
        } catch {
            self.error = "\(error)"
        }
    }

    func refresh() async {
        guard let anpi, !space.isEmpty else { return }
        rows = (try? await anpi.priorityList(space: space)) ?? rows
        duplicates = (try? await anpi.duplicates(space: space)) ?? duplicates
        peers = (try? anpi.syncStatus()) ?? peers
        updateNotice = (try? await anpi.updateNotice()) ?? updateNotice
        clockNotice = try? await anpi.clockNotice()
    }
}

struct PriorityListView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        List {
            if let notice = model.updateNotice {
                Label(notice, systemImage: "arrow.down.circle.fill").foregroundStyle(.red)
            }
            if let notice = model.clockNotice {
                Label(notice, systemImage: "clock.badge.exclamationmark").foregroundStyle(.red)
            }
            if !model.duplicates.isEmpty {
                Label(NSLocalizedString("duplicate.banner", comment: "") + " (\(model.duplicates.count))",
                      systemImage: "exclamationmark.triangle.fill")
                    .foregroundStyle(.orange)
            }
            ForEach(model.rows, id: \.recipientId) { row in
                NavigationLink(destination: RecipientView(recipientId: row.recipientId)) {
                    VStack(alignment: .leading, spacing: 4) {
                        HStack {
                            Text("\(row.rank).").monospacedDigit()
                            Text(row.name).font(.headline)
                            Spacer()
                            Text(row.statusLabel).foregroundStyle(row.standing == .settled ? .green : .red)
                        }
                        Text(row.reasons.joined(separator: "・")).font(.caption)
                        if !row.timeLeft.isEmpty {
                            Text(row.timeLeft).font(.subheadline.bold())
                                .foregroundStyle(row.deadlineNear ? .red : .primary)
                        }
                        if !row.claims.isEmpty {
                            Text("→ " + row.claims.map(\.staff).joined(separator: ", ")).font(.caption2)
                        }
                        if row.duplicate {
                            Text(NSLocalizedString("duplicate.banner", comment: "")).font(.caption2).foregroundStyle(.orange)
                        }
                    }
                }
            }
        }
        .navigationTitle(NSLocalizedString("priority.title", comment: ""))
    }
}

struct RecipientView: View {
    @EnvironmentObject var model: AppModel
    let recipientId: String
    @State private var detail: RecipientDetail?

    var body: some View {
        ScrollView {
            if let d = detail, let anpi = model.anpi {
                VStack(alignment: .leading, spacing: 12) {
                    Text(d.recipient.name).font(.largeTitle)
                    Text(d.recipient.address)
                    Text(NSLocalizedString("recipient.plan", comment: "")).font(.headline)
                    Group {
                        Text("想定避難所: \(d.recipient.plan.shelter)")
                        Text("避難手段: \(d.recipient.plan.means)")
                        Text("避難支援者: \(d.recipient.plan.supporter)")
                        Text("医療機器: \(d.recipient.plan.medicalDevices.joined(separator: "・"))")
                        Text("緊急連絡先: \(d.recipient.plan.emergencyContacts.joined(separator: " / "))")
                    }
                    HStack {
                        Button(NSLocalizedString("claim.onTheWay", comment: "")) {
                            Task { _ = try? await anpi.claim(space: model.space, recipient: recipientId); await load() }
                        }
                        Button(NSLocalizedString("claim.release", comment: "")) {
                            Task { _ = try? await anpi.release(space: model.space, recipient: recipientId); await load() }
                        }
                    }
                    Text(NSLocalizedString("check.record", comment: "")).font(.headline)
                    ForEach(anpi.node.checkResults(), id: \.code) { choice in
                        Button {
                            Task {
                                _ = try? await anpi.recordCheck(space: model.space, newCheck(recipientId, choice.result))
                                await load()
                            }
                        } label: {
                            Text(choice.label).font(.title2).frame(maxWidth: .infinity, minHeight: 56)
                        }
                        .buttonStyle(.borderedProminent)
                        .tint(choice.conclusive ? .blue : .gray)
                    }
                    Text(NSLocalizedString("recipient.history", comment: "")).font(.headline)
                    ForEach(d.history, id: \.check.id) { line in
                        Text("\(line.check.resultLabel) — \(line.check.staff)（\(line.check.organisation)）")
                    }
                }
                .padding()
            }
        }
        .task { await load() }
    }

    func load() async {
        detail = try? await model.anpi?.recipient(space: model.space, id: recipientId)
    }
}

struct PeersView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        List(model.peers, id: \.address) { peer in
            VStack(alignment: .leading) {
                Text(peer.office ? "事務所 \(peer.address)" : peer.address).font(.headline)
                if let ms = peer.lastSyncMs {
                    Text(NSLocalizedString("peers.lastSync", comment: "") + ": "
                         + Date(timeIntervalSince1970: Double(ms) / 1000).formatted())
                } else {
                    Text(NSLocalizedString("peers.never", comment: ""))
                }
                Text(NSLocalizedString("peers.pending", comment: "") + ": \(peer.pendingChanges)")
                if let e = peer.lastError { Text(e).font(.caption).foregroundStyle(.red) }
            }
        }
        .navigationTitle(NSLocalizedString("peers.title", comment: ""))
    }
}
