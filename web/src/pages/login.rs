//! Logging in and out, and the logins an admin makes (ログイン). Passwords,
//! the brake on guessing and who may manage logins are the core's
//! (`access`, `Node::check_login`, `Node::add_login`).

use anpi_core::access::{MIN_PASSWORD_CHARS, Person};
use anpi_core::model::Staff;
use axum::extract::ConnectInfo;

use super::*;
use crate::{Client, lock};

fn login_form(l: L, login: String, error: String) -> LoginPage {
    let mut c = Chrome::new(l, l.t("ログイン", "Log in"), String::new(), "/login").answer();
    c.bare = true;
    LoginPage { c, login, error }
}

/// `GET /login`.
pub(crate) async fn login_page(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    if cur.session.person.is_some() || !d.logins_required() {
        return cur.finish(Redirect::to("/board").into_response());
    }
    let l = L(cur.session.lang);
    respond(cur, Ok(login_form(l, String::new(), String::new())))
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    csrf: String,
    login: String,
    password: String,
}

/// `POST /login`: a name and password checked by the core, behind the
/// brake on guessing (per name and per address). A new session follows.
pub(crate) async fn log_in(
    State(d): State<Arc<Dashboard>>,
    ConnectInfo(Client(from)): ConnectInfo<Client>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let login = f.login.trim().to_string();
    let from = from.ip().to_string();
    let wait = lock(&d.throttle).wait(&login, &from, std::time::Instant::now());
    if let Some(wait) = wait {
        tracing::warn!(from = %from, wait_s = wait.as_secs(), "login refused: too many failures");
        let text = match l.0 {
            Lang::Ja => format!(
                "ログインの失敗が続いたため、{}秒待ってからもう一度入れてください。",
                wait.as_secs().max(1)
            ),
            Lang::En => format!(
                "Too many failed logins: wait {} s, then try again.",
                wait.as_secs().max(1)
            ),
        };
        let page = login_form(l, login, text);
        return with_status(respond(cur, Ok(page)), StatusCode::TOO_MANY_REQUESTS);
    }
    let name = login.clone();
    let checked = d
        .run_on_node(None, move |n, _| n.check_login(&name, &f.password))
        .await;
    match checked {
        Ok(person) => {
            tracing::info!(from = %from, "login");
            lock(&d.throttle).succeeded(&login);
            let next = d.log_in(&cur, person);
            next.finish(Redirect::to("/board").into_response())
        }
        Err(e) if e.kind() == ErrorKind::NotAllowed => {
            tracing::warn!(from = %from, "login failed");
            lock(&d.throttle).failed(&login, &from, std::time::Instant::now());
            let page = login_form(
                l,
                login,
                l.t(
                    "ログイン名かパスワードが違います。",
                    "Wrong login or password.",
                )
                .into(),
            );
            with_status(respond(cur, Ok(page)), StatusCode::UNAUTHORIZED)
        }
        Err(e) => {
            let r = failure(&cur, &e);
            cur.finish(r)
        }
    }
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `POST /logout`.
pub(crate) async fn log_out(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    d.end_session(&cur.id);
    Redirect::to("/login").into_response()
}

/// `GET /logins`.
pub(crate) async fn logins(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let me = cur.session.person.as_ref().map(|p| p.login.clone());
    let required = d.logins_required();
    let result = d
        .with_node(&cur, move |n, space| {
            let name = space_name(n, space)?;
            let organisation = n.staff().organisation.clone();
            let logins = n
                .logins()?
                .into_iter()
                .map(|i| LoginRow {
                    me: me.as_deref() == Some(i.person.login.as_str()),
                    login: i.person.login,
                    name: i.person.staff.name,
                    organisation: i.person.staff.organisation,
                    role: i.person.role.label(l.0),
                    created: when(i.created),
                })
                .collect();
            Ok(LoginsPage {
                c: Chrome::new(l, l.t("ログイン", "Logins"), name, "/logins"),
                logins,
                // A partner agency's people have no login (core refuses it).
                roles: role_choices(l)
                    .into_iter()
                    .filter(|(code, ..)| *code != Role::Partner.code())
                    .collect(),
                organisation,
                min_chars: MIN_PASSWORD_CHARS,
                required,
            })
        })
        .await;
    respond(cur, result)
}

#[derive(Deserialize)]
pub(crate) struct AddLoginForm {
    csrf: String,
    login: String,
    name: String,
    #[serde(default)]
    organisation: String,
    role: String,
    password: String,
    again: String,
}

/// `POST /logins/add` (admins; the core refuses anyone else).
pub(crate) async fn add_login(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<AddLoginForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let result = d
        .with_node(&cur, move |n, space| {
            if f.password != f.again {
                return Err(Error::Invalid(
                    "2回入れたパスワードが違います (the two passwords differ)".into(),
                ));
            }
            let person = Person {
                login: f.login.trim().to_string(),
                staff: Staff {
                    name: f.name,
                    organisation: f.organisation,
                    id: None,
                },
                role: f.role.parse()?,
            };
            n.add_login(space, person, &f.password)
        })
        .await;
    changed(&d, cur, result, "/logins")
}

#[derive(Deserialize)]
pub(crate) struct RemoveLoginForm {
    csrf: String,
    login: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /logins/remove`: after the person confirmed it.
pub(crate) async fn remove_login(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<RemoveLoginForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    if f.confirm.is_none() {
        return unconfirmed(
            cur,
            ("削除していません", "Not removed"),
            ("このログインを削除する", "remove this login"),
        );
    }
    let result = d
        .with_node(&cur, move |n, space| n.remove_login(space, &f.login))
        .await;
    changed(&d, cur, result, "/logins")
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    csrf: String,
    login: String,
    password: String,
}

/// `POST /logins/password`: a new password for a login (admins).
pub(crate) async fn set_password(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let result = d
        .with_node(&cur, move |n, space| {
            n.set_login_password(space, &f.login, &f.password)
        })
        .await;
    changed(&d, cur, result, "/logins")
}
