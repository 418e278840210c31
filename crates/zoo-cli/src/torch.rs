//! The libtorch commands (`doctor`, `run`, `export`, `import`, `verify`) live in the
//! `zoo-torch` binary next to `zoo`. Keeping libtorch out of `zoo` keeps the
//! package commands light: linking libtorch_cuda alone costs ~350 MB of
//! resident memory and a noticeable start-up before `main` runs. `zoo`
//! declares these commands from the same clap tree (`zoo_torch_args`), so
//! that help, completions and argument errors need no libtorch, and hands
//! its command line to `zoo-torch` untouched; errors and exit codes of a
//! running command are `zoo-torch`'s own.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

/// The exit status the dynamic loader uses when a library is missing.
const LOADER_FAILED: i32 = 127;

/// `ZOO_TORCH`, or `zoo-torch` in the directory of the running `zoo`.
fn engine_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ZOO_TORCH").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("locating the running zoo binary")?;
    Ok(exe.with_file_name(format!("zoo-torch{}", std::env::consts::EXE_SUFFIX)))
}

/// Runs `zoo-torch` with this `zoo`'s own arguments, which already parsed
/// against the same tree (`zoo_torch_args`), and returns its exit code.
pub fn forward(command: &str) -> Result<i32> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    run_engine(command, &args, true)
}

/// Runs `zoo-torch ARGS…` (its standard output shown only with
/// `show_output`) for `zoo COMMAND` and returns its exit code; a missing
/// engine or libtorch is an error naming the fix.
pub fn run_engine(command: &str, args: &[OsString], show_output: bool) -> Result<i32> {
    let engine = engine_path()?;
    if !engine.is_file() {
        bail!(
            "`zoo {command}` needs libtorch and runs in zoo-torch, which was not found at {} \
             (install it next to zoo, e.g. `cargo build --bins`, or set ZOO_TORCH)",
            engine.display()
        );
    }
    let mut child = Command::new(&engine);
    if !show_output {
        child.stdout(std::process::Stdio::null());
    }
    let status = child
        .args(args)
        .status()
        .with_context(|| format!("starting {}", engine.display()))?;
    match status.code() {
        Some(LOADER_FAILED) => bail!(
            "`zoo {command}` could not start {}: libtorch could not be loaded (the loader's \
             message is above). Reinstall libtorch (`cargo xtask setup` in a zoo checkout) \
             and rebuild zoo",
            engine.display()
        ),
        Some(code) => Ok(code),
        None => Ok(signal_exit(&status)),
    }
}

/// A child killed by a signal: says so on stderr (a process killed by a
/// signal prints nothing itself, and an out-of-memory kill would otherwise
/// look like a silent failure) and returns the shell's exit code for it,
/// 128 + signal.
#[cfg(unix)]
fn signal_exit(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let Some(signal) = status.signal() else {
        return 1;
    };
    if let Some(message) = signal_message(signal, status.core_dumped()) {
        eprintln!("error: {message}");
    }
    128 + signal
}

#[cfg(not(unix))]
fn signal_exit(_status: &std::process::ExitStatus) -> i32 {
    1
}

/// Why zoo-torch ended on `signal`, in words; `None` for an interrupt
/// (Ctrl-C, which the user saw happen) and a closed pipe (`zoo run … |
/// head` ends quietly).
#[cfg(unix)]
fn signal_message(signal: i32, core_dumped: bool) -> Option<String> {
    let (name, crash, hint) = match signal {
        2 | 13 => return None,
        1 => ("SIGHUP", false, ""),
        3 => ("SIGQUIT", false, ""),
        4 => ("SIGILL", true, "; an instruction this CPU lacks?"),
        6 => ("SIGABRT", true, ""),
        8 => ("SIGFPE", true, ""),
        9 => ("SIGKILL", false, "; out of memory?"),
        11 => ("SIGSEGV", true, ""),
        15 => ("SIGTERM", false, ""),
        #[cfg(target_os = "linux")]
        7 => ("SIGBUS", true, ""),
        #[cfg(not(target_os = "linux"))]
        10 => ("SIGBUS", true, ""),
        _ => ("", false, ""),
    };
    let what = match (name.is_empty(), crash) {
        (true, _) => format!("zoo-torch was ended by signal {signal}"),
        (false, true) => format!("zoo-torch crashed with signal {signal} ({name}{hint})"),
        (false, false) => format!("zoo-torch was killed by signal {signal} ({name}{hint})"),
    };
    Some(if core_dumped {
        format!("{what}; core dumped")
    } else {
        what
    })
}

/// `zoo install`'s converter for `[[model.sources]]`: runs the hidden
/// `zoo-torch convert-source`, the code of `zoo import caffe --like`, so
/// that `zoo` itself stays without libtorch.
pub struct SourceConverter;

impl zoo_client::sources::Converter for SourceConverter {
    fn convert(&self, job: &zoo_client::sources::ConvertJob<'_>) -> Result<(), String> {
        let engine = engine_path().map_err(|e| format!("{e:#}"))?;
        if !engine.is_file() {
            return Err(format!(
                "converting needs libtorch and runs in zoo-torch, which was not found at {} \
                 (install it next to zoo, e.g. `cargo build --bins`, or set ZOO_TORCH)",
                engine.display()
            ));
        }
        let mut command = Command::new(&engine);
        command
            .args([
                "--quiet",
                "convert-source",
                "--convert",
                job.convert.as_str(),
            ])
            .arg("--like")
            .arg(job.package_dir)
            .arg("--source")
            .arg(job.source)
            .arg("--output")
            .arg(job.output)
            .stdin(std::process::Stdio::null());
        if let Some(deploy) = &job.deploy {
            command.arg("--deploy").arg(deploy);
        }
        let out = command
            .output()
            .map_err(|e| format!("starting {}: {e}", engine.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(LOADER_FAILED) {
            return Err(format!(
                "{} could not start: libtorch could not be loaded ({}); reinstall libtorch \
                 (`cargo xtask setup` in a zoo checkout) and rebuild zoo",
                engine.display(),
                stderr.trim()
            ));
        }
        // zoo-torch's own one-line `error: …`.
        let message = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .map(str::to_owned)
            .unwrap_or_else(|| stderr.trim().to_string());
        Err(message)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::signal_message;

    #[test]
    fn signals_are_named_and_interrupts_are_quiet() {
        assert_eq!(
            signal_message(9, false).unwrap(),
            "zoo-torch was killed by signal 9 (SIGKILL; out of memory?)"
        );
        assert_eq!(
            signal_message(11, true).unwrap(),
            "zoo-torch crashed with signal 11 (SIGSEGV); core dumped"
        );
        assert_eq!(
            signal_message(64, false).unwrap(),
            "zoo-torch was ended by signal 64"
        );
        assert_eq!(signal_message(2, false), None);
        assert_eq!(signal_message(13, false), None);
    }
}
