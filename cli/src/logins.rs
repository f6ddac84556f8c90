//! `anpi login …`: the office dashboard's personal logins, and the TLS
//! identity the dashboard shows beyond this PC. The rules (who may, how a
//! password is kept) are the core's.

use std::io::{BufRead, IsTerminal};

use anpi_core::access::Person;
use anpi_core::codes::Lang;
use anpi_core::identity::Identity;
use anpi_core::model::Staff;
use anpi_core::node::Node;

use crate::context::Ctx;
use crate::{Result, t};

/// A password from standard input: typed without echo on a terminal,
/// else its first line (a script, or `printf … |`).
fn read_password(lang: Lang) -> Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let typed = rpassword::prompt_password(t(lang, "パスワード: ", "Password: "))?;
        let again = rpassword::prompt_password(t(lang, "もう一度: ", "Again: "))?;
        if typed != again {
            return Err(t(
                lang,
                "2回入れたパスワードが違います",
                "the two passwords differ",
            )
            .into());
        }
        typed
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    Ok(password)
}

/// `login add`.
pub fn add(
    cx: &Ctx,
    node: &mut Node,
    login: String,
    name: String,
    org: Option<String>,
    role: &str,
) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let person = Person {
        login,
        staff: Staff {
            name,
            organisation: org.unwrap_or_else(|| node.staff().organisation.clone()),
            id: None,
        },
        role: role.parse()?,
    };
    // Refused before the password is asked for, when it cannot be made.
    node.require(&space.id, anpi_core::access::Permission::ManageLogins)?;
    let password = read_password(lang)?;
    let login = person.login.clone();
    node.add_login(&space.id, person, &password)?;
    match lang {
        Lang::Ja => say!("ログイン {login} を作りました"),
        Lang::En => say!("login {login} made"),
    }
    Ok(())
}

/// `login list`.
pub fn list(cx: &Ctx, node: &mut Node) -> Result<()> {
    let lang = cx.lang;
    let logins = node.logins()?;
    if logins.is_empty() {
        say!("{}", t(lang, "ログインはありません", "no logins"));
    }
    for l in logins {
        say!(
            "{}\t{}\t{}\t{}\t{}",
            l.person.login,
            l.person.staff.name,
            l.person.staff.organisation,
            l.person.role.label(lang),
            l.created.jst().format("%Y-%m-%d %H:%M")
        );
    }
    Ok(())
}

/// `login remove`.
pub fn remove(cx: &Ctx, node: &mut Node, login: &str) -> Result<()> {
    let space = cx.space(node)?;
    node.remove_login(&space.id, login)?;
    match cx.lang {
        Lang::Ja => say!("ログイン {login} を削除しました"),
        Lang::En => say!("login {login} removed"),
    }
    Ok(())
}

/// `login password`.
pub fn password(cx: &Ctx, node: &mut Node, login: &str) -> Result<()> {
    let space = cx.space(node)?;
    node.require(&space.id, anpi_core::access::Permission::ManageLogins)?;
    let password = read_password(cx.lang)?;
    node.set_login_password(&space.id, login, &password)?;
    match cx.lang {
        Lang::Ja => say!("ログイン {login} のパスワードを変えました"),
        Lang::En => say!("login {login}: password changed"),
    }
    Ok(())
}

/// The identity the dashboard shows at `http` (HOST:PORT) beyond this PC:
/// refused when no login exists yet (nobody could get in) or when the
/// address names no one host (a browser checks the certificate's name).
pub fn dashboard_tls(lang: Lang, node: &mut Node, http: &str) -> Result<Identity> {
    if node.logins()?.is_empty() {
        return Err(t(
            lang,
            "他のPCから開くダッシュボードにはログインが要ります。先に anpi login add NAME --name 氏名 --role admin でログインを作ってください（このPCで --http 127.0.0.1:8080 として開いた画面の「ログイン」からも作れます）",
            "a dashboard opened from other PCs needs logins: make one first with anpi login add NAME --name NAME --role admin (or on this PC's dashboard, --http 127.0.0.1:8080, page Logins)",
        )
        .into());
    }
    let host = http
        .rsplit_once(':')
        .map_or(http, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let unspecified = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if host.is_empty() || unspecified {
        return Err(t(
            lang,
            "ダッシュボードの証明書に入れるため、このPCの事務所ネットワークでのアドレスか名前を指定してください（例: --http 192.168.1.10:8443）",
            "give this PC's address or name on the office network, for the dashboard's certificate (e.g. --http 192.168.1.10:8443)",
        )
        .into());
    }
    Ok(node.dashboard_identity(&[host.to_string()])?)
}
