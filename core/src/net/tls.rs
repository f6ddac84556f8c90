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

/// The application protocol; a peer offering another one is refused by
/// the handshake with "no application protocol".
pub const ALPN: &[u8] = b"anpi/1";

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

/// Asked, for a key that is not a member, whether the names its
/// certificate carries redeem a pending invite (see [`crate::invite`]).
#[derive(Clone)]
pub struct InviteCheck(pub Arc<InviteFn>);

/// Whether a device presenting these certificate names holds an invite.
pub type InviteFn = dyn Fn(&DeviceId, &[String]) -> bool + Send + Sync;

impl std::fmt::Debug for InviteCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteCheck")
    }
}

#[derive(Debug)]
struct PeerVerifier {
    /// For a server: a stranger holding a pending invite gets in.
    invites: Option<InviteCheck>,
    trust: Trust,
    /// For a client: the one device it means to reach, if it knows it.
    expected: Option<DeviceId>,
    /// For a client joining: the office is accepted by its typed id alone.
    pinned: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    fn accepts(&self, device: &DeviceId) -> bool {
        match &self.expected {
            Some(e) if e != device => false,
            Some(_) if self.pinned => true,
            _ => self.trust.accepts(device),
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
        check_peer(end_entity, &|d| self.accepts(d))?;
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
        check_peer(end_entity, &|d| {
            self.accepts(d)
                || self
                    .invites
                    .as_ref()
                    .is_some_and(|check| (check.0)(d, &crate::identity::names_of_cert(end_entity)))
        })?;
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

/// The server side: accepts clients whose key `trust` accepts, or that
/// redeem an invite `invites` admits.
pub fn server_config(
    identity: &Identity,
    trust: Trust,
    invites: Option<InviteCheck>,
) -> Result<rustls::ServerConfig> {
    let provider = provider();
    let verifier = Arc::new(PeerVerifier {
        invites,
        trust,
        expected: None,
        pinned: false,
        algorithms: provider.signature_verification_algorithms,
    });
    let (certs, key) = cert_and_key(identity);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The client side for one connection: the server must be `expected` (if
/// given) and accepted by `trust` — or only `expected`, when `pinned`
/// (joining through an office whose id the person typed).
pub fn client_config(
    identity: &Identity,
    trust: Trust,
    expected: Option<DeviceId>,
    pinned: bool,
    alpn: &[u8],
) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(PeerVerifier {
        invites: None,
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
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}
