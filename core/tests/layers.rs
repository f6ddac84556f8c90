//! The layers hold: every module of `core/src` imports only the modules
//! ARCHITECTURE.md's arrows allow it, and no two modules import each other
//! round a loop. The arrows are the block under "Arrows inside core" there,
//! one module a line: `node -> audit, doc, ...`.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

const MARKER: &str = "<!-- arrows inside core: checked by core/tests/layers.rs -->";

/// The arrows as ARCHITECTURE.md draws them.
fn allowed(architecture: &str) -> Graph {
    let start = architecture
        .find(MARKER)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no line {MARKER}"));
    let block = &architecture[start..];
    let open = block.find("```").expect("a fenced block after the marker");
    let body = &block[open + 3..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let body = &body[..body.find("```").expect("the block's end")];
    let mut arrows = Graph::new();
    for (n, line) in body.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (module, uses) = line.split_once("->").unwrap_or_else(|| {
            panic!(
                "ARCHITECTURE.md arrows, line {}: no '->' in {line:?}",
                n + 1
            )
        });
        let uses = uses
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        arrows.insert(module.trim().to_string(), uses);
    }
    arrows
}

/// `src` without its inline test module (`#[cfg(test)] mod tests { … }`),
/// up to the brace that closes it: code after it is still read.
fn without_test_module(src: &str) -> String {
    let Some(start) = src.find("#[cfg(test)]\nmod tests {") else {
        return src.to_string();
    };
    let body = start + src[start..].find('{').unwrap_or(0);
    let mut depth = 0usize;
    for (i, c) in src[body..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return format!("{}{}", &src[..start], &src[body + i + 1..]);
                }
            }
            _ => {}
        }
    }
    src[..start].to_string()
}

/// The modules `src` names with `crate::`, outside comments and tests.
fn imports(src: &str) -> BTreeSet<String> {
    let src = without_test_module(src);
    let code: String = src
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::{c, d}}`: the names at the group's top level.
            let mut depth = 1;
            let mut name = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => {
                        at_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && at_start {
                    if c.is_alphanumeric() || c == '_' {
                        name.push(c);
                        continue;
                    }
                    if !name.is_empty() {
                        out.insert(std::mem::take(&mut name));
                        at_start = false;
                    }
                }
            }
            if !name.is_empty() {
                out.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    // lib.rs re-exports the error module's two types at the crate root.
    let re_exported = ["Error", "Result"]
        .iter()
        .filter(|t| out.remove(**t))
        .count();
    if re_exported > 0 {
        out.insert("error".into());
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(rust_files(&p));
        } else if p.file_name().is_some_and(|n| n == "tests.rs") {
            // A module's tests in a file of their own (`#[cfg(test)] mod
            // tests;`), like inline ones, may use anything.
            continue;
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
    files
}

/// Each top-level module of `src` (a file or a folder) and what it imports.
fn actual(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" {
            continue;
        }
        let files = if p.is_dir() {
            rust_files(&p)
        } else {
            vec![p.clone()]
        };
        let mut uses = BTreeSet::new();
        for f in files {
            uses.extend(imports(&std::fs::read_to_string(f).unwrap()));
        }
        uses.remove(&name);
        graph.insert(name, uses);
    }
    graph
}

/// A loop in `graph`, as the path round it, if there is one.
fn a_loop(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        at: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == at) {
            let mut round = path[i..].to_vec();
            round.push(at.to_string());
            return Some(round);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_string());
        for next in graph.get(at).into_iter().flatten() {
            if let Some(round) = visit(graph, next, path, done) {
                return Some(round);
            }
        }
        path.pop();
        done.insert(at.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

/// Every way `actual` breaks `allowed`, one line each.
fn breaches(allowed: &Graph, actual: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (module, uses) in actual {
        let Some(may) = allowed.get(module) else {
            out.push(format!(
                "core/src/{module}: not in ARCHITECTURE.md's arrows (add a line `{module} -> …`)"
            ));
            continue;
        };
        for u in uses.difference(may) {
            out.push(format!(
                "core/src/{module} imports crate::{u}, which ARCHITECTURE.md's arrows do not allow ({module} -> {})",
                may.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    for module in allowed.keys().filter(|m| !actual.contains_key(*m)) {
        out.push(format!(
            "ARCHITECTURE.md's arrows name {module}, which core/src does not have"
        ));
    }
    for (graph, whose) in [(actual, "core/src"), (allowed, "ARCHITECTURE.md's arrows")] {
        if let Some(round) = a_loop(graph) {
            out.push(format!("an import loop in {whose}: {}", round.join(" -> ")));
        }
    }
    out
}

#[test]
fn core_modules_import_only_what_the_arrows_allow_and_no_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("../ARCHITECTURE.md")).unwrap();
    let found = breaches(&allowed(&architecture), &actual(&root.join("src")));
    assert!(found.is_empty(), "\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_wrong_import_a_loop_and_a_grouped_use() {
    let arrows = allowed(&format!(
        "{MARKER}\n```text\nviews -> model\nmodel ->\ndoc -> model, views\n```\n"
    ));
    assert_eq!(
        imports("use crate::{doc::X, model::{A, B}};\nuse crate::Result;\n// crate::net\n"),
        ["doc", "error", "model"].map(String::from).into()
    );
    // A test module's imports do not count; code after it does.
    assert_eq!(
        imports(
            "use crate::model::A;\n#[cfg(test)]\nmod tests {\n    fn f() { use crate::store::S; }\n}\nuse crate::net::N;\n"
        ),
        ["model", "net"].map(String::from).into()
    );
    let mut graph: Graph = arrows.clone();
    assert!(breaches(&arrows, &graph).is_empty());
    graph.get_mut("views").unwrap().insert("doc".into());
    let found = breaches(&arrows, &graph);
    assert!(
        found[0].contains("core/src/views imports crate::doc"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("loop") && f.contains("doc -> views -> doc")),
        "{found:?}"
    );
}
