package jp.anpi.android

import android.content.Context
import android.net.wifi.WifiManager
import jp.anpi.Anpi
import jp.anpi.ffi.SyncConfig

/**
 * Background sync on Android. Android drops multicast packets unless an
 * app holds a Wi-Fi MulticastLock, so mDNS discovery only works while one is
 * held: this takes it when sync starts with mDNS and lets it go when sync
 * stops (holding it costs battery). Needs the permissions
 * CHANGE_WIFI_MULTICAST_STATE, ACCESS_WIFI_STATE and INTERNET.
 */
class LocalNetwork(context: Context, private val anpi: Anpi) {
    private val wifi = context.applicationContext.getSystemService(Context.WIFI_SERVICE) as WifiManager
    private var lock: WifiManager.MulticastLock? = null

    /** Start sync; mDNS (if [config] asks for it) under a MulticastLock. */
    suspend fun start(config: SyncConfig): String {
        if (config.mdns) {
            lock = wifi.createMulticastLock("anpi-discovery").apply {
                setReferenceCounted(false)
                acquire()
            }
        }
        return try {
            anpi.startSync(config)
        } catch (e: Exception) {
            release()
            throw e
        }
    }

    /** Stop sync and release the lock. */
    suspend fun stop() {
        try {
            anpi.stopSync()
        } finally {
            release()
        }
    }

    private fun release() {
        lock?.takeIf { it.isHeld }?.release()
        lock = null
    }
}
