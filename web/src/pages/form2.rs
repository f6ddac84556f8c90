//! 様式2: the printable A4 form and its CSV (UTF-8 with BOM, or CP932), made
//! and audited by the core (`Node::export_form2`): every export names the
//! person logged in and where it went.

use anpi_core::io::form2::{self, CsvEncoding, Format};
use axum::http::header;

use super::*;

/// `GET /form2`.
pub(crate) async fn form2_page(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| {
            let name = space_name(n, space)?;
            let incident = n.shown_incident(space)?;
            Ok(Form2Page {
                c: Chrome::new(l, l.t("様式2", "Form 2"), name, "/form2"),
                incident: incident.map(|i| i.name),
                recipients: n.store().recipient_list(space)?.len(),
            })
        })
        .await;
    respond(cur, result)
}

#[derive(Deserialize)]
pub(crate) struct ExportForm {
    csrf: String,
    /// `html`, `csv-utf8` or `csv-cp932`.
    format: String,
    /// `care_manager` or `area`.
    #[serde(default)]
    group: String,
}

/// `POST /form2/export`: the form for printing (opens in its own tab), or
/// the CSV as a download. A POST with the form token: an export is written
/// to the audit trail, and no other site can make one happen.
pub(crate) async fn export(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<ExportForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let (format, to) = match f.format.as_str() {
        "html" => (Format::Html, "dashboard: print view"),
        "csv-utf8" => (
            Format::Csv(CsvEncoding::Utf8Bom),
            "dashboard: CSV download (UTF-8)",
        ),
        "csv-cp932" => (
            Format::Csv(CsvEncoding::Cp932),
            "dashboard: CSV download (CP932)",
        ),
        other => {
            let e = Error::Invalid(format!("format {other:?}: html, csv-utf8 or csv-cp932"));
            let r = failure(&cur, &e);
            return cur.finish(r);
        }
    };
    let group = if f.group == "area" {
        form2::GroupBy::Area
    } else {
        form2::GroupBy::CareManager
    };
    let result = d
        .with_node(&cur, move |n, space| {
            n.export_form2(space, format, group, to, Timestamp::now())
        })
        .await;
    let export = match result {
        Ok(x) => x,
        Err(e) => {
            let r = failure(&cur, &e);
            return cur.finish(r);
        }
    };
    let r = match format {
        Format::Html => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                // The form is a document of its own with its print styles
                // inline, and no script at all.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                     form-action 'none'; frame-ancestors 'none'"
                        .to_string(),
                ),
            ],
            export.bytes,
        )
            .into_response(),
        Format::Csv(encoding) => {
            let day = Timestamp::now().jst().format("%Y%m%d");
            let suffix = match encoding {
                CsvEncoding::Utf8Bom => "utf8",
                CsvEncoding::Cp932 => "sjis",
            };
            let charset = match encoding {
                CsvEncoding::Utf8Bom => "utf-8",
                CsvEncoding::Cp932 => "shift_jis",
            };
            (
                [
                    (header::CONTENT_TYPE, format!("text/csv; charset={charset}")),
                    (
                        header::CONTENT_DISPOSITION,
                        // 様式2 in the name, percent-encoded (RFC 6266), with
                        // an ASCII name for old browsers.
                        format!(
                            "attachment; filename=\"form2_{day}_{suffix}.csv\"; filename*=UTF-8''%E6%A7%98%E5%BC%8F2_{day}_{suffix}.csv"
                        ),
                    ),
                ],
                export.bytes,
            )
                .into_response()
        }
    };
    cur.finish(r)
}
