//! Mutual TLS 1.3 for QUIC where trust is a member list, not an authority:
//! each side proves its key in the handshake, and the other accepts it only
//! if the key's device id is a current member of a space they share (or the
//! office id the person joining typed). A refused key ends the handshake,
//! before any application data.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::error::{Error, Result};
use crate::identity::{Identity, device_of_cert};
use crate::model::DeviceId;

/// The application protocol this build prefers: the sync conversation
/// with changes packed by LZMA. A peer offering none of [`PROTOCOLS`] is
/// refused by the handshake with "no application protocol".
pub const ALPN: &[u8] = b"anpi/1.1";

/// The same conversation with changes packed by zlib, as builds before
/// `anpi/1.1` speak it: still spoken, so that phones not yet updated sync.
pub const ALPN_ZLIB: &[u8] = b"anpi/1";

/// What this build offers and accepts, preferred first.
pub const PROTOCOLS: &[&[u8]] = &[ALPN, ALPN_ZLIB];

/// How changes are packed on a connection that agreed on `protocol`.
pub fn packing(protocol: Option<&[u8]>) -> crate::sync::Packing {
    if protocol == Some(ALPN) {
        crate::sync::Packing::Lzma
    } else {
        crate::sync::Packing::Zlib
    }
}

/// The devices this node accepts, shared with the verifiers and refreshed
/// whenever membership may have changed (after every session).
#[derive(Clone, Debug, Default)]
pub struct Trust(Arc<RwLock<BTreeSet<DeviceId>>>);

impl Trust {
    /// Replace the accepted devices.
    pub fn set(&self, devices: BTreeSet<DeviceId>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = devices;
    }

    /// Whether `device` is accepted.
    pub fn accepts(&self, device: &DeviceId) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(device)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn refused(why: &str) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        Error::network(why.to_string()),
    ))))
}

/// Check a peer's certificate: the id of its key must be accepted.
fn check_peer(
    cert: &CertificateDer<'_>,
    accept: &dyn Fn(&DeviceId) -> bool,
) -> std::result::Result<(), rustls::Error> {
    let device = device_of_cert(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    if accept(&device) {
        Ok(())
    } else {
        Err(refused("device is not a member of a shared space"))
    }
}

/// Asked, at every handshake, whether a key may in: the node's current
/// membership (read again if another process changed it: a device revoked
/// while `serve` runs is refused at once), a pending invite the
/// certificate's names redeem (see [`crate::invite`]), or a membership
/// proof the certificate carries that this device can check itself (see
/// [`crate::membership::Proof`]).
#[derive(Clone)]
pub struct PeerCheck(pub Arc<PeerFn>);

/// Whether a device presenting this certificate is accepted.
pub type PeerFn = dyn Fn(&DeviceId, &CertificateDer<'_>) -> bool + Send + Sync;

impl std::fmt::Debug for PeerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerCheck")
    }
}

/// The one device a client means to reach.
#[derive(Clone, Debug)]
pub enum Expected {
    /// This device.
    Device(DeviceId),
    /// The office an invite's code was made by (it commits to the
    /// office's key id without naming it).
    Office(Arc<crate::invite::Code>),
}

impl Expected {
    /// Whether `device` is the one meant.
    pub fn is(&self, device: &DeviceId) -> bool {
        match self {
            Expected::Device(d) => d == device,
            Expected::Office(code) => code.is_office(device),
        }
    }
}

#[derive(Debug)]
struct PeerVerifier {
    /// Asked for every key; without it, `trust` alone decides.
    check: Option<PeerCheck>,
    trust: Trust,
    /// For a client: the one device it means to reach, if it knows it.
    expected: Option<Expected>,
    /// For a client joining: the office is accepted by its typed id alone.
    pinned: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    fn accepts(&self, device: &DeviceId, cert: &CertificateDer<'_>) -> bool {
        match &self.expected {
            Some(e) if !e.is(device) => false,
            Some(_) if self.pinned => true,
            _ => match &self.check {
                Some(check) => (check.0)(device, cert),
                None => self.trust.accepts(device),
            },
        }
    }

    fn signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        check_peer(end_entity, &|d| self.accepts(d, end_entity))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not spoken".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        check_peer(end_entity, &|d| self.accepts(d, end_entity))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not spoken".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn cert_and_key(identity: &Identity) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from(identity.cert_der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der().to_vec())),
    )
}

fn tls_error(e: impl std::fmt::Display) -> Error {
    Error::network(format!("TLS setup: {e}"))
}

/// The certificate a server presents, replaced when what it carries
/// changes (the device's membership proof, after it joins a space).
#[derive(Clone, Debug)]
pub struct ServerCert(Arc<RwLock<Arc<rustls::sign::CertifiedKey>>>);

impl ServerCert {
    /// The certificate of `identity`.
    pub fn new(identity: &Identity) -> Result<Self> {
        Ok(ServerCert(Arc::new(RwLock::new(certified(identity)?))))
    }

    /// Present `identity`'s certificate from the next handshake on.
    pub fn set(&self, identity: &Identity) -> Result<()> {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = certified(identity)?;
        Ok(())
    }
}

fn certified(identity: &Identity) -> Result<Arc<rustls::sign::CertifiedKey>> {
    let (certs, key) = cert_and_key(identity);
    let key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(tls_error)?;
    Ok(Arc::new(rustls::sign::CertifiedKey::new(certs, key)))
}

impl rustls::server::ResolvesServerCert for ServerCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The server side: presents `cert`; accepts clients `check` accepts (or,
/// without it, whose key `trust` accepts).
pub fn server_config(
    cert: ServerCert,
    trust: Trust,
    check: Option<PeerCheck>,
    protocols: &[&[u8]],
) -> Result<rustls::ServerConfig> {
    let provider = provider();
    let verifier = Arc::new(PeerVerifier {
        check,
        trust,
        expected: None,
        pinned: false,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(cert));
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    // No session is resumed (see `client_config`): a ticket would only
    // cost bytes, and radio time, in every handshake.
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The client side for one connection: the server must be `expected` (if
/// given) and accepted by `check` (or `trust`) — or only `expected`, when
/// `pinned` (joining through an office whose id the person typed).
pub fn client_config(
    identity: &Identity,
    trust: Trust,
    check: Option<PeerCheck>,
    expected: Option<Expected>,
    pinned: bool,
    protocols: &[&[u8]],
) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(PeerVerifier {
        check,
        trust,
        expected,
        pinned,
        algorithms: provider.signature_verification_algorithms,
    });
    let (certs, key) = cert_and_key(identity);
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(certs, key)
        .map_err(tls_error)?;
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    // Sessions are not resumed (every handshake checks the peer's key
    // against the membership of the moment): no ticket is kept.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}
