//! Records checks in a loop and prints each check's id once `record_check`
//! has returned, i.e. once the node reported it saved. The durability test
//! kills this process with SIGKILL at random moments and then requires every
//! printed id to be in the store.
//!
//! Usage: anpi-check-writer DB_PATH [--encrypted]
//!
//! `--encrypted` opens the store as devices do, with SQLCipher
//! ([`anpi_tests::open_store`]).

use std::io::Write;
use std::path::PathBuf;

use anpi_core::model::{CheckMethod, CheckResult, IncidentKind, Recipient, RecipientId, Timestamp};
use anpi_core::node::{NewCheck, Node};

const RECIPIENTS: usize = 50;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: anpi-check-writer DB_PATH [--encrypted]")?,
    );
    let encrypted = match args.next().as_deref() {
        None => false,
        Some("--encrypted") => true,
        Some(other) => return Err(format!("unknown argument {other}").into()),
    };
    let store = anpi_tests::open_store(&path, encrypted)?;
    let mut node = Node::open(store)?;
    let space = match node.spaces()?.pop() {
        Some(s) => s.id,
        None => {
            let s = node.create_space("耐久試験")?.id;
            let roster = (0..RECIPIENTS)
                .map(|i| Recipient {
                    id: RecipientId(format!("R{i:03}")),
                    name: format!("利用者{i}"),
                    ..Default::default()
                })
                .collect();
            node.upsert_recipients(&s, roster)?;
            s
        }
    };
    let onset = Timestamp::from_millis(1_795_000_000_000);
    let incident = node
        .start_incident(&space, IncidentKind::Earthquake, "試験", onset)?
        .id;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in 0u64.. {
        let recipient = RecipientId(format!("R{:03}", i as usize % RECIPIENTS));
        let check = node.record_check(
            &space,
            &incident,
            NewCheck::new(recipient, CheckMethod::Visit, CheckResult::Safe),
        )?;
        writeln!(out, "{}", check.id)?;
        out.flush()?;
        if i % 97 == 96 {
            // Compaction rewrites the document: kills land in it too.
            node.maintain()?;
        }
    }
    Ok(())
}
