//! The office dashboard's personal logins, kept in this device's encrypted
//! store (never synced: they are the office PC's), and a person acting
//! through this device.

use super::*;
use crate::access::{self, Permission, Person};

const META_LOGINS: &str = "logins";
/// The dashboard's TLS certificate and the names it was made for.
const META_DASHBOARD_CERT: &str = "dashboard_identity";

#[derive(Serialize, Deserialize)]
struct DashboardCert {
    names: Vec<String>,
    identity: Vec<u8>,
}

/// The hash checked for a name that has no login: a well-formed Argon2id
/// hash with the same cost as a real one, so that an unknown name costs the
/// same work as a wrong password.
const NOBODY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yD2nu6cVOTf8tpGiG3VYYLhxBxs44eUxVnhR5lPVjkg";

/// A login as stored: the person and their password's Argon2id hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredLogin {
    person: Person,
    hash: String,
    created: Timestamp,
}

/// A login as an admin sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginInfo {
    /// Who, with which role.
    pub person: Person,
    /// When it was made.
    pub created: Timestamp,
}

fn check_login_name(login: &str) -> Result<()> {
    let ok = (1..=64).contains(&login.len())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "ログイン名 {login:?} は半角英数字と . _ - の1〜64文字にしてください (a login name is 1-64 ASCII letters, digits, . _ -)"
        )))
    }
}

impl Node {
    fn stored_logins(&self) -> Result<Vec<StoredLogin>> {
        match self.store.meta(META_LOGINS)? {
            None => Ok(Vec::new()),
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(format!("logins: {e}")))
            }
        }
    }

    fn write_logins(&mut self, logins: &[StoredLogin]) -> Result<()> {
        let bytes = serde_json::to_vec(logins).expect("logins always serialize");
        self.write_setting(META_LOGINS, bytes)
    }

    /// The dashboard's logins, by name.
    pub fn logins(&self) -> Result<Vec<LoginInfo>> {
        let mut all: Vec<LoginInfo> = self
            .stored_logins()?
            .into_iter()
            .map(|s| LoginInfo {
                person: s.person,
                created: s.created,
            })
            .collect();
        all.sort_by(|a, b| a.person.login.cmp(&b.person.login));
        Ok(all)
    }

    /// Make a personal login for the dashboard (admins of `space`). A
    /// partner agency's people use their own devices in the area space, so
    /// a login is an admin's or a care manager's.
    pub fn add_login(&mut self, space: &SpaceId, person: Person, password: &str) -> Result<()> {
        self.require(space, Permission::ManageLogins)?;
        check_login_name(&person.login)?;
        let name = person.staff.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::invalid(
                "氏名を入力してください (the person's name is needed)",
            ));
        }
        crate::text::check(&name, false).map_err(|m| Error::invalid(format!("name: {m}")))?;
        if person.role == Role::Partner {
            return Err(Error::invalid(
                "連携先の方は自分の端末で地域の共有スペースに参加します（ログインは管理者かケアマネジャー） (partners join the area space with their own devices)",
            ));
        }
        let mut logins = self.stored_logins()?;
        if logins.iter().any(|l| l.person.login == person.login) {
            return Err(Error::invalid(format!(
                "ログイン名 {} はもうあります (the login exists)",
                person.login
            )));
        }
        let hash = access::hash_password(password)?;
        self.note(
            audit::Action::Changed,
            format!("login {}", person.login),
            format!("made: {} ({})", name, person.role.code()),
        );
        logins.push(StoredLogin {
            person: Person {
                staff: Staff {
                    name,
                    organisation: person.staff.organisation.trim().to_string(),
                    id: None,
                },
                ..person
            },
            hash,
            created: Timestamp::now(),
        });
        self.write_logins(&logins)
    }

    /// Give a login a new password (admins).
    pub fn set_login_password(
        &mut self,
        space: &SpaceId,
        login: &str,
        password: &str,
    ) -> Result<()> {
        self.require(space, Permission::ManageLogins)?;
        let mut logins = self.stored_logins()?;
        let l = logins
            .iter_mut()
            .find(|l| l.person.login == login)
            .ok_or_else(|| Error::NotFound(format!("login {login}")))?;
        l.hash = access::hash_password(password)?;
        self.note(
            audit::Action::Changed,
            format!("login {login}"),
            "new password",
        );
        self.write_logins(&logins)
    }

    /// Remove a login (admins); its open sessions end at their next request.
    pub fn remove_login(&mut self, space: &SpaceId, login: &str) -> Result<()> {
        self.require(space, Permission::ManageLogins)?;
        let mut logins = self.stored_logins()?;
        let before = logins.len();
        logins.retain(|l| l.person.login != login);
        if logins.len() == before {
            return Err(Error::NotFound(format!("login {login}")));
        }
        self.note(audit::Action::Changed, format!("login {login}"), "removed");
        self.write_logins(&logins)
    }

    /// The person a login name and password stand for. A wrong name and a
    /// wrong password get the same answer (and the same work: a hash is
    /// checked either way), so names cannot be probed.
    pub fn check_login(&self, login: &str, password: &str) -> Result<Person> {
        let logins = self.stored_logins()?;
        let found = logins.iter().find(|l| l.person.login == login);
        let ok = access::verify_password(password, found.map_or(NOBODY, |l| l.hash.as_str()));
        match found {
            Some(l) if ok => Ok(l.person.clone()),
            _ => Err(Error::NotAllowed(
                "ログイン名かパスワードが違います (wrong login or password)".into(),
            )),
        }
    }

    /// Whether the login still exists as it was (an admin may have removed
    /// it or changed its role since the person logged in).
    pub fn login_current(&self, person: &Person) -> Result<bool> {
        Ok(self.stored_logins()?.iter().any(|l| &l.person == person))
    }

    /// What the dashboard presents over TLS: this device's key in a
    /// certificate naming `names` (the address it is served at). Kept, so
    /// that its fingerprint — which staff compare once per PC — stays the
    /// same from one start to the next while the names do.
    pub fn dashboard_identity(&mut self, names: &[String]) -> Result<Identity> {
        if let Some(bytes) = self.store.meta(META_DASHBOARD_CERT)?
            && let Ok(kept) = serde_json::from_slice::<DashboardCert>(&bytes)
            && kept.names == names
            && let Ok(identity) = Identity::decode(&kept.identity)
            && identity.device()? == self.device
        {
            return Ok(identity);
        }
        let identity = self.identity.with_names(names)?;
        let kept = DashboardCert {
            names: names.to_vec(),
            identity: identity.encode(),
        };
        let bytes = serde_json::to_vec(&kept).expect("a certificate always serializes");
        self.write_setting(META_DASHBOARD_CERT, bytes)?;
        Ok(identity)
    }

    /// Run `f` with `person` acting through this device: what is written
    /// and audited names them, and what they may do is limited by their
    /// role as well as the device's. `None`: the device's own person.
    pub fn as_person<T>(
        &mut self,
        person: Option<&Person>,
        f: impl FnOnce(&mut Node) -> Result<T>,
    ) -> Result<T> {
        let Some(person) = person else {
            return f(self);
        };
        let staff = std::mem::replace(&mut self.staff, person.staff.clone());
        let acting = self.acting.replace(person.clone());
        let result = f(self);
        self.staff = staff;
        self.acting = acting;
        result
    }

    /// The person acting now: a login, or `None` for the device's own.
    pub fn acting(&self) -> Option<&Person> {
        self.acting.as_ref()
    }

    /// Whether this device, and the person acting through it, may do
    /// `what` in `space` (the table is [`access::allows`]).
    pub fn may(&mut self, space: &SpaceId, what: Permission) -> Result<bool> {
        if let Some(p) = &self.acting
            && !access::allows(p.role, what)
        {
            return Ok(false);
        }
        let me = self.device.clone();
        Ok(self.members(space)?.iter().any(|(m, s)| {
            m.device == me && *s == MemberStanding::Active && access::allows(m.role, what)
        }))
    }

    /// [`Node::may`], as an error when not.
    pub fn require(&mut self, space: &SpaceId, what: Permission) -> Result<()> {
        if self.may(space, what)? {
            return Ok(());
        }
        Err(Error::NotAllowed(match &self.acting {
            Some(p) if !access::allows(p.role, what) => format!(
                "この操作は管理者だけができます（{} さんは{}） (only an admin may {})",
                p.staff.name,
                p.role.label_ja(),
                what.describe()
            ),
            _ => format!(
                "この操作は管理者の端末だけができます (only an admin device of the space may {}; this device is not one)",
                what.describe()
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::office;

    #[test]
    fn logins_are_an_admins_and_an_unknown_name_is_answered_like_a_wrong_password() {
        let (mut office, space) = office();
        let person = Person {
            login: "sato".into(),
            staff: Staff {
                name: "佐藤 一郎".into(),
                organisation: "ひまわり".into(),
                id: None,
            },
            role: Role::CareManager,
        };
        office
            .add_login(&space, person.clone(), "a-long-enough-password")
            .unwrap();
        assert_eq!(
            office
                .check_login("sato", "a-long-enough-password")
                .unwrap(),
            person
        );
        // The stand-in for unknown names is a real hash of the same cost
        // (algorithm, version, memory, passes, lanes) as a real login's.
        let params = |h: &str| {
            let h = argon2::PasswordHash::new(h).unwrap();
            (h.algorithm.to_string(), h.version, h.params.to_string())
        };
        let stored = office.stored_logins().unwrap()[0].hash.clone();
        assert_eq!(params(NOBODY), params(&stored));
        for login in ["sato", "nobody"] {
            let e = office.check_login(login, "wrong-password").unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::NotAllowed);
            assert_eq!(
                e.to_string(),
                "ログイン名かパスワードが違います (wrong login or password)"
            );
        }
        // A login never does more than its role, whatever the device is.
        let refused = office
            .as_person(Some(&person), |n| {
                n.upsert_recipients(&space, vec![crate::node::tests::recipient("R9")])
            })
            .unwrap_err();
        assert_eq!(refused.kind(), crate::error::ErrorKind::NotAllowed);
        let recorded = office
            .as_person(Some(&person), |n| {
                let i = n.start_incident(
                    &space,
                    crate::model::IncidentKind::Earthquake,
                    "",
                    Timestamp::now(),
                )?;
                n.record_check(
                    &space,
                    &i.id,
                    NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe),
                )
            })
            .unwrap();
        assert_eq!(recorded.staff, person.staff, "the check names the person");
        assert_eq!(office.staff().name, "", "the device's own person is back");
        let trail = office.audit_trail().unwrap();
        assert!(trail.iter().any(|e| e.record.staff == person.staff));
        // Removing and adding logins are an admin's.
        let admin_only = office
            .as_person(Some(&person), |n| n.remove_login(&space, "sato"))
            .unwrap_err();
        assert_eq!(admin_only.kind(), crate::error::ErrorKind::NotAllowed);
        office.remove_login(&space, "sato").unwrap();
        assert!(
            office
                .check_login("sato", "a-long-enough-password")
                .is_err()
        );
    }
}
