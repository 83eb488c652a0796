//! The `shoplake` binary: parse the command line and hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = shoplake::cli::Cli::parse();
    shoplake::cli::exit_code(shoplake::cli::run(cli).await)
}
