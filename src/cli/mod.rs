//! Command line: `serve`, `token`, `migrate`, `ingest`, `validate`, `sql`, `crawl`, `openapi`; exit
//! code 2 for bad configuration and usage, 1 for failures (and for `ingest` and `validate` when a
//! file was not, or would not be, accepted).

mod ingest;
mod validate;

use crate::app::{shutdown_signal, Application, Backends};
use crate::auth::Keys;
use crate::config::{self, ConfigError, Settings};
use crate::domain::{Role, ShopId};
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// shoplake: the ingestion front door of a retail sales data lake.
#[derive(Debug, Parser)]
#[command(name = "shoplake", version, about)]
pub struct Cli {
    /// Configuration file (default: ./shoplake.toml when it exists).
    #[arg(long, global = true, env = "SHOPLAKE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API.
    Serve {
        /// Listen address (overrides SHOPLAKE_LISTEN).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Print a token signed with the configured key.
    Token {
        /// shop, analyst or admin.
        #[arg(long)]
        role: String,
        /// The shop (required for role shop).
        #[arg(long)]
        shop_id: Option<String>,
        /// Lifetime, like 30d, 12h, 15m or 3600s.
        #[arg(long, default_value = "30d")]
        ttl: String,
        /// Subject claim (who the token is for).
        #[arg(long)]
        sub: Option<String>,
        /// Print a browser sign-in link to this service instead (`BASE_URL/ui/#token=...`; the
        /// token travels in the fragment, which browsers never send to the server).
        #[arg(long, value_name = "BASE_URL")]
        link: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Ingest local files through the same pipeline as the API (no HTTP).
    #[command(group = clap::ArgGroup::new("source").required(true).args(["files", "dir"]))]
    Ingest {
        /// The shop of FILE... (with --date).
        #[arg(long, requires = "date", requires = "files")]
        shop: Option<String>,
        /// The shop-day of FILE..., YYYY-MM-DD (with --shop).
        #[arg(long, requires = "shop")]
        date: Option<String>,
        /// A tree laid out as DIR/<shop>/<YYYY-MM-DD>.csv[.gz] (`shop_001`, `shop_id=001` or `001`).
        #[arg(long, conflicts_with_all = ["shop", "date"])]
        dir: Option<PathBuf>,
        /// Files processed at once (default: the number of CPUs).
        #[arg(long)]
        jobs: Option<usize>,
        /// CSV files of one shop-day.
        files: Vec<PathBuf>,
    },
    /// Check a file as an upload would (same schema, limits and row rules), storing nothing:
    /// exit code 0 when it would be accepted, 1 when it would be rejected.
    Validate {
        /// The shop-day, YYYY-MM-DD (default: from a file named YYYY-MM-DD.csv[.gz]).
        #[arg(long)]
        date: Option<String>,
        /// Output: a short summary and the row errors, or the JSON of a dry run on the API.
        #[arg(long, value_enum, default_value = "text")]
        format: validate::ValidateFormat,
        /// The CSV (or .csv.gz) file.
        file: PathBuf,
    },
    /// Run read-only SQL on the embedded engine over the same data directory.
    Sql {
        /// The statement, e.g. "SELECT count(*) FROM sales_processed".
        sql: String,
        /// Output: an aligned table, CSV, or the API's JSON.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
    },
    /// Rebuild the catalog from processed/ (Parquet footers only) and report what changed.
    Crawl,
    /// Create the Glue crawler named by SHOPLAKE_GLUE_CRAWLER over processed/, with the settings
    /// that avoid a crawler's known traps (one table, new folders only, partitions inherit the
    /// table's schema); needs SHOPLAKE_CATALOG=glue.
    GlueSetup {
        /// ARN of the IAM role the crawler runs as.
        #[arg(long)]
        role: String,
    },
    /// Print the OpenAPI document.
    Openapi,
}

/// Output formats of `shoplake sql`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SqlFormat {
    /// Aligned columns.
    Table,
    /// CSV with a header line.
    Csv,
    /// The JSON of `POST /v1/query`.
    Json,
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct CliError {
    /// Process exit code: 2 for configuration and usage, 1 otherwise.
    pub code: u8,
    /// The error.
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        let code = if error.is::<ConfigError>() { 2 } else { 1 };
        Self { code, error }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let mut settings = load_settings(cli.config.as_ref())?;
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                settings.listen = listen
                    .parse()
                    .map_err(|_| usage(format!("--listen '{listen}': expected an address like 127.0.0.1:8080")))?;
            }
            crate::telemetry::init(settings.log_format, "info,tower_http=info,sqlx=warn");
            let app = Application::build(settings).await?;
            app.run_until_stopped(shutdown_signal()).await?;
        }
        Command::Token { role, shop_id, ttl, sub, link } => {
            crate::telemetry::init(settings.log_format, "warn");
            let role = Role::parse(&role).map_err(|e| usage(e.0))?;
            let shop = shop_id.as_deref().map(ShopId::parse).transpose().map_err(|e| usage(e.0))?;
            if role == Role::Shop && shop.is_none() {
                return Err(usage("--role shop needs --shop-id".into()));
            }
            let ttl_secs = parse_ttl(&ttl)
                .ok_or_else(|| usage(format!("--ttl '{ttl}': expected a duration like 30d, 12h, 15m or 3600s")))?;
            let keys = Keys::from_settings(&settings.key_settings()).map_err(anyhow::Error::from)?;
            if let Some(path) = &keys.generated_secret_at {
                eprintln!("generated a development JWT secret at {}", path.display());
            }
            let subject = sub.unwrap_or_else(|| match &shop {
                Some(shop) => format!("shop-{shop}"),
                None => role.as_str().to_owned(),
            });
            let token = keys.sign(&subject, role, shop.as_ref(), ttl_secs).map_err(anyhow::Error::from)?;
            match link {
                Some(base) => println!("{}/ui/#token={token}", base.trim_end_matches('/')),
                None => println!("{token}"),
            }
        }
        Command::Migrate => {
            crate::telemetry::init(settings.log_format, "info,sqlx=warn");
            Backends::open(&settings).await?;
            eprintln!("migrations applied to {}", crate::app::redact_url(&settings.database_url));
        }
        Command::Ingest { shop, date, dir, jobs, files } => {
            crate::telemetry::init(settings.log_format, "warn");
            let work = match (&dir, &shop, &date) {
                (Some(dir), _, _) => ingest::jobs_from_dir(dir),
                (None, Some(shop), Some(date)) => ingest::jobs_from_files(shop, date, &files),
                _ => return Err(usage("give --shop and --date with FILE..., or --dir DIR".into())),
            }
            .map_err(|e| CliError { code: 2, error: e })?;
            let backends = Backends::open(&settings).await?;
            let pipeline = backends.pipeline(&settings, Default::default())?;
            let parallel = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            if !ingest::run(&pipeline, work, parallel).await? {
                return Err(CliError {
                    code: 1,
                    error: anyhow::anyhow!("some files were not accepted (see the table above)"),
                });
            }
        }
        Command::Validate { date, format, file } => {
            crate::telemetry::init(settings.log_format, "warn");
            if !validate::run(&settings, &file, date.as_deref(), format).await? {
                return Err(CliError { code: 1, error: anyhow::anyhow!("the file would be rejected") });
            }
        }
        Command::Sql { sql, format } => {
            crate::telemetry::init(settings.log_format, "warn");
            let backends = Backends::open(&settings).await?;
            let engine = crate::app::sql_engine(&settings, &backends).await?;
            let output = engine.execute(&sql).await.map_err(anyhow::Error::from)?;
            match format {
                SqlFormat::Table => {
                    let table =
                        arrow::util::pretty::pretty_format_batches(&output.batches).map_err(anyhow::Error::from)?;
                    println!("{table}");
                }
                SqlFormat::Csv => {
                    crate::query::write_csv(&output, std::io::stdout().lock()).map_err(anyhow::Error::from)?
                }
                SqlFormat::Json => println!("{}", crate::query::to_json(&output)),
            }
            let stats = &output.stats;
            eprintln!(
                "{} rows{} in {:.1} ms; {} partitions, {} files, {} bytes scanned",
                stats.rows_returned,
                if output.truncated { " (truncated)" } else { "" },
                stats.elapsed_ms as f64,
                stats.partitions_scanned,
                stats.files_scanned,
                stats.bytes_scanned
            );
        }
        Command::GlueSetup { role } => {
            crate::telemetry::init(settings.log_format, "warn");
            let crate::config::CatalogKind::Glue { database, crawler: Some(crawler) } = &settings.catalog else {
                return Err(anyhow::anyhow!(
                    "glue-setup needs SHOPLAKE_CATALOG=glue, SHOPLAKE_GLUE_DATABASE and SHOPLAKE_GLUE_CRAWLER"
                )
                .into());
            };
            let backends = Backends::open(&settings).await?;
            let path = backends.store.url_of(crate::storage::layout::PROCESSED_PREFIX);
            let glue = crate::catalog::GlueCatalog::connect(database).await;
            match crate::catalog::glue_crawler::create_crawler(glue.client(), crawler, database, &path, &role).await {
                Ok(true) => println!("created crawler {crawler} over {path} into database {database}"),
                Ok(false) => println!("crawler {crawler} exists already; left unchanged"),
                Err(error) => return Err(anyhow::anyhow!("could not create crawler {crawler}: {error}").into()),
            }
        }
        Command::Crawl => {
            crate::telemetry::init(settings.log_format, "warn");
            let backends = Backends::open(&settings).await?;
            let report = crate::catalog::crawl::crawl(&backends.store, &backends.catalog, crate::catalog::SALES_TABLE)
                .await
                .map_err(anyhow::Error::from)?;
            for (label, paths) in [("added", &report.added), ("changed", &report.changed), ("missing", &report.missing)]
            {
                for path in paths {
                    println!("{label:<8} {path}");
                }
            }
            println!(
                "{} added, {} changed, {} missing, {} unchanged; {} columns; {} ms",
                report.added.len(),
                report.changed.len(),
                report.missing.len(),
                report.unchanged,
                report.columns.len(),
                report.elapsed_ms
            );
        }
        Command::Openapi => {
            print!("{}", crate::http::openapi_json());
        }
    }
    Ok(())
}

/// Reads the config file (explicit, or ./shoplake.toml if present) and the process environment.
fn load_settings(path: Option<&PathBuf>) -> Result<Settings, CliError> {
    let text =
        match path {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                usage(format!("invalid configuration: cannot read config file {}: {e}", path.display()))
            })?),
            None => std::fs::read_to_string("shoplake.toml").ok(),
        };
    let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("SHOPLAKE_")).collect();
    config::load(text.as_deref(), &env).map_err(|e| CliError { code: 2, error: e.into() })
}

fn usage(message: String) -> CliError {
    CliError { code: 2, error: anyhow::anyhow!(message) }
}

/// `30d`, `12h`, `15m`, `3600s` or plain seconds.
fn parse_ttl(raw: &str) -> Option<u64> {
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(factor).filter(|s| *s > 0)
}

/// Exit code for a finished run.
pub fn exit_code(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError { code, error }) => {
            eprintln!("shoplake: {error:#}");
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_carry_their_unit() {
        assert_eq!(parse_ttl("30d"), Some(30 * 86_400));
        assert_eq!(parse_ttl("15m"), Some(900));
        assert_eq!(parse_ttl("10"), Some(10));
        assert_eq!(parse_ttl("1w"), None);
        assert_eq!(parse_ttl("0s"), None);
    }
}
