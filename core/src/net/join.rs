//! Joining the office: a device fetches the spaces an admin added it to
//! (by the office's id, or by redeeming an invite) and remembers the office
//! so that later syncs find it. One place for every host.

use std::net::SocketAddr;

use super::{NetNode, SharedNode, SyncReport, with_node};
use crate::error::{Error, Result};
use crate::model::{DeviceId, Space};
use crate::node::OfficeLink;

/// How a device joins its office.
#[derive(Clone, Debug)]
pub enum JoinBy {
    /// At `address` (HOST:PORT), whose key must prove the id `office` the
    /// person typed.
    Office {
        /// HOST:PORT.
        address: String,
        /// The office's device id.
        office: DeviceId,
    },
    /// By redeeming an invite (its code or QR code).
    Invite(crate::invite::Code),
}

/// Join through the office: fetch the spaces over a one-off endpoint, then
/// remember the office (its address and id) and take on the person an
/// admin entered for this device. Returns the session's report and the
/// spaces this device now holds; [`Error::NotFound`] when the office added
/// it to none.
pub async fn join_office(node: SharedNode, by: JoinBy) -> Result<(SyncReport, Vec<Space>)> {
    let texts = match &by {
        JoinBy::Office { address, .. } => vec![address.clone()],
        JoinBy::Invite(invite) => invite.addresses.clone(),
    };
    let first = resolve(texts.first().map(String::as_str).unwrap_or_default()).await;
    let any = match &first {
        Ok(SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let net = NetNode::bind(node.clone(), any)?;
    let report = match &by {
        JoinBy::Office { office, .. } => match first {
            Ok(addr) => net.join(addr, office).await,
            Err(e) => Err(e),
        },
        JoinBy::Invite(invite) => net.join_invite(invite).await,
    };
    net.close().await;
    let report = report?;
    // The address that answered, as the person or the invite wrote it.
    let mut address = report.addr.to_string();
    for text in &texts {
        if resolve(text).await.is_ok_and(|a| a == report.addr) {
            address = text.clone();
            break;
        }
    }
    // The office's id: the one typed, or the key the invite's code
    // committed to (proven in the handshake).
    let link = OfficeLink {
        address,
        device: report.peer.clone(),
    };
    let spaces = with_node(&node, move |n| n.adopt_office(&link)).await?;
    Ok((report, spaces))
}

async fn resolve(text: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(text)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Error::invalid(format!("{text}: not an address (HOST:PORT)")))
}

impl NetNode {
    /// Join through the office at `addr` whose id the person typed: the
    /// office is trusted by that id alone, and every space it shares with
    /// this device (the office added it as a member) is taken.
    pub async fn join(&self, addr: SocketAddr, office: &DeviceId) -> Result<SyncReport> {
        let result = async {
            let conn = self.connect(addr, Some(office), true).await?;
            let report = self.initiate(conn, addr, true).await?;
            self.refresh_trust().await?;
            Ok(report)
        }
        .await;
        self.note_session(addr, &result).await;
        self.settle_later();
        result
    }

    /// Redeem `invite` at its office: this device presents the invite's
    /// proof in its certificate, the office adds it as a member, and every
    /// space it now belongs to is taken as in [`NetNode::join`]. Tries each
    /// address of the invite in turn.
    pub async fn join_invite(&self, invite: &crate::invite::Code) -> Result<SyncReport> {
        if invite.expired(crate::model::Timestamp::now()) {
            return Err(Error::invalid(format!(
                "this invite expired at {}; ask the office for a new one",
                invite.expires
            )));
        }
        let named = self
            .identity
            .with_name(&invite.redemption_name(&self.device))?;
        let mut last = Error::invalid("the invite names no address");
        for text in &invite.addresses {
            let Some(addr) = tokio::net::lookup_host(text.as_str())
                .await
                .ok()
                .and_then(|mut a| a.next())
            else {
                last = Error::network(format!("cannot resolve {text}"));
                continue;
            };
            let attempt = async {
                let office = super::tls::Expected::Office(std::sync::Arc::new(invite.clone()));
                let conn = self.connect_as(&named, addr, Some(office), true).await?;
                self.initiate(conn, addr, true).await
            };
            let result = attempt.await;
            self.note_session(addr, &result).await;
            match result {
                Ok(report) => {
                    self.refresh_trust().await?;
                    self.settle_later();
                    return Ok(report);
                }
                Err(e) => {
                    last = if e.to_string().contains("does not accept this device") {
                        Error::network(format!(
                            "{addr}: the office refused this invite (it was used already, has expired, or was made by another office)"
                        ))
                    } else {
                        e
                    }
                }
            }
        }
        Err(last)
    }
}
