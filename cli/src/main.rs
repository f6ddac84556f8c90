//! `anpi`: the command for the office and for trying anpi out.
//!
//! The full office command set (import, list, check, export, merge, …) is
//! built under its own issue; this binary already runs the demo that shows
//! the core at work.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use anpi_core::codes::Lang;
use clap::{Parser, Subcommand, ValueEnum};

/// anpi (安否): offline-first safety checks for home-care teams.
#[derive(Parser)]
#[command(name = "anpi", version, about)]
struct Cli {
    /// Language of the output (ja: 日本語, en: English).
    #[arg(long, value_enum, default_value_t = LangArg::Ja, global = true)]
    lang: LangArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Ja,
    En,
}

#[derive(Subcommand)]
enum Command {
    /// An office and two phones of two organisations, offline checks, a
    /// duplicate visit, a merge, and the merged priority list.
    Demo {
        /// Keep the data folders here instead of a temporary folder.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lang = match cli.lang {
        LangArg::Ja => Lang::Ja,
        LangArg::En => Lang::En,
    };
    let result = match cli.command {
        Command::Demo { keep } => demo::run(lang, keep),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anpi: {e}");
            ExitCode::FAILURE
        }
    }
}
