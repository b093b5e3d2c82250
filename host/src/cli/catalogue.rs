//! `qingdan catalogue …` (being written).

use clap::Subcommand;

/// `qingdan catalogue` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Validate catalogue files and check each against its parent list.
    Check {
        /// Catalogue files (TOML).
        files: Vec<std::path::PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a catalogue subcommand; returns the exit code.
pub fn run(cmd: CatalogueCommand) -> anyhow::Result<u8> {
    match cmd {
        CatalogueCommand::Check { .. } => anyhow::bail!("not written yet"),
    }
}
