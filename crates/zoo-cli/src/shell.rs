//! `zoo completions SHELL` and `zoo man`: generated from the same clap
//! definitions as the parser, so they never drift from it.

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use std::io::Write;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for; e.g. `zoo completions bash >
    /// ~/.local/share/bash-completion/completions/zoo`.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script for the shell.
pub fn completions(args: CompletionsArgs) -> Result<()> {
    let mut command = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "zoo", &mut script);
    write_stdout(&script)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command's own page (`zoo man install`, `zoo man cache verify`), as
    /// the overview's SEE ALSO names them (`zoo-install(1)`); without one,
    /// the overview.
    #[arg(value_name = "COMMAND")]
    command: Vec<String>,
}

/// The variables zoo reads, for the overview's ENVIRONMENT section.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "ZOO_HOME",
        "Keep everything (store, index cache, config, keys, locks) under this folder instead of the per-user folders that `zoo config paths` shows.",
    ),
    (
        "ZOO_REGISTRY",
        "The registry's URL, over the config file's `registry` (and under `--registry`).",
    ),
    (
        "ZOO_TOKEN",
        "The API token for publish, yank and owner changes, over the config file's (and under `--token`).",
    ),
    (
        "ZOO_OFFLINE",
        "`1`: use only the store and the cached index, as `--offline`.",
    ),
    (
        "ZOO_REQUIRE_SIGNATURES",
        "`1`: refuse packages not signed by a trusted publisher key; `0` overrides the config file.",
    ),
    (
        "ZOO_CONNECT_TIMEOUT",
        "Seconds to wait for a registry connection (config file: `connect-timeout`).",
    ),
    (
        "ZOO_READ_TIMEOUT",
        "Seconds to wait for data from a registry (config file: `read-timeout`).",
    ),
    (
        "ZOO_ALLOW_CODE",
        "`1`: let `zoo run` load packages that carry code (TorchScript), as `--allow-code`.",
    ),
    (
        "ZOO_TRUSTED_KEYS",
        "The trusted-keys file, instead of trusted-keys.toml in the config folder.",
    ),
    (
        "ZOO_TORCH",
        "The zoo-torch binary that runs doctor, run, export, import and verify, instead of the one next to zoo.",
    ),
    ("NO_COLOR", "Any value: no colour on a terminal either."),
];

/// Prints a man page (roff): `zoo man > zoo.1; man ./zoo.1`, or one
/// command's with `zoo man install > zoo-install.1`.
pub fn man(args: ManArgs) -> Result<()> {
    let mut command = crate::Cli::command().disable_help_subcommand(true);
    command.build();
    for (depth, name) in args.command.iter().enumerate() {
        command = command.find_subcommand(name).cloned().with_context(|| {
            format!(
                "`zoo {}` is not a command; `zoo man` lists them under SUBCOMMANDS",
                args.command[..=depth].join(" ")
            )
        })?;
    }
    let man = clap_mangen::Man::new(command);
    let mut page = Vec::new();
    let rendering = || "rendering the man page";
    if !args.command.is_empty() {
        man.render(&mut page).context(rendering())?;
        return write_stdout(&page);
    }
    man.render_title(&mut page).context(rendering())?;
    man.render_name_section(&mut page).context(rendering())?;
    man.render_synopsis_section(&mut page)
        .context(rendering())?;
    man.render_description_section(&mut page)
        .context(rendering())?;
    man.render_options_section(&mut page).context(rendering())?;
    man.render_subcommands_section(&mut page)
        .context(rendering())?;
    page.extend_from_slice(environment_section().as_bytes());
    man.render_version_section(&mut page).context(rendering())?;
    write_stdout(&page)
}

/// The ENVIRONMENT section in roff (`.TP` items; `-` and `\` escaped).
fn environment_section() -> String {
    let escape = |text: &str| text.replace('\\', "\\\\").replace('-', "\\-");
    let mut roff = String::from(".SH ENVIRONMENT\n");
    for (name, meaning) in ENVIRONMENT {
        roff.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            escape(name),
            escape(meaning)
        ));
    }
    roff
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    zoo_term::out!("{}", String::from_utf8_lossy(bytes));
    std::io::stdout().flush().ok();
    Ok(())
}
