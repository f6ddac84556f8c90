//! 端末: the space's members and their last sync with this office; adding a
//! device by its id, an invite shown as a QR code, revoking a lost phone.
//! Who may do which is the core's rule (admins only): a refusal comes back
//! as its error.

use anpi_core::model::{DeviceId, Staff};

use super::*;

/// `GET /devices`.
pub(crate) async fn devices(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let invite_address = d.invite_address.clone();
    let result = d
        .with_node(&cur, move |n, space| {
            let now = Timestamp::now();
            let name = space_name(n, space)?;
            let statuses = n.peer_statuses()?;
            let exchanged = n.last_exchanges()?;
            let versions = n.device_versions()?;
            let clocks = n.peer_clocks()?;
            let me = n.device().clone();
            let organisation = n.staff().organisation.clone();
            let members = n
                .members(space)?
                .into_iter()
                .map(|(m, standing)| {
                    let status = status_of(&statuses, &m.device);
                    MemberRow {
                        id: m.device.0.clone(),
                        readable: m.device.readable(),
                        name: m.staff.name.clone(),
                        organisation: m.staff.organisation.clone(),
                        role: m.role.label(l.0),
                        standing: standing_label(l, standing),
                        active: standing == MemberStanding::Active,
                        this_office: m.device == me,
                        last_sync: exchanged
                            .get(&m.device)
                            .map(|t| l.ago(*t, now))
                            .unwrap_or_default(),
                        pending: status.map(|p| p.pending_changes).unwrap_or(0),
                        error: status
                            .and_then(|p| p.last_error.clone())
                            .unwrap_or_default(),
                        version: anpi_core::node::version_label(versions.get(&m.device), l.0),
                        clock: clocks
                            .get(&m.device)
                            .map(|p| anpi_core::clock::peer_label(p, l.0))
                            .unwrap_or_default(),
                        clock_off: clocks
                            .get(&m.device)
                            .is_some_and(anpi_core::clock::PeerClock::is_off),
                    }
                })
                .collect();
            Ok(DevicesPage {
                c: Chrome::new(l, l.t("端末", "Devices"), name, "/devices"),
                clock_notice: clock_notice(n, l)?,
                devices_off_notice: devices_off_notice(n, space, l)?,
                members,
                roles: role_choices(l),
                organisation,
                invite_address,
                office_id: me.readable(),
            })
        })
        .await;
    respond(cur, result)
}

pub(super) fn role_choices(l: L) -> Vec<Choice> {
    Role::ALL
        .iter()
        .map(|r| (r.code(), r.label(l.0), *r == Role::CareManager))
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct CarrierForm {
    csrf: String,
    staff: String,
    #[serde(default)]
    organisation: String,
    role: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    valid_hours: Option<i64>,
}

fn carrier(f: &CarrierForm) -> anpi_core::Result<(Staff, Role)> {
    Ok((
        Staff {
            name: f.staff.trim().to_string(),
            organisation: f.organisation.trim().to_string(),
            id: None,
        },
        f.role.parse()?,
    ))
}

/// `POST /devices/add`: a device by the id its carrier reads out.
pub(crate) async fn add(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<CarrierForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let result = d
        .with_node(&cur, move |n, space| {
            let device = DeviceId::parse(f.device.trim())?;
            let (staff, role) = carrier(&f)?;
            n.add_member(space, &device, staff, role).map(|_| ())
        })
        .await;
    changed(&d, cur, result, "/devices")
}

/// `POST /devices/invite`: an invite, shown once as its code and QR code
/// for the phone to scan.
pub(crate) async fn invite(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<CarrierForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| {
            let name = space_name(n, space)?;
            let (staff, role) = carrier(&f)?;
            let hours = f.valid_hours.unwrap_or(24);
            if !(1..=24 * 14).contains(&hours) {
                return Err(Error::Invalid(
                    "有効期間は1時間から14日の間にしてください".into(),
                ));
            }
            let address = f.address.trim().to_string();
            if address.is_empty() {
                return Err(Error::Invalid(
                    "事務所のアドレス（HOST:PORT、端末から届くもの）を入力してください".into(),
                ));
            }
            let expires = Timestamp::now().plus_minutes(hours * 60);
            let invite = n.create_invite(space, staff.clone(), role, vec![address], expires)?;
            let code = invite.encode();
            Ok(InvitePage {
                c: Chrome::new(l, l.t("招待", "Invite"), name, "/devices").answer(),
                qr: qr_svg(&code)?,
                code,
                staff: staff.name,
                organisation: staff.organisation,
                role: role.label(l.0),
                expires: when(expires),
            })
        })
        .await;
    if result.is_ok() {
        d.changed_here();
    }
    respond(cur, result)
}

/// The code as an SVG QR code (black on white, the standard quiet zone),
/// inline in the page: no image file, nothing fetched.
fn qr_svg(code: &str) -> anpi_core::Result<String> {
    let qr = qrcode::QrCode::new(code.as_bytes())
        .map_err(|e| Error::Invalid(format!("QR code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(280, 280)
        .quiet_zone(true)
        .build();
    // An XML declaration has no place inside HTML.
    Ok(match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => svg,
    })
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    csrf: String,
    device: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /devices/revoke`: a lost phone, after the person confirmed it.
pub(crate) async fn revoke(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<RevokeForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    if f.confirm.is_none() {
        return unconfirmed(
            cur,
            ("失効させていません", "Not revoked"),
            ("この端末を失効させる", "revoke this device"),
        );
    }
    let result = d
        .with_node(&cur, move |n, space| {
            let device = DeviceId::parse(f.device.trim())?;
            n.revoke_member(space, &device).map(|_| ())
        })
        .await;
    changed(&d, cur, result, "/devices")
}
