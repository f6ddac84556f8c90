//! The printable 様式2 rendered by headless Chromium: A4 landscape pages, one
//! group (care manager) starting on its own page, Japanese text and the ㊙
//! mark on the first page. `scripts/test` installs chromium, poppler-utils and
//! a Japanese font when they are missing.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: run scripts/test (it installs chromium, poppler-utils and \
         fonts-ipafont-gothic), or apt-get install them"
    );
}

/// Render an HTML file to PDF with headless Chromium, never touching the
/// network.
pub fn render_pdf(html: &Path, pdf: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success() && pdf.exists(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pdf_pages(pdf: &Path) -> usize {
    let info = Command::new("pdfinfo").arg(pdf).output().unwrap();
    let text = String::from_utf8_lossy(&info.stdout).into_owned();
    assert!(text.contains("(A4)"), "not A4: {text}");
    let size = text.lines().find(|l| l.starts_with("Page size:")).unwrap();
    let dims: Vec<f64> = size
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(dims[0] > dims[1], "not landscape: {size}");
    text.lines()
        .find(|l| l.starts_with("Pages:"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap()
}

fn page_text(pdf: &Path, page: usize) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout", "-f", &page.to_string(), "-l", &page.to_string()])
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn form2_prints_on_a4_landscape_one_care_manager_per_page_group() {
    for tool in ["chromium", "pdfinfo", "pdftotext"] {
        need(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Command::new(env!("CARGO_BIN_EXE_anpi"))
        .args(["demo", "--keep"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let html = dir.path().join("form2.html");
    let text = std::fs::read_to_string(&html).unwrap();
    let groups = text.matches("<section class=\"group\">").count();
    assert_eq!(groups, 5, "the demo roster has five care managers");

    let pdf = dir.path().join("form2.pdf");
    render_pdf(&html, &pdf);
    let pages = pdf_pages(&pdf);
    // 200 recipients, 40 per care manager: each group needs at least one
    // page of its own, and no group should need more than four.
    assert!(
        (groups..=groups * 4).contains(&pages),
        "{pages} pages for {groups} groups"
    );

    let first = page_text(&pdf, 1);
    assert!(first.contains("様式2 災害時利用者一覧表"), "{first}");
    assert!(first.contains("秘"), "{first}");
    assert!(first.contains("担当ケアマネ"), "{first}");
    assert!(first.contains("令和"), "{first}");
    // Every group starts on a new page: the header with its name appears
    // exactly once per group across the document.
    let all: String = (1..=pages).map(|p| page_text(&pdf, p)).collect();
    assert_eq!(all.matches("担当ケアマネ: ").count(), groups, "{all}");
}
