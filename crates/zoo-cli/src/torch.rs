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
        None => Ok(signal_exit_code(&status)),
    }
}

/// A child killed by a signal: the shell's convention, 128 + signal.
#[cfg(unix)]
fn signal_exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    128 + status.signal().unwrap_or(0)
}

#[cfg(not(unix))]
fn signal_exit_code(_status: &std::process::ExitStatus) -> i32 {
    1
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
