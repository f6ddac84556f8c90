//! Documents a peer sends whole that are new to this device (a new
//! phone's first sync): loaded, judged and indexed side by side before
//! the session takes them (ARCHITECTURE.md, "Sync").

use super::*;

impl Node {
    /// The documents of a peer's message that arrive whole and are new
    /// here, loaded, judged and indexed side by side: a new device's first
    /// sync takes the roster and the incident at once, and at 50,000
    /// recipients the roster's load alone is half of it (BENCHMARKS.md,
    /// issue 16). One worker per core takes the next task: the roster's
    /// load, then the readings of the saved forms (`doc::read_whole`: the
    /// structure check and the recipients or checks), then the other
    /// loads. Meanwhile this thread writes the rows each reading gives
    /// (`Store::stage_index`) within the session's transaction, beside the
    /// roster's load. Whatever fails here is left to the
    /// one-by-one path, which reports it; rows staged for a document that
    /// is then not taken as it was read are taken back.
    pub(super) fn prepare_new_documents(
        &mut self,
        session: &Session,
        docs: &[DocEntry],
    ) -> Result<HashMap<String, Prepared>> {
        let mut new = Vec::new();
        for entry in docs {
            let (sync::Data::Snapshot(bytes), Ok(key)) = (&entry.data, entry.doc.parse::<DocKey>())
            else {
                continue;
            };
            if !self.has_doc(&key)? && self.may_take(session, &key)? {
                new.push((entry.doc.clone(), key, bytes));
            }
        }
        if new.len() < 2 {
            // Nothing to do side by side.
            return Ok(HashMap::new());
        }
        // Rosters first (one map per recipient: the slowest load for its
        // size), then the largest.
        new.sort_by_key(|(_, key, bytes)| {
            (key.kind != DocKind::Roster, std::cmp::Reverse(bytes.len()))
        });
        enum Done {
            Loaded(usize, Option<Box<AutoCommit>>),
            Read(usize, Option<doc::Reading>),
        }
        // The slowest load first; then every reading, so that this thread
        // writes their rows while that load runs; then the other loads.
        let order: Vec<(usize, bool)> = std::iter::once((0, false))
            .chain((0..new.len()).map(|i| (i, true)))
            .chain((1..new.len()).map(|i| (i, false)))
            .collect();
        let tasks = order.len();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism()
            .map_or(2, std::num::NonZero::get)
            .clamp(2, tasks);
        let mut loaded: Vec<Option<AutoCommit>> = new.iter().map(|_| None).collect();
        let mut readings: Vec<Option<doc::Reading>> = new.iter().map(|_| None).collect();
        let mut rows: Vec<Rows> = new.iter().map(|_| Rows::Read).collect();
        let stages = self.store.stages_index();
        std::thread::scope(|scope| {
            let (done, finished) = std::sync::mpsc::channel();
            for _ in 0..workers {
                let done = done.clone();
                let (new, next, order) = (&new, &next, &order);
                scope.spawn(move || {
                    loop {
                        let t = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if t >= tasks {
                            return;
                        }
                        let (i, read) = order[t];
                        let (_, key, bytes) = &new[i];
                        let d = if read {
                            Done::Read(i, doc::read_whole(&key.kind, bytes))
                        } else {
                            // A peer's bytes that make automerge panic are
                            // left to the one-by-one path, which reports them.
                            Done::Loaded(
                                i,
                                std::panic::catch_unwind(|| sync::load_document(bytes).ok())
                                    .ok()
                                    .flatten()
                                    .map(Box::new),
                            )
                        };
                        if done.send(d).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done);
            for d in finished {
                match d {
                    Done::Loaded(i, l) => loaded[i] = l.map(|d| *d),
                    Done::Read(i, mut r) => {
                        let given = r.as_mut().and_then(doc::Reading::take_rows);
                        rows[i] = match given {
                            Some(given) if stages => {
                                let key = &new[i].1;
                                match self.store.stage_index(key, &row_ops(given)) {
                                    Ok(()) => {
                                        #[cfg(test)]
                                        STAGED.with(|n| n.set(n.get() + 1));
                                        Rows::Staged
                                    }
                                    // Nothing staged: the rows from the
                                    // loaded document instead.
                                    Err(_) => Rows::Read,
                                }
                            }
                            Some(given) => Rows::Given(given),
                            None => Rows::Read,
                        };
                        readings[i] = r;
                    }
                }
            }
        });
        let mut out = HashMap::new();
        for (i, (name, key, _)) in new.into_iter().enumerate() {
            let rows = std::mem::replace(&mut rows[i], Rows::Read);
            let staged = matches!(rows, Rows::Staged);
            let ready = loaded[i]
                .take()
                .and_then(|doc| prepared(doc, &key, readings[i].take(), rows).ok());
            match ready {
                Some(p) => {
                    out.insert(name, p);
                }
                None if staged => self.unstage(&key)?,
                None => {}
            }
        }
        Ok(out)
    }

    /// Take back the rows staged for a document that is not taken as it
    /// was read (see [`Node::prepare_new_documents`]).
    pub(super) fn unstage(&mut self, key: &DocKey) -> Result<()> {
        self.store.stage_index(key, &[IndexOp::ClearRows])
    }
}

#[cfg(test)]
thread_local! {
    /// How many documents' rows this thread staged (a test's witness that
    /// the path ran).
    pub(super) static STAGED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The rows a reading gives, as index rows.
fn row_ops(rows: doc::WholeRows) -> Vec<IndexOp> {
    match rows {
        doc::WholeRows::Recipients(rs) => rs
            .into_iter()
            .map(|r| IndexOp::recipient(r, Vec::new()))
            .collect(),
        doc::WholeRows::Checks(cs) => cs.into_iter().map(IndexOp::Check).collect(),
    }
}

/// A document that arrived whole and loaded (`doc`), with what the reading
/// of its saved form found, made ready to take: whether it all fits, and
/// its index rows — the recipients or checks as `rows` says (read from
/// the saved form: only when the reading is confirmed), the rest from the
/// document, then what the changes saved after the document touched.
/// A reading that is not confirmed leaves staged rows to be taken back.
fn prepared(
    doc: AutoCommit,
    key: &DocKey,
    reading: Option<doc::Reading>,
    rows: Rows,
) -> Result<Prepared> {
    let staged = matches!(rows, Rows::Staged);
    let Some(reading) = reading.filter(|r| r.confirmed_by(&doc, &key.kind)) else {
        if staged {
            return Err(Error::sync(
                "the reading of the saved form was not confirmed",
            ));
        }
        let index = full_index(&doc, key)?;
        return Ok(Prepared {
            doc,
            index,
            fits: false,
            staged,
        });
    };
    let mut index = full_index_from(&doc, key, rows)?;
    if !reading.trailing().is_empty() {
        let touched = doc::touched_by(&doc, reading.trailing())?;
        index.extend(touched_index(&doc, key, &touched)?);
    }
    Ok(Prepared {
        doc,
        index,
        fits: true,
        staged,
    })
}

/// A document that arrived whole, loaded and indexed ahead of taking it.
pub(super) struct Prepared {
    pub(super) doc: AutoCommit,
    pub(super) index: Vec<IndexOp>,
    /// Whether all of it fits the document's shape (`doc::whole_fits`).
    pub(super) fits: bool,
    /// Whether its recipients or checks are written already (and so not
    /// in `index`): taken back if it is not taken whole.
    pub(super) staged: bool,
}
