//! `anpi`: the command for the office and for trying anpi out.
//!
//! Each command opens the data folder, does one thing, and leaves everything
//! it changed on disk. Output is Japanese by default (`--lang en`).

mod demo;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anpi_core::codes::Lang;
use anpi_core::io::roster;
use anpi_core::model::Staff;
use anpi_core::node::Node;
use anpi_core::store::SqliteStore;
use clap::{Parser, Subcommand, ValueEnum};

/// anpi (安否): offline-first safety checks for home-care teams.
#[derive(Parser)]
#[command(name = "anpi", version, about)]
struct Cli {
    /// Language of the output (ja: 日本語, en: English).
    #[arg(long, value_enum, default_value_t = LangArg::Ja, global = true)]
    lang: LangArg,
    /// The data folder of this device.
    #[arg(long, env = "ANPI_DATA", global = true)]
    data: Option<PathBuf>,
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
    /// Create a new space on a new device (a data folder).
    Init {
        /// The space's name (an office, or a shared area).
        #[arg(long)]
        space: String,
        /// This device's organisation.
        #[arg(long)]
        org: Option<String>,
        /// The person using this device.
        #[arg(long)]
        staff: Option<String>,
    },
    /// Import the roster CSV (UTF-8 or Shift_JIS); all rows or none.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// An office and two phones of two organisations, offline checks, a
    /// duplicate visit, a merge, and the merged priority list.
    Demo {
        /// Keep the data folders here instead of a temporary folder.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn t<'a>(lang: Lang, ja: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

const DB_FILE: &str = "anpi.db";

fn data_dir(lang: Lang, data: Option<&Path>) -> Result<PathBuf> {
    data.map(Path::to_path_buf).ok_or_else(|| {
        t(
            lang,
            "データフォルダを --data DIR か環境変数 ANPI_DATA で指定してください",
            "name the data folder with --data DIR or the ANPI_DATA environment variable",
        )
        .into()
    })
}

/// Open an existing data folder.
fn open(lang: Lang, data: Option<&Path>) -> Result<Node> {
    let dir = data_dir(lang, data)?;
    let db = dir.join(DB_FILE);
    if !db.exists() {
        return Err(match lang {
            Lang::Ja => format!(
                "{} は anpi のデータフォルダではありません（先に `anpi --data {} init --space 名前` を実行してください）",
                dir.display(),
                dir.display()
            ),
            Lang::En => format!(
                "{} is not an anpi data folder (run `anpi --data {} init --space NAME` first)",
                dir.display(),
                dir.display()
            ),
        }
        .into());
    }
    Ok(Node::open(SqliteStore::open(&db)?)?)
}

fn init(
    lang: Lang,
    data: Option<&Path>,
    space: &str,
    org: Option<String>,
    staff: Option<String>,
) -> Result<()> {
    let dir = data_dir(lang, data)?;
    std::fs::create_dir_all(&dir)?;
    let mut node = Node::open(SqliteStore::open(&dir.join(DB_FILE))?)?;
    if let Some(s) = node.spaces()?.first() {
        return Err(match lang {
            Lang::Ja => format!(
                "{} にはすでにスペース「{}」があります",
                dir.display(),
                s.name
            ),
            Lang::En => format!("{} already holds the space \"{}\"", dir.display(), s.name),
        }
        .into());
    }
    node.set_staff(Staff {
        name: staff.unwrap_or_default(),
        organisation: org.unwrap_or_else(|| space.to_string()),
    })?;
    let created = node.create_space(space)?;
    match lang {
        Lang::Ja => println!(
            "スペース「{}」を作成しました（{}）\n端末ID: {}",
            created.name,
            dir.display(),
            node.device()
        ),
        Lang::En => println!(
            "created space \"{}\" in {}\ndevice id: {}",
            created.name,
            dir.display(),
            node.device()
        ),
    }
    Ok(())
}

fn import(lang: Lang, data: Option<&Path>, file: &Path) -> Result<()> {
    let mut node = open(lang, data)?;
    let space = node.only_space()?;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let roster = roster::read(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    if !roster.ignored_columns.is_empty() {
        eprintln!(
            "{}: {}",
            t(lang, "読み飛ばした列", "columns ignored"),
            roster.ignored_columns.join(", ")
        );
    }
    let counts = node.upsert_recipients(&space.id, roster.recipients)?;
    node.maintain()?;
    match lang {
        Lang::Ja => println!(
            "追加 {} 件・更新 {} 件・変更なし {} 件（文字コード: {}）",
            counts.added, counts.updated, counts.unchanged, roster.encoding
        ),
        Lang::En => println!(
            "{} added, {} updated, {} unchanged (encoding: {})",
            counts.added, counts.updated, counts.unchanged, roster.encoding
        ),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lang = match cli.lang {
        LangArg::Ja => Lang::Ja,
        LangArg::En => Lang::En,
    };
    let data = cli.data.as_deref();
    let result = match cli.command {
        Command::Init { space, org, staff } => init(lang, data, &space, org, staff),
        Command::Import { file } => import(lang, data, &file),
        Command::Demo { keep } => demo::run(lang, keep),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anpi: {}", e.to_string().trim_end());
            ExitCode::FAILURE
        }
    }
}
