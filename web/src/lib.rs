//! The office dashboard: the merged picture in a browser, served by the
//! office's own node (`anpi serve --http`). Server-rendered pages over the
//! core — the board, the priority list, a recipient's page, duplicates —
//! kept live by Server-Sent Events: when a sync lands or someone records a
//! check, every open page fetches itself again and swaps its main part in,
//! keeping the person's filters, page and scroll position.
//!
//! No rule lives here: every number and list comes from the same core call
//! the CLI and the phones make. Every asset is inside the binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anpi_core::access::Person;
use anpi_core::model::{RecipientId, SpaceId, Timestamp};
use anpi_core::net::SharedNode;
use anpi_core::node::Node;
use anpi_core::views::Board;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, watch};

mod live;
mod pages;
mod session;
mod tls;
mod view;

pub use session::Session;

/// What the dashboard serves from: the office's node and the space shown.
pub struct Dashboard {
    node: SharedNode,
    space: SpaceId,
    /// Told after a change made here, so that the sync loop passes it on.
    local_changes: Arc<Notify>,
    /// Moves whenever the data may have changed: open pages refresh.
    version: watch::Sender<u64>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Recipient links are opaque (no 利用者ID in a URL): a keyed hash of
    /// the id, and the id it stands for, for each link made so far.
    handles: Mutex<HashMap<String, RecipientId>>,
    link_key: ring::hmac::Key,
    /// Where phones reach this office (an invite's address), when the
    /// sync node listens on one address; empty when it listens on all.
    invite_address: String,
    /// Who may reach it: beyond this PC, it is served over TLS (session
    /// cookies are then `Secure`) and every page but the login page needs
    /// a personal login.
    reach: Reach,
    /// The brake on guessing passwords.
    throttle: Mutex<anpi_core::access::LoginThrottle>,
    /// The shown incident's data as last read, with the store's document
    /// versions it was read at: pages read it again only when a document
    /// moved (reading 50,000 recipients and their checks is most of a
    /// page's time).
    shown: Mutex<Option<ShownData>>,
}

struct ShownData {
    versions: std::collections::HashMap<anpi_core::doc::DocKey, u64>,
    data: Arc<anpi_core::node::IncidentData>,
    /// The board of `data`, and the minute it stands at.
    board: Option<(i64, Arc<Option<Board>>)>,
}

/// Who may reach the dashboard, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Only this PC (loopback), plain HTTP: whoever sits at the office PC
    /// acts as the office device's person; no login.
    ThisPc,
    /// Other PCs of the office network: TLS with the device's certificate,
    /// and a personal login for everything but the login page.
    Network,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Dashboard {
    /// A dashboard over `node`, showing `space`. `local_changes` is the
    /// sync loop's (`net::serve::Options::local_changes`); `sync_at` where
    /// the sync node listens (an invite's default address, unless it
    /// listens on every address).
    pub fn new(
        node: SharedNode,
        space: SpaceId,
        local_changes: Arc<Notify>,
        sync_at: SocketAddr,
        reach: Reach,
    ) -> Arc<Self> {
        let rng = ring::rand::SystemRandom::new();
        let link_key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .expect("the system's random source works");
        Arc::new(Dashboard {
            node,
            space,
            local_changes,
            version: watch::channel(0).0,
            sessions: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            link_key,
            invite_address: if sync_at.ip().is_unspecified() {
                String::new()
            } else {
                sync_at.to_string()
            },
            reach,
            throttle: Mutex::new(Default::default()),
            shown: Mutex::new(None),
        })
    }

    /// Whether every page but the login page needs a personal login.
    fn logins_required(&self) -> bool {
        self.reach == Reach::Network
    }

    /// Data changed (a sync landed, another process wrote): open pages
    /// refresh.
    pub fn data_changed(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// A change was made through the dashboard: peers hear of it, pages
    /// refresh.
    fn changed_here(&self) {
        self.local_changes.notify_one();
        self.data_changed();
    }

    /// The data of the incident a page shows (`Node::shown_incident_data`),
    /// read again only when the store's documents moved since the last
    /// read, and then keeping the recipients if only the incident moved.
    fn shown_data(
        &self,
        n: &Node,
        space: &SpaceId,
    ) -> anpi_core::Result<Arc<anpi_core::node::IncidentData>> {
        let versions = n.store().doc_versions()?;
        let kept = {
            let mut shown = lock(&self.shown);
            if let Some(s) = shown.as_ref()
                && s.versions == versions
            {
                return Ok(s.data.clone());
            }
            // The old checks go before the new are read: at 50,000 they
            // are tens of megabytes, twice over at the peak otherwise.
            shown.take().map(|s| s.data.kept_recipients())
        };
        let data = Arc::new(n.shown_incident_data_after(space, kept)?);
        *lock(&self.shown) = Some(ShownData {
            versions,
            data: data.clone(),
            board: None,
        });
        Ok(data)
    }

    /// The shown incident's data and its board as they stand this minute
    /// (`IncidentData::board`): computed once per data version and minute,
    /// however many pages ask. The board's figures move with the clock
    /// (phases turn, hours pass), not faster than by the minute.
    fn shown_board(
        &self,
        n: &Node,
        space: &SpaceId,
        now: Timestamp,
    ) -> anpi_core::Result<(Arc<anpi_core::node::IncidentData>, Arc<Option<Board>>)> {
        let data = self.shown_data(n, space)?;
        let minute = now.0.timestamp().div_euclid(60);
        if let Some(s) = lock(&self.shown).as_ref()
            && Arc::ptr_eq(&s.data, &data)
            && let Some((at, board)) = &s.board
            && *at == minute
        {
            return Ok((data, board.clone()));
        }
        let board = Arc::new(data.board(now));
        if let Some(s) = lock(&self.shown).as_mut()
            && Arc::ptr_eq(&s.data, &data)
        {
            s.board = Some((minute, board.clone()));
        }
        Ok((data, board))
    }

    /// Bring the shown data and board up to date now, off any page's
    /// request (the store watcher, with pages open or as the dashboard
    /// starts): after a sync each open page fetches itself again at once,
    /// and finds them ready.
    fn make_ready(&self, n: &Node, space: &SpaceId) {
        let started = std::time::Instant::now();
        let _ = self.shown_board(n, space, Timestamp::now());
        // Logged when there was work: the data read again, or the board
        // of a new minute.
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if ms >= 5.0 {
            tracing::info!(ms, "pages' data made ready");
        }
    }

    /// Whether any page is open (listening for changes).
    fn pages_open(&self) -> bool {
        self.version.receiver_count() > 0
    }

    /// The opaque link of a recipient.
    fn handle(&self, id: &RecipientId) -> String {
        let tag = ring::hmac::sign(&self.link_key, id.0.as_bytes());
        let h = data_encoding::HEXLOWER.encode(&tag.as_ref()[..12]);
        lock(&self.handles).insert(h.clone(), id.clone());
        h
    }

    fn recipient_of(&self, handle: &str) -> Option<RecipientId> {
        lock(&self.handles).get(handle).cloned()
    }

    /// Run `f` on the node off the async threads (node calls read and
    /// write the disk), as the person logged in on `cur` (the audit trail
    /// and their checks name them; their role limits what they may do).
    async fn with_node<T: Send + 'static>(
        self: &Arc<Self>,
        cur: &session::Current,
        f: impl FnOnce(&mut Node, &SpaceId) -> anpi_core::Result<T> + Send + 'static,
    ) -> anpi_core::Result<T> {
        self.run_on_node(cur.session.person.clone(), f).await
    }

    /// [`Dashboard::with_node`] for `person` (`None`: the office device's
    /// own person).
    async fn run_on_node<T: Send + 'static>(
        self: &Arc<Self>,
        person: Option<Person>,
        f: impl FnOnce(&mut Node, &SpaceId) -> anpi_core::Result<T> + Send + 'static,
    ) -> anpi_core::Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut node = lock(&me.node);
            // Another process (an `anpi check` typed beside `serve`) may
            // have written the folder: read what it wrote first.
            node.reload_changed()?;
            node.as_person(person.as_ref(), |n| f(n, &me.space))
        })
        .await
        .map_err(|e| anpi_core::Error::Invalid(format!("the request stopped: {e}")))?
    }
}

/// The dashboard's routes.
pub fn router(d: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/board", get(pages::board))
        .route("/staff", get(pages::staff))
        .route(
            "/staff/import",
            post(pages::import_staff)
                .layer(axum::extract::DefaultBodyLimit::max(pages::MAX_STAFF_BYTES)),
        )
        .route("/staff/report", post(pages::record_report))
        .route("/staff/level", post(pages::decide_operation))
        .route("/staff/power", post(pages::decide_operation))
        .route("/staff/assign", post(pages::assign_staff))
        .route("/list", get(pages::list))
        .route("/list/filter", post(pages::set_filter))
        .route("/r/{handle}", get(pages::recipient))
        .route("/r/{handle}/check", post(pages::record_check))
        .route("/r/{handle}/claim", post(pages::claim))
        .route("/r/{handle}/release", post(pages::release))
        .route("/duplicates", get(pages::duplicates))
        .route("/roster", get(pages::roster))
        .route(
            "/roster/preview",
            post(pages::preview_roster).layer(axum::extract::DefaultBodyLimit::max(
                pages::MAX_ROSTER_BYTES,
            )),
        )
        .route("/roster/import", post(pages::import_roster))
        .route("/devices", get(pages::devices))
        .route("/devices/add", post(pages::add_device))
        .route("/devices/invite", post(pages::invite))
        .route("/devices/revoke", post(pages::revoke))
        .route("/form2", get(pages::form2_page))
        .route("/form2/export", post(pages::export_form2))
        .route("/audit", get(pages::audit_page))
        .route("/audit/filter", post(pages::set_audit_filter))
        .route("/audit/verify", post(pages::verify_audit))
        .route("/incidents", get(pages::incidents))
        .route("/incidents/start", post(pages::start_incident))
        .route("/incidents/end", post(pages::end_incident))
        .route("/incidents/merge", post(pages::merge_incidents))
        .route("/sharing", get(pages::sharing).post(pages::share_act))
        .route("/lang/{lang}", post(pages::set_lang))
        .route("/login", get(pages::login_page).post(pages::log_in))
        .route("/logout", post(pages::log_out))
        .route("/logins", get(pages::logins))
        .route("/logins/add", post(pages::add_login))
        .route("/logins/remove", post(pages::remove_login))
        .route("/logins/password", post(pages::set_password))
        .route("/events", get(live::events))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(d.clone(), gate))
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(d)
}

/// One log line per request: method, the route's pattern (never the path
/// itself: no personal data in logs), status and time.
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "(none)".to_string(), |m| m.as_str().to_string());
    let r = next.run(req).await;
    let status = r.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%method, %route, status, ms, "request");
    } else {
        tracing::info!(%method, %route, status, ms, "request");
    }
    r
}

/// When logins are required, everything but the login page and the
/// stylesheet and script waits for one: a request without a login (or
/// whose login was removed or changed since) goes to the login page.
async fn gate(
    State(d): State<Arc<Dashboard>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    if !d.logins_required() || path == "/login" || path.starts_with("/assets/") {
        return next.run(req).await;
    }
    let cur = d.session(req.headers());
    let current = match cur.session.person.clone() {
        None => false,
        Some(p) => d
            .run_on_node(None, move |n, _| n.login_current(&p))
            .await
            .unwrap_or(false),
    };
    if current {
        return next.run(req).await;
    }
    if cur.session.person.is_some() {
        d.end_session(&cur.id);
    }
    cur.finish(axum::response::Redirect::to("/login").into_response())
}

/// Serve the dashboard on `listener` until `stop` turns true, watching the
/// store so that open pages follow every change.
pub async fn serve(
    listener: tokio::net::TcpListener,
    d: Arc<Dashboard>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve_on(listener, d, stop).await
}

/// Serve the dashboard over TLS with `identity`'s certificate and key (see
/// [`Dashboard`] and [`Reach::Network`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    identity: &anpi_core::identity::Identity,
    d: Arc<Dashboard>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tls::TlsListener::new(listener, identity)?;
    serve_on(listener, d, stop).await
}

async fn serve_on<L>(
    listener: L,
    d: Arc<Dashboard>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> Client: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    tokio::spawn(live::watch_store(d.clone(), stop.clone()));
    let app = router(d).into_make_service_with_connect_info::<Client>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        })
        .await
}

/// The address a request came from (the brake on guessing passwords
/// counts per address), for plain and TLS listeners alike.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Client
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Client(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>>
    for Client
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        Client(*stream.remote_addr())
    }
}

/// How the dashboard must be served at `addr`: loopback is this PC alone;
/// any other address is reached from the network and needs TLS and logins.
pub fn reach_of(addr: SocketAddr) -> Reach {
    if addr.ip().is_loopback() {
        Reach::ThisPc
    } else {
        Reach::Network
    }
}

/// Headers every response carries: no inline script, no framing, no
/// caching of personal data, no referrer.
async fn secure_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            h,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
    }
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    r
}

/// The stylesheet and the script, compiled in.
mod assets {
    use super::*;

    const CSS: &str = include_str!("../assets/app.css");
    const JS: &str = include_str!("../assets/app.js");

    pub(crate) async fn css() -> impl IntoResponse {
        (
            [
                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            CSS,
        )
    }

    pub(crate) async fn js() -> impl IntoResponse {
        (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            JS,
        )
    }
}
