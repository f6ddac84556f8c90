#if canImport(Security)
import Foundation
import Security

/// The data folder's key in the Keychain: 32 random bytes made on first use,
/// readable only on this device while it is unlocked after first unlock
/// (so background sync works while the screen is locked).
public enum DatabaseKeychain {
    public static func key(account: String = "anpi-database") throws -> Data {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: "jp.anpi",
            kSecAttrAccount as String: account,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        if SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess, let data = item as? Data {
            return data
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes) == errSecSuccess else {
            throw NSError(domain: "jp.anpi", code: 1, userInfo: [NSLocalizedDescriptionKey: "no random bytes"])
        }
        let key = Data(bytes)
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: "jp.anpi",
            kSecAttrAccount as String: account,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecValueData as String: key,
        ]
        let status = SecItemAdd(add as CFDictionary, nil)
        guard status == errSecSuccess else {
            throw NSError(domain: "jp.anpi", code: Int(status), userInfo: [NSLocalizedDescriptionKey: "Keychain: \(status)"])
        }
        return key
    }
}
#endif
