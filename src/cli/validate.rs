//! `shoplake validate FILE`: the upload's dry run over a local file, without a lake — no
//! database, no storage, nothing written but scratch files that are gone before it answers.
//! Prints a short summary and the row errors (or the API's JSON); succeeds only when an upload
//! of the file would be accepted.

use super::{usage, CliError};
use crate::config::Settings;
use crate::domain::{SalesDate, UploadStatus};
use crate::http::CheckReportDto;
use crate::pipeline::{check_offline, CheckReport, PipelineError};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Output formats of `shoplake validate`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ValidateFormat {
    /// A short summary, then the row errors as a table.
    Text,
    /// The JSON a dry run (`?dry_run=true`) answers.
    Json,
}

/// Checks `file` for the shop-day `date` (else the one its name gives) with the configured
/// schema and limits; prints the report. `Ok(true)` when an upload would be accepted.
pub async fn run(
    settings: &Settings,
    file: &Path,
    date: Option<&str>,
    format: ValidateFormat,
) -> Result<bool, CliError> {
    let date = shop_day(file, date)?;
    let options = Arc::new(crate::app::ingest_options(settings).map_err(|e| CliError { code: 2, error: e })?);
    let mut body =
        tokio::fs::File::open(file).await.map_err(|e| usage(format!("cannot open {}: {e}", file.display())))?;
    let filename = file.file_name().map(|n| n.to_string_lossy().into_owned());
    let scratch = std::env::temp_dir();
    let report = match check_offline(&mut body, date, filename, &options, &scratch, settings.max_upload_bytes).await {
        Ok(report) => report,
        Err(too_large @ PipelineError::TooLarge { .. }) => {
            return Err(CliError { code: 1, error: anyhow::anyhow!("the file would be refused: {too_large}") })
        }
        Err(other) => return Err(anyhow::Error::from(other).context("the check could not run").into()),
    };
    let accepted = report.status == UploadStatus::Succeeded;
    let mut out = std::io::stdout().lock();
    let printed = match format {
        ValidateFormat::Json => serde_json::to_writer_pretty(&mut out, &CheckReportDto::from(report))
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        ValidateFormat::Text => print_text(&report, &mut out),
    };
    printed.map_err(|e| anyhow::anyhow!("cannot print the report: {e}"))?;
    Ok(accepted)
}

/// The shop-day: `--date`, else the file's name when it is `YYYY-MM-DD.csv[.gz]`.
fn shop_day(file: &Path, date: Option<&str>) -> Result<SalesDate, CliError> {
    if let Some(date) = date {
        return SalesDate::parse(date).map_err(|e| usage(format!("--date: {e}")));
    }
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    name.strip_suffix(".csv.gz")
        .or_else(|| name.strip_suffix(".csv"))
        .and_then(|stem| SalesDate::parse(stem).ok())
        .ok_or_else(|| usage(format!("give the shop-day with --date YYYY-MM-DD ({name} is not named YYYY-MM-DD.csv)")))
}

/// The human summary: the verdict, the counts, what the table would gain, then the row errors.
fn print_text(report: &CheckReport, out: &mut impl Write) -> std::io::Result<()> {
    let name = report.filename.as_deref().unwrap_or("the file");
    match &report.problem {
        Some(problem) => writeln!(out, "{name} ({}): would be REJECTED: {problem}", report.date)?,
        None => writeln!(out, "{name} ({}): would be accepted", report.date)?,
    }
    let read_as = match (report.encoding, report.delimiter) {
        (Some(encoding), Some(delimiter)) => format!(" (read as {encoding}, delimiter '{delimiter}')"),
        _ => String::new(),
    };
    writeln!(
        out,
        "{} rows: {} accepted, {} rejected; {} bytes{read_as}",
        report.rows_total, report.rows_accepted, report.rows_rejected, report.bytes
    )?;
    if !report.new_columns.is_empty() {
        let columns: Vec<String> = report.new_columns.iter().map(|c| format!("{} ({})", c.name, c.data_type)).collect();
        writeln!(out, "columns beyond the table schema: {}", columns.join(", "))?;
        writeln!(out, "(the lake's table may have some of them already; `?dry_run=true` on the API checks it)")?;
    }
    if report.errors.is_empty() {
        return Ok(());
    }
    let shown = report.errors.len() as u64;
    if report.rows_rejected > shown {
        writeln!(out, "first {shown} row errors:")?;
    }
    writeln!(out, "{:>6}  {:<16} {:<20} reason", "line", "column", "value")?;
    for error in &report.errors {
        writeln!(
            out,
            "{:>6}  {:<16} {:<20} {}",
            error.line,
            error.column.as_deref().unwrap_or("-"),
            error.value.as_deref().unwrap_or("-"),
            error.reason
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_day_comes_from_the_date_flag_or_else_from_the_file_name() {
        let day = |file: &str, date: Option<&str>| shop_day(Path::new(file), date).map(|d| d.to_string()).ok();
        assert_eq!(day("exports/2025-07-30.csv", None).as_deref(), Some("2025-07-30"));
        assert_eq!(day("2025-07-30.csv.gz", None).as_deref(), Some("2025-07-30"));
        assert_eq!(day("sales.csv", Some("2025-07-31")).as_deref(), Some("2025-07-31"));
        assert_eq!(day("sales.csv", None), None, "no date anywhere is a usage error");
        assert_eq!(day("2025-07-30.csv", Some("30/07/2025")), None, "a bad --date is a usage error");
    }
}
