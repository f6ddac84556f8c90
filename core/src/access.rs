//! Who may do what: the one table of permissions by role, the person acting
//! through a host that serves several people (the office dashboard's
//! logins), their passwords (Argon2id) and the brake on guessing them.
//!
//! A device acts with its own role in a space (its member entry). When a
//! person logs in to the office's dashboard, what they may do is what both
//! their login's role and the office device's role allow: a login can never
//! do more than the device it runs on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::codes::Role;
use crate::error::{Error, Result};
use crate::model::Staff;

/// Something only some roles may do. Reading the space's records and
/// recording checks and claims are every member's; the rest are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Enrol a device (add, invite) or revoke one.
    ManageMembers,
    /// Import the roster, or change a recipient's record.
    ImportRoster,
    /// Change the priority weights or a recipient's priority by hand.
    ChangeWeights,
    /// Declare a time-boxed disaster exception in an area space.
    DeclareException,
    /// End an incident, or merge two incidents into one.
    ManageIncidents,
    /// Share this space's recipients to an area space, or collect checks.
    ShareArea,
    /// Create and remove the dashboard's personal logins.
    ManageLogins,
    /// Read the device's audit trail (it says who looked at whose record).
    ReadAudit,
    /// Edit the staff list, assign recipients to staff, set the operation
    /// level or mark the power on.
    ManageStaff,
}

impl Permission {
    /// What it is, for an error message.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ManageMembers => "enrol or revoke devices",
            Permission::ImportRoster => "import the roster",
            Permission::ChangeWeights => "change priority weights",
            Permission::DeclareException => "declare a disaster exception",
            Permission::ManageIncidents => "end or merge incidents",
            Permission::ShareArea => "share to or collect from an area space",
            Permission::ManageLogins => "manage the dashboard's logins",
            Permission::ReadAudit => "read the audit trail",
            Permission::ManageStaff => "edit the staff list, assignments or operation level",
        }
    }
}

/// Whether `role` may do `what`. Every item is an admin's today; the table
/// is here so that each host asks the same question.
pub fn allows(role: Role, what: Permission) -> bool {
    match what {
        Permission::ManageMembers
        | Permission::ImportRoster
        | Permission::ChangeWeights
        | Permission::DeclareException
        | Permission::ManageIncidents
        | Permission::ShareArea
        | Permission::ManageLogins
        | Permission::ReadAudit
        | Permission::ManageStaff => role == Role::Admin,
    }
}

/// A person acting through a device that serves several (a login of the
/// office's dashboard): whom the audit trail and their checks name, and
/// the role that limits what they may do there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The login name.
    pub login: String,
    /// Name and organisation, as their checks show them.
    pub staff: Staff,
    /// What they may do (never more than the device's own role).
    pub role: Role,
}

/// Shortest password a login may have. Long rather than complicated: an
/// office writes it on nothing and types it on one PC.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest: hashing is bounded work.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Refuse a password that is too short or too long.
pub fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(format!(
            "パスワードは{MIN_PASSWORD_CHARS}文字以上にしてください (a password has at least {MIN_PASSWORD_CHARS} characters)"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "パスワードが長すぎます (the password is too long)",
        ));
    }
    Ok(())
}

/// Argon2id with OWASP's recommended cost (19 MiB, 2 passes): slow enough
/// to make guessing against a stolen store costly, quick enough for a login.
fn hasher() -> argon2::Argon2<'static> {
    let params =
        argon2::Params::new(19 * 1024, 2, 1, None).expect("constant Argon2 parameters are valid");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// The stored form of a password: a PHC string (algorithm, cost, salt and
/// hash), so that a later change of cost still reads old ones.
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::PasswordHasher;
    check_new_password(password)?;
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| Error::invalid("the system's random source failed"))?;
    hasher()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid(format!("password hash: {e}")))
}

/// Whether `password` is the one `stored` was made from.
pub fn verify_password(password: &str, stored: &str) -> bool {
    use argon2::PasswordVerifier;
    password.len() <= MAX_PASSWORD_BYTES
        && hasher()
            .verify_password(password.as_bytes(), stored)
            .is_ok()
}

/// Failed logins allowed before the brake holds.
const FREE_FAILURES: u32 = 5;
/// The first wait once the brake holds; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(30);
/// The longest wait.
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Most names and addresses remembered (a flood of made-up names must not
/// fill memory).
const MAX_TRACKED: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The brake on guessing passwords: after a few failures for one login
/// name, or from one address, each further try must wait, longer each
/// time. Kept in memory by the host that takes logins.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: HashMap<String, Failures>,
}

impl LoginThrottle {
    fn keys(login: &str, from: &str) -> [String; 2] {
        [format!("login:{login}"), format!("from:{from}")]
    }

    /// How long a try of `login` from `from` must still wait; `None` when
    /// it may go ahead now.
    pub fn wait(&self, login: &str, from: &str, now: Instant) -> Option<Duration> {
        Self::keys(login, from)
            .iter()
            .filter_map(|k| self.failures.get(k))
            .filter_map(|f| {
                let over = f.count.checked_sub(FREE_FAILURES)?;
                let wait = FIRST_WAIT
                    .saturating_mul(1u32 << over.min(10))
                    .min(LONGEST_WAIT);
                let until = f.last + wait;
                (until > now).then(|| until - now)
            })
            .max()
    }

    /// A failed try.
    pub fn failed(&mut self, login: &str, from: &str, now: Instant) {
        self.failures
            .retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        if self.failures.len() >= MAX_TRACKED
            && let Some(oldest) = self
                .failures
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(k, _)| k.clone())
        {
            self.failures.remove(&oldest);
        }
        for k in Self::keys(login, from) {
            let f = self.failures.entry(k).or_insert(Failures {
                count: 0,
                last: now,
            });
            f.count += 1;
            f.last = now;
        }
    }

    /// A successful login: the name's failures are forgotten (the
    /// address's stay: one right password must not reopen guessing others).
    pub fn succeeded(&mut self, login: &str) {
        self.failures.remove(&format!("login:{login}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_hold_the_listed_permissions() {
        for p in [
            Permission::ManageMembers,
            Permission::ImportRoster,
            Permission::ChangeWeights,
            Permission::DeclareException,
            Permission::ManageIncidents,
            Permission::ShareArea,
            Permission::ManageLogins,
            Permission::ReadAudit,
        ] {
            assert!(allows(Role::Admin, p), "{p:?}");
            assert!(!allows(Role::CareManager, p), "{p:?}");
            assert!(!allows(Role::Partner, p), "{p:?}");
        }
    }

    #[test]
    fn a_password_verifies_against_its_hash_and_no_other() {
        let stored = hash_password("とても長い合言葉です").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify_password("とても長い合言葉です", &stored));
        assert!(!verify_password("とても長い合言葉でした", &stored));
        assert!(!verify_password("anything", "not a hash"));
        // Salted: the same password hashes differently each time.
        assert_ne!(stored, hash_password("とても長い合言葉です").unwrap());
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn the_brake_holds_after_five_failures_and_grows() {
        let mut t = LoginThrottle::default();
        let start = Instant::now();
        for i in 0..5 {
            assert_eq!(t.wait("sato", "10.0.0.2", start), None, "try {i}");
            t.failed("sato", "10.0.0.2", start);
        }
        // The sixth try waits, whether it names the login or comes from the
        // address.
        assert_eq!(t.wait("sato", "10.0.0.9", start), Some(FIRST_WAIT));
        assert_eq!(t.wait("suzuki", "10.0.0.2", start), Some(FIRST_WAIT));
        assert_eq!(t.wait("suzuki", "10.0.0.9", start), None);
        let later = start + FIRST_WAIT;
        assert_eq!(t.wait("sato", "10.0.0.2", later), None);
        t.failed("sato", "10.0.0.2", later);
        assert_eq!(t.wait("sato", "10.0.0.2", later), Some(FIRST_WAIT * 2));
        // A right password forgets the name's failures, not the address's.
        t.succeeded("sato");
        assert_eq!(t.wait("sato", "10.0.0.9", later), None);
        assert!(t.wait("sato", "10.0.0.2", later).is_some());
        // An hour later everything is forgotten.
        let much_later = later + FORGET_AFTER + Duration::from_secs(1);
        t.failed("other", "10.0.0.3", much_later);
        assert_eq!(t.wait("sato", "10.0.0.2", much_later), None);
    }
}
