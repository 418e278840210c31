//! `zoo verify PKG`: re-runs a package's golden input (`[model.golden]`) on
//! `--device` and compares every recorded output within the package's
//! tolerance, so that a converted, installed or moved package shows it still
//! computes what its maker recorded.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;
use zoo_format::manifest::Manifest;
use zoo_models::golden;
use zoo_term::outln;
use zoo_torch_args::VerifyArgs;

/// Exit status 1 (as an error) when any output is off or there is nothing
/// to compare. Under `--json` stdout always holds one document: the
/// comparison, or `{"error": …}` when there was none to make.
pub fn run(args: VerifyArgs, quiet: bool, verbose: bool) -> Result<()> {
    let json = args.json;
    match verify(args, quiet, verbose) {
        Ok(Verdict::Match) => Ok(()),
        Ok(Verdict::Mismatch(message)) => Err(anyhow!(message)),
        Err(error) => {
            if json {
                outln!("{}", zoo_term::error_json(&error));
            }
            Err(error)
        }
    }
}

/// The outcome of a comparison that ran (and was reported).
enum Verdict {
    Match,
    Mismatch(String),
}

fn verify(args: VerifyArgs, quiet: bool, verbose: bool) -> Result<Verdict> {
    let device = zoo_nn::parse_device(&args.device)?;
    if device.is_cuda() {
        // cuDNN convolutions default to TF32 (about 1e-3 relative), which
        // would fail a 1e-4 tolerance on a correct package; without cuDNN
        // they run in f32 (cuBLAS keeps TF32 off for matmuls by default).
        tch::Cuda::set_user_enabled_cudnn(false);
    }
    let dir = crate::settings::package_dir(&args.model, verbose)?;
    let manifest = Manifest::load(&dir).map_err(|e| anyhow!("{e}"))?;
    let package = format!("{} {}", manifest.package.name, manifest.package.version);
    let section = manifest
        .model
        .as_ref()
        .ok_or_else(|| anyhow!("{package}: not a model package (no [model] section)"))?;
    let Some(golden) = &section.golden else {
        bail!(
            "{package} has no golden file ([model.golden] in {}): nothing to verify",
            dir.join("zoo.toml").display()
        );
    };
    if let Some(file) = manifest.code_file() {
        crate::allow_code::check(&manifest, file, args.allow_code)?;
    }
    let arrays = golden::read(&dir.join(&golden.file))?;
    let options = zoo_models::LoadOptions {
        allow_code: manifest.code_file().is_some(),
        for_tracing: false,
    };
    let model = zoo_models::load(&dir, device, options)
        .with_context(|| format!("loading {}", dir.display()))?
        .model;
    let checks = golden::check(model.as_ref(), &arrays, golden.tolerance)
        .with_context(|| format!("running {package} on its golden input"))?;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    if args.json {
        outln!(
            "{}",
            json!({
                "package": manifest.package.name,
                "version": manifest.package.version.to_string(),
                "device": args.device,
                "tolerance": golden.tolerance,
                "ok": failed.is_empty(),
                "outputs": checks,
            })
        );
    } else if !quiet || !failed.is_empty() {
        for check in &checks {
            let status = if check.ok { "OK" } else { "FAIL" };
            match (&check.max_relative_difference, &check.problem) {
                (_, Some(problem)) => outln!("{}: {problem}: {status}", check.name),
                (Some(d), None) => outln!(
                    "{}: max relative difference {d:.3e} (tolerance {:.0e}): {status}",
                    check.name,
                    golden.tolerance
                ),
                (None, None) => outln!("{}: {status}", check.name),
            }
        }
    }
    if !failed.is_empty() {
        return Ok(Verdict::Mismatch(format!(
            "{package}: output {} differs from the golden file {} on {} (tolerance {:e})",
            failed.join(", "),
            golden.file,
            args.device,
            golden.tolerance
        )));
    }
    if !args.json && !quiet {
        outln!(
            "{package}: {} output(s) match {} on {}",
            checks.len(),
            golden.file,
            args.device
        );
    }
    Ok(Verdict::Match)
}
