//! The index rows a document's content gives: whole, or for what a merge
//! touched.

use super::*;

/// The index rows of the membership of the space whose roster `d` is: its
/// statements (read without loading the roster, see
/// `Node::member_statements`) and the devices revoked from it.
pub(super) fn membership_index(d: &AutoCommit, space: &SpaceId) -> Result<Vec<IndexOp>> {
    let statements = doc::ledger(d, space)?;
    let revoked = membership::standing(space, &statements)
        .into_iter()
        .filter(|(_, s)| *s == MemberStanding::Revoked)
        .map(|(m, _)| m.device)
        .collect();
    Ok(vec![
        IndexOp::Revoked(revoked),
        IndexOp::Members(serde_json::to_vec(&statements).expect("statements always serialize")),
    ])
}

/// The index rows of a roster's space as a whole: its name, its priority
/// weights (when set) and the devices revoked from it.
fn roster_meta_index(d: &AutoCommit, space: &SpaceId) -> Result<Vec<IndexOp>> {
    let mut ops = vec![IndexOp::Space(Space {
        id: space.clone(),
        name: doc::space_name(d)?,
    })];
    if let Some(w) = doc::priority_weights(d)? {
        ops.push(IndexOp::Weights(Box::new(w)));
    }
    ops.extend(membership_index(d, space)?);
    Ok(ops)
}

/// The index rows of a document of a newer format than this build reads:
/// none of its content, only what keeps its space known and its devices
/// admitted — the space and its members, the envelope no format step may
/// change (ARCHITECTURE.md, "Format versions") — and the mark that it is
/// newer. It is stored and synced like any other document.
fn newer_index(d: &AutoCommit, key: &DocKey, f: doc::Format) -> Result<Vec<IndexOp>> {
    let mut ops = vec![IndexOp::Clear];
    if key.kind == DocKind::Roster {
        ops.push(IndexOp::Space(Space {
            id: key.space.clone(),
            name: doc::space_name(d).unwrap_or_default(),
        }));
        // Kept whatever else fails: the document must still be stored and
        // passed on.
        ops.extend(membership_index(d, &key.space).unwrap_or_default());
    }
    ops.push(IndexOp::Newer(Some(f.readable_from)));
    Ok(ops)
}

/// Every index row of a document.
pub(super) fn full_index(d: &AutoCommit, key: &DocKey) -> Result<Vec<IndexOp>> {
    full_index_from(d, key, Rows::Read)
}

/// Where a document's index takes its recipients (roster) or checks
/// (incident) from.
pub(super) enum Rows {
    /// Read from the loaded document.
    Read,
    /// Read from its saved form (`doc::WholeRows`): what it holds.
    Given(doc::WholeRows),
    /// Written already (`Store::stage_index`).
    Staged,
}

/// Every index row of a document, its recipients or checks from `rows`.
pub(super) fn full_index_from(d: &AutoCommit, key: &DocKey, rows: Rows) -> Result<Vec<IndexOp>> {
    let f = doc::format::format(d)?;
    if !f.readable() {
        return newer_index(d, key, f);
    }
    let mut ops = vec![IndexOp::Newer(None)];
    match &key.kind {
        DocKind::Roster => {
            ops.extend(roster_meta_index(d, &key.space)?);
            match rows {
                Rows::Staged => {}
                Rows::Given(doc::WholeRows::Recipients(rs)) => {
                    ops.extend(rs.into_iter().map(|r| IndexOp::recipient(r, Vec::new())));
                }
                _ => {
                    for (r, conflicts) in doc::recipients_with_conflicts(d)? {
                        ops.push(IndexOp::recipient(r, conflicts));
                    }
                }
            }
            ops.extend(parts_index(d, &key.kind, doc::Part::of(&key.kind))?);
        }
        DocKind::Incident(id) => {
            if let Some(i) = doc::incident(d, &key.space, id)? {
                ops.push(IndexOp::Incident(i));
            }
            let checks = match rows {
                Rows::Staged => Vec::new(),
                Rows::Given(doc::WholeRows::Checks(cs)) => cs,
                _ => doc::checks(d)?,
            };
            ops.extend(checks.into_iter().map(IndexOp::Check));
            let now = Timestamp::now();
            for c in doc::claims(d)? {
                ops.push(IndexOp::Claim(
                    format!("{}/{}", c.device, c.recipient),
                    c.judged(now),
                ));
            }
            ops.extend(parts_index(d, &key.kind, doc::Part::of(&key.kind))?);
        }
    }
    Ok(ops)
}

/// The index rows of the staff-side `parts` of a document of `kind`.
fn parts_index<'p>(
    d: &AutoCommit,
    kind: &DocKind,
    parts: impl IntoIterator<Item = &'p doc::Part>,
) -> Result<Vec<IndexOp>> {
    parts
        .into_iter()
        .filter(|p| doc::Part::of(kind).contains(p))
        .map(|p| Ok(IndexOp::Part(*p, p.read_json(d)?)))
        .collect()
}

/// The index rows of what a merge touched.
pub(super) fn touched_index(
    d: &AutoCommit,
    key: &DocKey,
    t: &doc::Touched,
) -> Result<Vec<IndexOp>> {
    // A format step (a root change) may have made the document one this
    // build cannot read, or it was already: nothing of it is read then.
    let f = doc::format::format(d)?;
    if !f.readable() {
        return newer_index(d, key, f);
    }
    let mut ops = Vec::new();
    match &key.kind {
        DocKind::Roster => {
            if t.meta {
                ops.extend(roster_meta_index(d, &key.space)?);
            }
            for id in &t.recipients {
                let rid = RecipientId(id.clone());
                match doc::recipient(d, &rid)? {
                    Some(r) => {
                        let conflicts = doc::recipient_conflicts(d, &rid)?;
                        ops.push(IndexOp::recipient(r, conflicts))
                    }
                    None => ops.push(IndexOp::RemoveRecipient(rid)),
                }
            }
        }
        DocKind::Incident(id) => {
            if t.meta
                && let Some(i) = doc::incident(d, &key.space, id)?
            {
                ops.push(IndexOp::Incident(i));
            }
            for ((bucket, id), written) in &t.checks {
                if let Some(check) = doc::touched_check(d, bucket, id, written.as_deref())? {
                    if check.id.to_string() != *id {
                        return Err(Error::sync(format!(
                            "peer stored check {} under the key {id:?}",
                            check.id
                        )));
                    }
                    ops.push(IndexOp::Check(check));
                }
            }
            let now = Timestamp::now();
            for k in &t.claims {
                match doc::claim(d, k)? {
                    // Judged by this device's clock: a phone whose clock runs
                    // ahead must not keep everyone away for a year.
                    Some(c) => ops.push(IndexOp::Claim(k.clone(), c.judged(now))),
                    None => ops.push(IndexOp::RemoveClaim(k.clone())),
                }
            }
        }
    }
    ops.extend(parts_index(d, &key.kind, &t.parts)?);
    Ok(ops)
}
