//! A browser's session: a random id in an HttpOnly, SameSite=Strict cookie
//! (Secure over TLS), and on the server the person logged in, its CSRF
//! token, language and list filter. The filter
//! lives here rather than in the URL: a search holds names, and no personal
//! data goes into a URL (or a log line).

use std::sync::Arc;

use anpi_core::access::Person;
use anpi_core::codes::Lang;
use anpi_core::views::ListFilter;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::{Dashboard, lock};

/// Most sessions kept; the oldest go first (an office has a few browsers).
const MAX_SESSIONS: usize = 256;

const COOKIE: &str = "anpi_session";

/// A roster file checked and previewed, waiting for the office to confirm.
#[derive(Debug)]
pub struct PendingRoster {
    /// The file's name, as the browser gave it.
    pub file: String,
    /// Its recipients, read and checked.
    pub recipients: Vec<anpi_core::model::Recipient>,
}

/// What the server keeps of one browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who logged in (on an address other than loopback, nobody gets
    /// further than the login page without).
    pub person: Option<Person>,
    /// The token every form that changes something must carry.
    pub csrf: String,
    /// The page's language.
    pub lang: Lang,
    /// The priority list's filter.
    pub filter: ListFilter,
    /// The audit log's filter.
    pub audit_filter: anpi_core::audit::Filter,
    /// A roster previewed and not yet confirmed.
    pub pending_roster: Option<Arc<PendingRoster>>,
    /// When it was last used (a counter, for dropping the oldest).
    used: u64,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system's random source works");
    data_encoding::HEXLOWER.encode(&bytes)
}

/// The session of a request: its id, what the server keeps of it, and the
/// cookie to set when it is new.
pub(crate) struct Current {
    pub id: String,
    pub session: Session,
    pub new_cookie: Option<HeaderValue>,
}

impl Current {
    /// Add the session cookie to a response when the session is new.
    pub fn finish(self, mut r: Response) -> Response {
        if let Some(c) = self.new_cookie {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        r
    }
}

fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

impl Dashboard {
    /// The request's session, made when the browser has none (or one this
    /// process does not know).
    pub(crate) fn session(self: &Arc<Self>, headers: &HeaderMap) -> Current {
        let mut sessions = lock(&self.sessions);
        let tick = sessions.values().map(|s| s.used).max().unwrap_or(0) + 1;
        if let Some(id) = cookie_id(headers)
            && let Some(s) = sessions.get_mut(&id)
        {
            s.used = tick;
            return Current {
                id,
                session: s.clone(),
                new_cookie: None,
            };
        }
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        self.new_session(&mut sessions, None, Lang::Ja)
    }

    /// A new session for `person` in `lang`, with its own id, form token
    /// and cookie.
    fn new_session(
        &self,
        sessions: &mut std::collections::HashMap<String, Session>,
        person: Option<Person>,
        lang: Lang,
    ) -> Current {
        let session = Session {
            person,
            csrf: random_hex(),
            lang,
            filter: ListFilter::default(),
            audit_filter: Default::default(),
            pending_roster: None,
            used: sessions.values().map(|s| s.used).max().unwrap_or(0) + 1,
        };
        let id = random_hex();
        sessions.insert(id.clone(), session.clone());
        // Served over TLS exactly when it is reached from the network.
        let secure = if self.reach == crate::Reach::Network {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}");
        Current {
            new_cookie: HeaderValue::from_str(&cookie).ok(),
            id,
            session,
        }
    }

    /// `person` logged in on the session `old`: a new session id and form
    /// token (one fixed before the login is worth nothing after), keeping
    /// the language.
    pub(crate) fn log_in(&self, old: &Current, person: Person) -> Current {
        let mut sessions = lock(&self.sessions);
        sessions.remove(&old.id);
        self.new_session(&mut sessions, Some(person), old.session.lang)
    }

    /// The session ends (logged out, or its login was removed).
    pub(crate) fn end_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// Change what the server keeps of a session.
    pub(crate) fn update_session(&self, id: &str, f: impl FnOnce(&mut Session)) {
        if let Some(s) = lock(&self.sessions).get_mut(id) {
            f(s);
        }
    }
}

/// Whether a form's token is the session's, compared without stopping at
/// the first difference (its time tells nothing of the token).
pub(crate) fn csrf_ok(session: &Session, token: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
