//! Each test is a failure or an attack from issue 20 (docs/SECURITY.md,
//! "Membership"), written as the statements a member would make.

use super::*;
use crate::model::{MemberStanding, Revocation};

struct Dev(Identity);

impl Dev {
    fn new() -> Self {
        Dev(Identity::generate().unwrap())
    }
    fn id(&self) -> DeviceId {
        self.0.device().unwrap()
    }
}

/// A space's statements as one device holds them.
#[derive(Clone)]
struct Book {
    space: SpaceId,
    ledger: Ledger,
}

impl Book {
    fn found(creator: &Dev) -> Book {
        let (space, founding) = Founding::new(&creator.0).unwrap();
        let mut b = Book {
            space,
            ledger: Ledger {
                founding: Some(founding),
                entries: Vec::new(),
            },
        };
        b.add(creator, creator, Role::Admin);
        b
    }

    /// `by` signs a statement with what this book holds as its past.
    fn say(&mut self, by: &Dev, act: Act) -> String {
        let statement = Statement {
            act,
            by: by.id(),
            at: Timestamp::from_millis(self.ledger.entries.len() as i64),
            after: self.ledger.after_for(&self.space, &by.id()),
        };
        let (key, stored) = sign(&self.space, &statement, &by.0).unwrap().stored();
        self.ledger.entries.push((key, stored.clone()));
        stored
    }

    fn add(&mut self, who: &Dev, by: &Dev, role: Role) -> String {
        self.say(
            by,
            Act::Add {
                device: who.id(),
                staff: Staff::default(),
                role,
            },
        )
    }

    fn revoke(&mut self, who: &Dev, by: &Dev) -> String {
        self.say(by, Act::Revoke { device: who.id() })
    }

    /// What another device holding both books sees.
    fn merge(&mut self, other: &Book) {
        self.ledger.entries.extend(other.ledger.entries.clone());
    }

    fn put(&mut self, stored: &str) {
        self.ledger
            .entries
            .push((entry_key(stored), stored.to_string()));
    }

    fn standing(&self, who: &Dev) -> Option<MemberStanding> {
        standing(&self.space, &self.ledger)
            .into_iter()
            .find(|(m, s)| m.device == who.id() && *s != MemberStanding::BadSignature)
            .map(|(_, s)| s)
    }
}

use MemberStanding::{Active, Revoked, Unauthorised};

#[test]
fn only_admins_add_members_and_revoke_them_and_forgeries_count_for_nothing() {
    let [creator, admin, carer, lost, kept, by_carer] = std::array::from_fn(|_| Dev::new());
    let mut b = Book::found(&creator);
    b.add(&admin, &creator, Role::Admin);
    b.add(&carer, &admin, Role::CareManager);
    b.add(&lost, &creator, Role::CareManager);
    b.revoke(&lost, &admin);
    b.add(&kept, &creator, Role::CareManager);
    // A care manager's revocation and additions do not count.
    b.revoke(&kept, &carer);
    b.add(&by_carer, &carer, Role::Admin);
    assert_eq!(b.standing(&creator), Some(Active));
    assert_eq!(b.standing(&admin), Some(Active));
    assert_eq!(b.standing(&carer), Some(Active));
    assert_eq!(b.standing(&lost), Some(Revoked));
    assert_eq!(b.standing(&kept), Some(Active));
    assert_eq!(b.standing(&by_carer), Some(Unauthorised));
    // A statement changed after it was signed is shown as forged and
    // counts for nothing.
    let Entry::Signed {
        statement,
        key,
        signature,
    } = serde_json::from_str(&b.add(&Dev::new(), &creator, Role::CareManager)).unwrap()
    else {
        panic!("a signed statement")
    };
    let outsider = Dev::new();
    let tampered = Entry::Signed {
        statement: statement.replace(
            &serde_json::from_str::<Statement>(&statement)
                .unwrap()
                .act
                .device()
                .0,
            &outsider.id().0,
        ),
        key,
        signature,
    };
    b.put(&tampered.stored().1);
    assert_eq!(b.standing(&outsider), None);
    assert!(
        standing(&b.space, &b.ledger)
            .iter()
            .any(|(m, s)| m.device == outsider.id() && *s == MemberStanding::BadSignature)
    );
    // Another space's founding makes nobody an admin here.
    let (_, other) = Founding::new(&creator.0).unwrap();
    let mut elsewhere = b.ledger.clone();
    elsewhere.founding = Some(other);
    assert!(
        standing(&b.space, &elsewhere)
            .iter()
            .all(|(_, s)| *s != Active)
    );
}

/// Issue 20, 1: an old signed "add" of a revoked phone written again after
/// the revocation, or a new add by an admin, does not bring it back.
#[test]
fn a_revocation_is_final() {
    let [creator, admin, lost] = std::array::from_fn(|_| Dev::new());
    let mut b = Book::found(&creator);
    b.add(&admin, &creator, Role::Admin);
    let old_add = b.add(&lost, &admin, Role::CareManager);
    b.revoke(&lost, &creator);
    assert_eq!(b.standing(&lost), Some(Revoked));
    // The thief's replay of the add: the same statement, no change.
    b.put(&old_add);
    assert_eq!(b.standing(&lost), Some(Revoked));
    // An admin adding it again later: still revoked (a lost phone found
    // again gets a new key).
    b.add(&lost, &admin, Role::Admin);
    assert_eq!(b.standing(&lost), Some(Revoked));
    // Nor does a format-2 entry of it, replayed.
    let legacy = SignedMember::sign(
        &b.space,
        Member {
            device: lost.id(),
            staff: Staff::default(),
            role: Role::CareManager,
            added_by: admin.id(),
            added_at: Timestamp::from_millis(0),
            revoked: None,
        },
        &admin.0,
    )
    .unwrap();
    b.put(&Entry::Legacy(legacy).stored().1);
    assert_eq!(b.standing(&lost), Some(Revoked));
}

/// Issue 20, 1: a non-admin's statement about an admin does not unseat it
/// or the devices it enrolled, and the founder needs no entry to stay.
#[test]
fn a_non_admin_cannot_unseat_an_admin_or_the_founder() {
    let [creator, admin, carer, phone] = std::array::from_fn(|_| Dev::new());
    let mut b = Book::found(&creator);
    b.add(&admin, &creator, Role::Admin);
    b.add(&carer, &creator, Role::CareManager);
    b.add(&phone, &admin, Role::CareManager);
    b.add(&admin, &carer, Role::Partner);
    b.revoke(&admin, &carer);
    b.revoke(&creator, &carer);
    assert_eq!(b.standing(&admin), Some(Active));
    assert_eq!(b.standing(&phone), Some(Active));
    assert_eq!(b.standing(&creator), Some(Active));
    // With every entry but the founding gone, the founder still stands.
    let bare = Ledger {
        founding: b.ledger.founding.clone(),
        entries: Vec::new(),
    };
    assert!(
        standing(&b.space, &bare)
            .iter()
            .any(|(m, s)| m.device == creator.id() && *s == Active)
    );
}

/// Issue 20, 1 (no attacker): admin B revoked a lost phone and enrolled
/// others; B's own device is retired later. The phone stays revoked and
/// B's enrollments stay.
#[test]
fn retiring_an_admin_keeps_what_it_signed_before() {
    let [creator, b_admin, lost, carer] = std::array::from_fn(|_| Dev::new());
    let mut b = Book::found(&creator);
    b.add(&b_admin, &creator, Role::Admin);
    b.add(&lost, &b_admin, Role::CareManager);
    b.add(&carer, &b_admin, Role::CareManager);
    b.revoke(&lost, &b_admin);
    b.revoke(&b_admin, &creator);
    assert_eq!(b.standing(&b_admin), Some(Revoked));
    assert_eq!(b.standing(&lost), Some(Revoked));
    assert_eq!(b.standing(&carer), Some(Active));
}

/// Issue 20, 1 and 2: a stolen admin phone, revoked, keeps signing with a
/// past that leaves out its revocation (backdating). Nothing it signs
/// after or beside the revocation counts; what it signed before stays.
#[test]
fn a_revoked_admin_cannot_backdate() {
    let [creator, stolen, before, thief_phone, concurrent] = std::array::from_fn(|_| Dev::new());
    let mut office = Book::found(&creator);
    office.add(&stolen, &creator, Role::Admin);
    office.add(&before, &stolen, Role::CareManager);
    // The thief's copy, split off before the revocation.
    let mut thief = office.clone();
    thief.add(&concurrent, &stolen, Role::Admin);
    office.revoke(&stolen, &creator);
    thief.add(&thief_phone, &stolen, Role::Admin);
    thief.revoke(&before, &stolen);
    office.merge(&thief);
    assert_eq!(office.standing(&stolen), Some(Revoked));
    assert_eq!(office.standing(&before), Some(Active));
    assert_eq!(office.standing(&concurrent), Some(Unauthorised));
    assert_eq!(office.standing(&thief_phone), Some(Unauthorised));
    // Whatever order the statements are held in.
    let mut reversed = office.clone();
    reversed.ledger.entries.reverse();
    assert_eq!(
        standing(&office.space, &office.ledger),
        standing(&reversed.space, &reversed.ledger)
    );
}

/// Issue 20, 2: the admin set follows causal order whatever the ids; the
/// founder loses signing power when another admin revokes it; of two
/// admins revoking each other at once, the senior one's revocation stands.
#[test]
fn admins_are_judged_in_causal_order_and_the_founder_can_be_revoked() {
    for _ in 0..4 {
        // Fresh keys each round: device ids sort differently.
        let [creator, a, b, late] = std::array::from_fn(|_| Dev::new());
        let mut book = Book::found(&creator);
        book.add(&a, &creator, Role::Admin);
        book.add(&b, &a, Role::Admin);
        // a is demoted; b's adds before stay, a's after do not count.
        book.add(&a, &creator, Role::CareManager);
        book.add(&late, &a, Role::CareManager);
        assert_eq!(book.standing(&b), Some(Active));
        assert_eq!(book.standing(&late), Some(Unauthorised));
        // The founder, revoked by another admin, signs nothing more.
        book.revoke(&creator, &b);
        let after = Dev::new();
        book.add(&after, &creator, Role::CareManager);
        assert_eq!(book.standing(&creator), Some(Revoked));
        assert_eq!(book.standing(&after), Some(Unauthorised));

        // Two admins revoke each other at once.
        let [founder, senior, junior] = std::array::from_fn(|_| Dev::new());
        let mut base = Book::found(&founder);
        base.add(&senior, &founder, Role::Admin);
        base.add(&junior, &founder, Role::Admin);
        let mut x = base.clone();
        let mut y = base.clone();
        x.revoke(&junior, &senior);
        y.revoke(&senior, &junior);
        x.merge(&y);
        assert_eq!(x.standing(&junior), Some(Revoked));
        assert_eq!(x.standing(&senior), Some(Active));
    }
}

/// B was enrolled after A last synced: A has never heard of B. B's proof
/// admits it; a revocation A knows, or a forged statement, does not.
#[test]
fn a_device_proves_a_membership_the_peer_has_not_heard_of() {
    let [creator, admin, a, b, lost] = std::array::from_fn(|_| Dev::new());
    let mut at_a = Book::found(&creator);
    at_a.add(&a, &creator, Role::CareManager);
    at_a.add(&lost, &creator, Role::CareManager);
    let mut at_b = at_a.clone();
    at_a.revoke(&lost, &creator);
    at_b.add(&admin, &creator, Role::Admin);
    at_b.add(&b, &admin, Role::CareManager);
    let proof = proof_for(&at_b.space, &at_b.ledger, &b.id()).unwrap();
    assert_eq!(proof.statements.len(), 2);
    assert!(admits(&at_a.space, &at_a.ledger, &proof, &b.id()));
    let wire = Proof {
        spaces: vec![proof.clone()],
    };
    assert_eq!(Proof::decode(&wire.encode()), Some(wire));
    // The founder proves nothing: its key is in the founding.
    assert!(proof_for(&at_b.space, &at_b.ledger, &creator.id()).is_none());
    // The lost phone shows its old add: A knows the revocation.
    let old = proof_for(&at_b.space, &at_b.ledger, &lost.id()).unwrap();
    assert!(!admits(&at_a.space, &at_a.ledger, &old, &lost.id()));
    // A proof signed by a non-admin, or moved to another space, admits
    // nobody.
    let mut by_carer = at_a.clone();
    let forged = by_carer.add(&b, &a, Role::Admin);
    let bad = SpaceProof {
        space: at_a.space.clone(),
        entries: Vec::new(),
        statements: vec![forged],
    };
    assert!(!admits(&at_a.space, &at_a.ledger, &bad, &b.id()));
    let (elsewhere, _) = Founding::new(&creator.0).unwrap();
    let mut moved = proof;
    moved.space = elsewhere;
    assert!(!admits(&at_a.space, &at_a.ledger, &moved, &b.id()));
}

/// Entries written by format-2 builds count as they did, and a revocation
/// among them is final even when a later write hides it from the register.
#[test]
fn format_two_entries_are_statements_too() {
    let [creator, admin, carer, lost] = std::array::from_fn(|_| Dev::new());
    let (space, founding) = Founding::new(&creator.0).unwrap();
    let entry = |who: &Dev, by: &Dev, role: Role| {
        SignedMember::sign(
            &space,
            Member {
                device: who.id(),
                staff: Staff::default(),
                role,
                added_by: by.id(),
                added_at: Timestamp::from_millis(0),
                revoked: None,
            },
            &by.0,
        )
        .unwrap()
    };
    let lost_add = entry(&lost, &admin, Role::CareManager);
    let mut revoked = lost_add.member.clone();
    revoked.revoked = Some(Revocation {
        by: creator.id(),
        at: Timestamp::from_millis(1),
    });
    let revocation = SignedMember::sign(&space, revoked, &creator.0).unwrap();
    let ledger = Ledger {
        founding: Some(founding),
        entries: [
            entry(&creator, &creator, Role::Admin),
            entry(&admin, &creator, Role::Admin),
            entry(&carer, &admin, Role::CareManager),
            lost_add,
            revocation,
        ]
        .into_iter()
        .map(|m| Entry::Legacy(m).stored())
        .collect(),
    };
    let got: Vec<(DeviceId, MemberStanding)> = standing(&space, &ledger)
        .into_iter()
        .map(|(m, s)| (m.device, s))
        .collect();
    for (who, want) in [
        (&creator, Active),
        (&admin, Active),
        (&carer, Active),
        (&lost, Revoked),
    ] {
        assert!(got.contains(&(who.id(), want)), "{got:?}");
    }
}

#[test]
fn a_statement_signed_for_another_space_does_not_count() {
    let [creator, carer] = std::array::from_fn(|_| Dev::new());
    let b = Book::found(&creator);
    let mut elsewhere = Book::found(&creator);
    let replayed = elsewhere.add(&carer, &creator, Role::CareManager);
    let mut here = b.clone();
    here.put(&replayed);
    assert_eq!(here.standing(&carer), None);
}
