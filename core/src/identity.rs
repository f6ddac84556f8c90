//! A device's identity: an ECDSA P-256 key pair and a self-signed
//! certificate, made on first open and kept in the device's store. The
//! device id is derived from the public key, so a peer's id is proven by the
//! TLS handshake itself: nobody can claim an id without the private key.

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::DeviceId;

/// Bytes of the public key's SHA-256 kept in the device id (128 bits).
const ID_BYTES: usize = 16;

/// This device's key pair and certificate.
#[derive(Clone, Serialize, Deserialize)]
pub struct Identity {
    /// The private key, PKCS#8 DER.
    key: Vec<u8>,
    /// The self-signed certificate, DER.
    cert: Vec<u8>,
}

impl Drop for Identity {
    fn drop(&mut self) {
        // The private key does not outlive its holder in memory (rcgen's
        // and ring's own copies, made per use, are theirs to wipe).
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("Identity")
            .field("device", &self.device().ok())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new key pair and its certificate.
    pub fn generate() -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| Error::invalid(format!("cannot make a key pair: {e}")))?;
        // The certificate carries no name: peers trust the key, checked
        // against their member lists, not a name or an authority.
        let params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| Error::invalid(format!("certificate parameters: {e}")))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::invalid(format!("cannot sign the certificate: {e}")))?;
        Ok(Identity {
            key: key.serialize_der(),
            cert: cert.der().to_vec(),
        })
    }

    /// The same key with a certificate that also carries `name` (a DNS
    /// name): how a device presents an invite's proof.
    pub fn with_name(&self, name: &str) -> Result<Self> {
        let params = CertificateParams::new(vec![name.to_string()])
            .map_err(|e| Error::invalid(format!("certificate name {name:?}: {e}")))?;
        self.reissued(params)
    }

    /// The same key with a certificate naming `names` (DNS names or IP
    /// addresses): how the office's dashboard presents itself over TLS.
    pub fn with_names(&self, names: &[String]) -> Result<Self> {
        let params = CertificateParams::new(names.to_vec())
            .map_err(|e| Error::invalid(format!("certificate names {names:?}: {e}")))?;
        self.reissued(params)
    }

    /// The certificate's SHA-256 fingerprint as browsers show it
    /// (`AB:CD:…`): what staff compare before trusting the dashboard.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.cert);
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The same key with a new certificate made from `params`.
    fn reissued(&self, params: CertificateParams) -> Result<Self> {
        let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(self.key.as_slice());
        let key =
            KeyPair::try_from(&pkcs8).map_err(|e| Error::corrupt(format!("device key: {e}")))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::invalid(format!("cannot sign the certificate: {e}")))?;
        Ok(Identity {
            key: self.key.clone(),
            cert: cert.der().to_vec(),
        })
    }

    /// The same key with a certificate that also carries `proof` (see
    /// [`crate::membership::Proof`]) in an extension of its own: how a
    /// device shows a peer that has not heard of it yet that it belongs.
    pub fn with_proof(&self, proof: &[u8]) -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| Error::invalid(format!("certificate parameters: {e}")))?;
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                PROOF_OID,
                proof.to_vec(),
            ));
        self.reissued(params)
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an identity always serializes")
    }

    /// From the stored form.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let id: Identity = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(format!("device identity: {e}")))?;
        id.device()?;
        Ok(id)
    }

    /// The device id this identity proves.
    pub fn device(&self) -> Result<DeviceId> {
        device_of_cert(&self.cert)
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert
    }

    /// The private key, PKCS#8 DER.
    pub fn key_der(&self) -> &[u8] {
        &self.key
    }

    /// The public key as an uncompressed P-256 point (65 bytes): what a
    /// signed statement carries so that anyone can check it.
    pub fn public_key(&self) -> Result<Vec<u8>> {
        let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(self.key.as_slice());
        let key =
            KeyPair::try_from(&pkcs8).map_err(|e| Error::corrupt(format!("device key: {e}")))?;
        Ok(key.public_key_raw().to_vec())
    }

    /// Sign `message` with this device's key (ECDSA P-256, SHA-256, fixed
    /// 64-byte signature).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &self.key,
            &rng,
        )
        .map_err(|e| Error::corrupt(format!("device key: {e}")))?;
        key.sign(&rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::invalid("signing failed"))
    }
}

/// The DER prefix of a P-256 SubjectPublicKeyInfo (ecPublicKey, prime256v1,
/// a 66-byte bit string) before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The device id of a raw P-256 public key (as [`Identity::public_key`]
/// gives it): the same id its certificate proves.
pub fn device_of_public_key(raw: &[u8]) -> DeviceId {
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(raw);
    device_of_spki(&spki)
}

/// Whether `signature` is `public_key`'s signature of `message`.
///
/// A device judges the same member statements and seals at every session
/// (every statement of a space, each time): signatures found good are
/// remembered by the SHA-256 of what was verified, which costs a hundredth
/// of verifying again. Only good ones, and at most [`VERIFIED_MAX`]: a
/// flood of junk is verified (and refused) each time, never kept.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [public_key, message, signature] {
        hash.update(&(part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    let mut seen = [0u8; 32];
    seen.copy_from_slice(hash.finish().as_ref());
    if VERIFIED.lock().is_ok_and(|v| v.contains(&seen)) {
        return true;
    }
    let good = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        public_key,
    )
    .verify(message, signature)
    .is_ok();
    if good && let Ok(mut v) = VERIFIED.lock() {
        if v.len() >= VERIFIED_MAX {
            v.clear();
        }
        v.insert(seen);
    }
    good
}

/// How many good signatures [`verify`] remembers (32 bytes each).
const VERIFIED_MAX: usize = 16_384;

static VERIFIED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>> =
    std::sync::LazyLock::new(Default::default);

/// The device id of the key in a certificate: the first 128 bits of the
/// SHA-256 of its SubjectPublicKeyInfo, as 32 hex digits.
pub fn device_of_cert(cert: &[u8]) -> Result<DeviceId> {
    let der = CertificateDer::from(cert);
    let parsed = rustls::server::ParsedCertificate::try_from(&der)
        .map_err(|e| Error::invalid(format!("not a certificate: {e}")))?;
    Ok(device_of_spki(parsed.subject_public_key_info().as_ref()))
}

/// The object identifier of the membership-proof extension: an arc under
/// 2.25 (UUID-based identifiers), so it names nothing of anyone else's.
const PROOF_OID: &[u64] = &[2, 25, 0x616e_7069_6d65_6d62];

/// The membership proof a certificate carries, if any (a peer's bytes:
/// read with bounds, `None` for anything unexpected).
pub fn proof_of_cert(cert: &[u8]) -> Option<Vec<u8>> {
    let oid = oid_der(PROOF_OID);
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { … }, … }
    let (tag, cert, _) = der::tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _) = der::tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    // The extensions are the [3] EXPLICIT field of the TBSCertificate.
    while !tbs.is_empty() {
        let (tag, value, rest) = der::tlv(tbs)?;
        tbs = rest;
        if tag != 0xa3 {
            continue;
        }
        let (tag, mut exts, _) = der::tlv(value)?;
        if tag != 0x30 {
            return None;
        }
        while !exts.is_empty() {
            let (tag, ext, rest) = der::tlv(exts)?;
            exts = rest;
            if tag != 0x30 {
                return None;
            }
            let (tag, id, mut fields) = der::tlv(ext)?;
            if tag != 0x06 || id != oid.as_slice() {
                continue;
            }
            while !fields.is_empty() {
                let (tag, value, rest) = der::tlv(fields)?;
                fields = rest;
                if tag == 0x04 {
                    return Some(value.to_vec());
                }
            }
        }
    }
    None
}

/// The DER content octets of an object identifier.
fn oid_der(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |mut n: u64| {
        let mut bytes = vec![(n & 0x7f) as u8];
        n >>= 7;
        while n > 0 {
            bytes.push(0x80 | (n & 0x7f) as u8);
            n >>= 7;
        }
        bytes.reverse();
        out.extend(bytes);
    };
    push(arcs[0] * 40 + arcs[1]);
    for arc in &arcs[2..] {
        push(*arc);
    }
    out
}

/// Reading DER tag-length-value triples, bounded: enough to find one
/// extension in a certificate a peer sent.
mod der {
    /// The first TLV of `bytes`: its tag, its value, and what follows.
    pub fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = bytes.split_first()?;
        if tag & 0x1f == 0x1f {
            // Multi-byte tags do not occur in certificates.
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }
}

/// The DNS names a certificate carries.
pub fn names_of_cert(cert: &[u8]) -> Vec<String> {
    let der = CertificateDer::from(cert);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(c) => c.valid_dns_names().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

fn device_of_spki(spki: &[u8]) -> DeviceId {
    let hash = ring::digest::digest(&ring::digest::SHA256, spki);
    DeviceId(data_encoding::HEXLOWER.encode(&hash.as_ref()[..ID_BYTES]))
}

/// The device id of a key pair (for checking a certificate against its key).
pub fn device_of_key(key_der: &[u8]) -> Result<DeviceId> {
    let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(key_der);
    let key = KeyPair::try_from(&pkcs8).map_err(|e| Error::corrupt(format!("device key: {e}")))?;
    Ok(device_of_spki(&key.subject_public_key_info()))
}

impl DeviceId {
    /// The id as people read it aloud or compare it on two screens: groups
    /// of four digits.
    pub fn readable(&self) -> String {
        self.0
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Parse an id as typed: with or without the dashes of
    /// [`DeviceId::readable`], any case.
    pub fn parse(text: &str) -> Result<Self> {
        let hex: String = text
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if hex.len() != ID_BYTES * 2 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!(
                "{text:?} is not a device id (32 hex digits, as `anpi device id` prints)"
            )));
        }
        Ok(DeviceId(hex))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_the_key_not_the_certificate() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        assert_ne!(a.device().unwrap(), b.device().unwrap());
        assert_eq!(a.device().unwrap(), device_of_key(a.key_der()).unwrap());
        let again = Identity::decode(&a.encode()).unwrap();
        assert_eq!(again.device().unwrap(), a.device().unwrap());
        assert_eq!(a.device().unwrap().as_str().len(), 32);
    }

    #[test]
    fn signatures_verify_with_the_key_the_id_names() {
        let a = Identity::generate().unwrap();
        let raw = a.public_key().unwrap();
        assert_eq!(device_of_public_key(&raw), a.device().unwrap());
        let sig = a.sign(b"member R1").unwrap();
        assert!(verify(&raw, b"member R1", &sig));
        assert!(!verify(&raw, b"member R2", &sig));
        let b = Identity::generate().unwrap();
        assert!(!verify(&b.public_key().unwrap(), b"member R1", &sig));
    }

    #[test]
    fn a_named_certificate_keeps_the_device_id() {
        let a = Identity::generate().unwrap();
        let named = a.with_name("0123-abcd.invite.anpi").unwrap();
        assert_eq!(named.device().unwrap(), a.device().unwrap());
        assert_eq!(names_of_cert(named.cert_der()), ["0123-abcd.invite.anpi"]);
        assert!(names_of_cert(a.cert_der()).is_empty());
    }

    #[test]
    fn a_certificate_carries_a_proof_and_keeps_the_device_id() {
        let a = Identity::generate().unwrap();
        let with = a.with_proof(b"membership proof bytes").unwrap();
        assert_eq!(with.device().unwrap(), a.device().unwrap());
        assert_eq!(
            proof_of_cert(with.cert_der()).as_deref(),
            Some(&b"membership proof bytes"[..])
        );
        assert_eq!(proof_of_cert(a.cert_der()), None);
        // Garbage and truncations never panic.
        let cert = with.cert_der();
        for cut in 0..cert.len() {
            let _ = proof_of_cert(&cert[..cut]);
        }
        assert_eq!(proof_of_cert(b"\x30\x84\xff\xff\xff\xff"), None);
    }

    #[test]
    fn ids_parse_as_people_type_them() {
        let id = Identity::generate().unwrap().device().unwrap();
        assert_eq!(DeviceId::parse(&id.readable()).unwrap(), id);
        assert_eq!(DeviceId::parse(&id.readable().to_uppercase()).unwrap(), id);
        assert!(DeviceId::parse("1234").is_err());
        assert!(DeviceId::parse(&"g".repeat(32)).is_err());
    }
}
