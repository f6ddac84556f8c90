package jp.anpi.sample

import android.app.Application
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.ButtonDefaults
import androidx.compose.material3.Card
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import java.security.SecureRandom
import java.text.DateFormat
import java.util.Date
import jp.anpi.Anpi
import jp.anpi.android.LocalNetwork
import jp.anpi.ffi.AnpiEvent
import jp.anpi.ffi.Duplicate
import jp.anpi.ffi.PeerStatus
import jp.anpi.ffi.PriorityRow
import jp.anpi.ffi.RecipientDetail
import jp.anpi.ffi.ResultChoice
import jp.anpi.ffi.Standing
import jp.anpi.newCheck
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.launch

/**
 * The sample app: the priority list with reasons and the duplicate banner,
 * a recipient's 様式1 page with a large button per result and claims, and
 * nearby peers with the office's sync status.
 */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent { MaterialTheme { App() } }
    }
}

class AppModel(app: Application) : AndroidViewModel(app) {
    val rows = MutableStateFlow<List<PriorityRow>>(emptyList())
    val duplicates = MutableStateFlow<List<Duplicate>>(emptyList())
    val peers = MutableStateFlow<List<PeerStatus>>(emptyList())
    /** Data a newer anpi made is held here unread: the core's words for it. */
    val updateNotice = MutableStateFlow<String?>(null)
    val clockNotice = MutableStateFlow<String?>(null)
    val detail = MutableStateFlow<RecipientDetail?>(null)
    val choices = MutableStateFlow<List<ResultChoice>>(emptyList())
    private var anpi: Anpi? = null
    private var network: LocalNetwork? = null
    private var space = ""

    init {
        viewModelScope.launch {
            val anpi = Anpi.open(app.filesDir.resolve("anpi").path, databaseKey(app))
            this@AppModel.anpi = anpi
            space = anpi.spaces().firstOrNull()?.id ?: ""
            choices.value = anpi.node.checkResults()
            network = LocalNetwork(app, anpi).also {
                it.start(Anpi.syncConfig(mdns = true, interfaces = listOf("wlan0")))
            }
            refresh()
            anpi.events().collect { e ->
                when (e) {
                    is AnpiEvent.DataChanged, is AnpiEvent.Synced, is AnpiEvent.Status -> refresh()
                    is AnpiEvent.NeedsUpdate -> updateNotice.value = e.message
                    is AnpiEvent.ClockOff -> clockNotice.value = e.message
                    else -> peers.value = anpi.syncStatus()
                }
            }
        }
    }

    private suspend fun refresh() {
        val anpi = anpi ?: return
        if (space.isEmpty()) return
        rows.value = anpi.priorityList(space)
        duplicates.value = anpi.duplicates(space)
        peers.value = anpi.syncStatus()
        updateNotice.value = anpi.updateNotice()
        clockNotice.value = anpi.clockNotice()
        detail.value?.let { detail.value = anpi.recipient(space, it.recipient.id) }
    }

    fun open(id: String?) = viewModelScope.launch {
        detail.value = id?.let { anpi?.recipient(space, it) }
    }

    fun record(id: String, choice: ResultChoice) = viewModelScope.launch {
        anpi?.recordCheck(space, newCheck(id, choice.result))
    }

    fun claim(id: String, on: Boolean) = viewModelScope.launch {
        if (on) anpi?.claim(space, id) else anpi?.release(space, id)
        refresh()
    }

    override fun onCleared() {
        viewModelScope.launch { network?.stop() }
        anpi?.close()
    }
}

/**
 * The database key: 32 random bytes, kept encrypted under a key in the
 * Android Keystore (EncryptedSharedPreferences).
 */
private fun databaseKey(app: Application): ByteArray {
    val master = androidx.security.crypto.MasterKey.Builder(app)
        .setKeyScheme(androidx.security.crypto.MasterKey.KeyScheme.AES256_GCM).build()
    val prefs = androidx.security.crypto.EncryptedSharedPreferences.create(
        app, "anpi-key", master,
        androidx.security.crypto.EncryptedSharedPreferences.PrefKeyEncryptionScheme.AES256_SIV,
        androidx.security.crypto.EncryptedSharedPreferences.PrefValueEncryptionScheme.AES256_GCM,
    )
    prefs.getString("database", null)?.let { return android.util.Base64.decode(it, 0) }
    val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
    prefs.edit().putString("database", android.util.Base64.encodeToString(key, 0)).apply()
    return key
}

@Composable
fun App(model: AppModel = viewModel()) {
    val detail by model.detail.collectAsState()
    val d = detail
    if (d == null) PriorityList(model) else RecipientPage(model, d)
}

@Composable
fun PriorityList(model: AppModel) {
    val rows by model.rows.collectAsState()
    val duplicates by model.duplicates.collectAsState()
    val peers by model.peers.collectAsState()
    val updateNotice by model.updateNotice.collectAsState()
    val clockNotice by model.clockNotice.collectAsState()
    LazyColumn(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item { Text(stringResource(R.string.priority_title), style = MaterialTheme.typography.headlineSmall) }
        updateNotice?.let { notice ->
            item { Text("⚠ $notice", color = Color(0xFFB91C1C), style = MaterialTheme.typography.titleMedium) }
        }
        clockNotice?.let { notice ->
            item { Text("⚠ $notice", color = Color(0xFFB91C1C), style = MaterialTheme.typography.titleMedium) }
        }
        if (duplicates.isNotEmpty()) {
            item {
                Text(
                    stringResource(R.string.duplicate_banner, duplicates.size),
                    color = Color(0xFFB45309),
                    style = MaterialTheme.typography.titleMedium,
                )
            }
        }
        items(rows, key = { it.recipientId }) { row ->
            Card(Modifier.fillMaxWidth().clickable { model.open(row.recipientId) }) {
                Column(Modifier.padding(12.dp)) {
                    Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                        Text("${row.rank}.")
                        Text(row.name, style = MaterialTheme.typography.titleMedium)
                        Text(
                            row.statusLabel,
                            color = if (row.standing == Standing.SETTLED) Color(0xFF15803D) else Color(0xFFB91C1C),
                        )
                    }
                    Text(row.reasons.joinToString("・"), style = MaterialTheme.typography.bodySmall)
                    if (row.timeLeft.isNotEmpty()) {
                        Text(
                            row.timeLeft,
                            color = if (row.deadlineNear) Color(0xFFB91C1C) else Color.Unspecified,
                            style = MaterialTheme.typography.titleSmall,
                        )
                    }
                    row.claims.forEach { Text("→ ${it.staff}（${it.organisation}）", style = MaterialTheme.typography.bodySmall) }
                    if (row.duplicate) Text(stringResource(R.string.duplicate_mark), color = Color(0xFFB45309))
                }
            }
        }
        item { Peers(peers) }
    }
}

@Composable
fun Peers(peers: List<PeerStatus>) {
    Column {
        Text(stringResource(R.string.peers_title), style = MaterialTheme.typography.titleMedium)
        peers.forEach { p ->
            val name = if (p.office) "${stringResource(R.string.office)} ${p.address}" else p.address
            val last = p.lastSyncMs?.let { stringResource(R.string.last_sync, DateFormat.getTimeInstance().format(Date(it))) }
                ?: stringResource(R.string.never_synced)
            Text("$name — $last — ${stringResource(R.string.pending, p.pendingChanges.toInt())}")
            p.lastError?.let { Text(it, color = Color(0xFFB91C1C), style = MaterialTheme.typography.bodySmall) }
        }
    }
}

@Composable
fun RecipientPage(model: AppModel, d: RecipientDetail) {
    val choices by model.choices.collectAsState()
    val r = d.recipient
    LazyColumn(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            OutlinedButton(onClick = { model.open(null) }) { Text(stringResource(R.string.back)) }
            Text(r.name, style = MaterialTheme.typography.headlineMedium)
            Text("${r.address}　${r.phone}")
            Text(stringResource(R.string.plan_title), style = MaterialTheme.typography.titleMedium)
            Text("想定避難所: ${r.plan.shelter}")
            Text("避難手段: ${r.plan.means}")
            Text("避難支援者: ${r.plan.supporter}（${r.plan.supporterRelation}）")
            Text("医療機器: ${r.plan.medicalDevices.joinToString("・")}")
            Text("緊急連絡先: ${r.plan.emergencyContacts.joinToString(" / ")}")
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = { model.claim(r.id, true) }) { Text(stringResource(R.string.claim)) }
                OutlinedButton(onClick = { model.claim(r.id, false) }) { Text(stringResource(R.string.release)) }
            }
            d.claims.forEach { Text("→ ${it.staff}（${it.organisation}）") }
            Text(stringResource(R.string.record_title), style = MaterialTheme.typography.titleMedium)
        }
        items(choices, key = { it.code }) { c ->
            Button(
                onClick = { model.record(r.id, c) },
                modifier = Modifier.fillMaxWidth().height(64.dp),
                colors = if (c.conclusive) ButtonDefaults.buttonColors() else ButtonDefaults.filledTonalButtonColors(),
            ) { Text(c.label, style = MaterialTheme.typography.titleLarge) }
        }
        item { Text(stringResource(R.string.history_title), style = MaterialTheme.typography.titleMedium) }
        items(d.history, key = { it.check.id }) { h ->
            Text("${h.check.resultLabel} — ${h.check.staff}（${h.check.organisation}）${h.check.methodLabel}")
        }
    }
}
