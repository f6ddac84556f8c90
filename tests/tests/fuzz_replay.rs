//! Every input under `fuzz/crashes/` (crashes the fuzzer once found, and
//! hand-made hostile inputs) goes through the fuzzed code again: none may
//! panic.

use std::path::Path;

#[test]
fn every_committed_crash_input_is_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/crashes");
    let mut replayed = 0;
    for target in std::fs::read_dir(&root).expect("fuzz/crashes exists") {
        let target = target.expect("entry").path();
        for input in std::fs::read_dir(&target).expect("a target folder") {
            let input = input.expect("entry").path();
            let bytes = std::fs::read(&input).expect("read input");
            let outcome = std::panic::catch_unwind(|| anpi_tests::feed_untrusted(&bytes));
            assert!(outcome.is_ok(), "{} panics", input.display());
            replayed += 1;
        }
    }
    assert!(
        replayed >= 5,
        "only {replayed} inputs found under {}",
        root.display()
    );
}
