//! Conventions shared by zoo's command-line binaries (`zoo`, `zoo-registry`,
//! and `zoo-torch` when it adopts them), so that they behave alike:
//!
//! - a closed stdout (`zoo info timer --json | head`) ends the command
//!   quietly with status 0, as cargo and ripgrep do, instead of a panic
//!   (exit 101): print with [`outln!`] / [`out!`];
//! - an error prints as one `error: …` line with its causes, never as a
//!   backtrace, whatever `RUST_BACKTRACE` says: end `main` with [`exit`];
//! - colour only where a person reads it ([`colour_on_stderr`]);
//! - every argument has help text in words, not Rust paths
//!   ([`undocumented_arguments`], for each binary's tests).

use std::fmt;
use std::io::{self, IsTerminal, Write};

/// Writes to stdout. When the reader has gone (`| head` closed the pipe)
/// the process ends here, quietly and with status 0: nobody is left to read
/// the rest, and nothing went wrong. Any other failure (a full disk under
/// `> file`) ends it with `error: writing to stdout: …` and status 1. Use
/// through [`out!`] and [`outln!`].
pub fn print_or_exit(args: fmt::Arguments<'_>) {
    let written = io::stdout().lock().write_fmt(args);
    if let Some(code) = written.err().map(|error| exit_code_for_write_error(&error)) {
        std::process::exit(code);
    }
}

/// The status a failed stdout write ends the process with (and the message
/// it prints first, unless the pipe was closed).
fn exit_code_for_write_error(error: &io::Error) -> i32 {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return 0;
    }
    let _ = writeln!(io::stderr(), "error: writing to stdout: {error}");
    1
}

/// `print!` that ends the process quietly on a closed stdout
/// ([`print_or_exit`]) instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print_or_exit(format_args!($($arg)*))
    };
}

/// `println!` that ends the process quietly on a closed stdout
/// ([`print_or_exit`]) instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::print_or_exit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print_or_exit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// The one line an error prints as: `error: ` and its causes, no backtrace.
pub fn error_line(error: &anyhow::Error) -> String {
    format!("error: {}", error_text(error))
}

/// An error and its causes joined by `: `, each cause left out when the text
/// so far already says it: many library errors put their source in their
/// own message (`cannot read x: No such file`) and also return it as their
/// `source()`, which would print the OS's reason twice.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let said = cause.to_string();
        let said = said.trim();
        if said.is_empty() || text.contains(said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(said);
    }
    text
}

/// How [`exit_as`] reports an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `error: …` on stderr.
    Text,
    /// `error: …` on stderr and, for the program reading stdout (the
    /// command ran with `--json`), `{"error": "…"}` there.
    Json,
}

/// The JSON stdout carries for an error under [`ErrorFormat::Json`].
pub fn error_json(error: &anyhow::Error) -> String {
    serde_json::json!({ "error": error_text(error) }).to_string()
}

/// Ends the process: status `code` on success, otherwise `error: …` on
/// stderr (never a backtrace) and status 1.
pub fn exit(result: anyhow::Result<i32>) -> ! {
    exit_as(result, ErrorFormat::Text)
}

/// [`exit`], reporting an error in `format`.
pub fn exit_as(result: anyhow::Result<i32>, format: ErrorFormat) -> ! {
    std::process::exit(report(result, format))
}

/// The exit status of `result`, its error reported as [`exit_as`] does
/// (`error: …` on stderr, and as JSON on stdout under `format`), stdout
/// flushed: for a binary that ends the process its own way.
pub fn report(result: anyhow::Result<i32>, format: ErrorFormat) -> i32 {
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(io::stderr(), "{}", error_line(&error));
            if format == ErrorFormat::Json {
                let _ = writeln!(io::stdout(), "{}", error_json(&error));
            }
            1
        }
    };
    // A last line without `\n` is still buffered; a reader that has gone
    // does not change the status.
    let _ = io::stdout().flush();
    code
}

/// Whether stderr output (logs, progress) may carry ANSI colour: only on a
/// terminal, and not under `NO_COLOR`.
pub fn colour_on_stderr() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Arguments of `command` and its subcommands (recursively) whose help
/// text is missing or names a Rust path (`crate::module`), as
/// `zoo-registry token revoke <ID>: no help` lines; empty when all is well.
pub fn undocumented_arguments(command: &clap::Command) -> Vec<String> {
    let mut problems = Vec::new();
    collect_undocumented(command, command.get_name(), &mut problems);
    problems
}

/// For each binary's test: panics listing [`undocumented_arguments`], so
/// that `--help` explains every argument in words (no bare `<NAME>`, no
/// Rust module paths).
pub fn assert_arguments_documented(command: &clap::Command) {
    let problems = undocumented_arguments(command);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn collect_undocumented(command: &clap::Command, path: &str, problems: &mut Vec<String>) {
    let about = command
        .get_about()
        .map(|a| a.to_string())
        .unwrap_or_default();
    if about.contains("::") {
        problems.push(format!(
            "{path}: its description names a Rust path: {about}"
        ));
    }
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let name = match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => format!("<{}>", id.to_uppercase()),
        };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if help.trim().is_empty() {
            problems.push(format!("{path} {name}: no help"));
        } else if help.contains("::") {
            problems.push(format!("{path} {name}: its help names a Rust path: {help}"));
        }
    }
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        collect_undocumented(sub, &format!("{path} {}", sub.get_name()), problems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_says_is_printed_once() {
        #[derive(Debug)]
        struct Reading(io::Error);
        impl std::fmt::Display for Reading {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "cannot read zoo.toml: {}", self.0)
            }
        }
        impl std::error::Error for Reading {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let missing = io::Error::new(io::ErrorKind::NotFound, "No such file");
        let error = anyhow::Error::new(Reading(missing)).context("packing /tmp");
        assert_eq!(
            error_line(&error),
            "error: packing /tmp: cannot read zoo.toml: No such file"
        );
        let plain = anyhow::anyhow!("disk full").context("writing x.zoo");
        assert_eq!(error_line(&plain), "error: writing x.zoo: disk full");
        assert_eq!(
            error_json(&plain),
            r#"{"error":"writing x.zoo: disk full"}"#
        );
    }

    #[test]
    fn a_closed_pipe_ends_quietly_other_write_errors_do_not() {
        assert_eq!(
            exit_code_for_write_error(&io::Error::from(io::ErrorKind::BrokenPipe)),
            0
        );
        assert_eq!(exit_code_for_write_error(&io::Error::other("disk full")), 1);
    }

    #[test]
    fn arguments_without_help_or_with_rust_paths_are_found() {
        let command = clap::Command::new("tool")
            .arg(clap::Arg::new("name"))
            .arg(
                clap::Arg::new("grace")
                    .long("grace")
                    .help("see `zoo_registry::ops::gc`"),
            )
            .subcommand(clap::Command::new("ok").arg(clap::Arg::new("id").help("The token's id.")));
        assert_eq!(
            undocumented_arguments(&command),
            [
                "tool <NAME>: no help",
                "tool --grace: its help names a Rust path: see `zoo_registry::ops::gc`"
            ]
        );
    }

    #[test]
    fn json_errors_are_one_object_with_the_whole_message() {
        let error = anyhow::anyhow!("no such package `x`").context("installing");
        let value: serde_json::Value = serde_json::from_str(&error_json(&error)).unwrap();
        assert_eq!(value["error"], "installing: no such package `x`");
    }

    #[test]
    fn error_lines_carry_causes_but_no_backtrace() {
        let error = anyhow::anyhow!("user bob already exists").context("adding a user");
        assert_eq!(
            error_line(&error),
            "error: adding a user: user bob already exists"
        );
    }
}
