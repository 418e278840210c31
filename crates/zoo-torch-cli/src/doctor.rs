//! `zoo doctor`: what libtorch and CUDA look like from here.

use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;
use zoo_term::outln;
use zoo_torch_args::DoctorArgs;

/// The largest |CPU − device| accepted by `--parity` (f32 kernels differ in
/// summation order, not in semantics).
const PARITY_TOLERANCE: f64 = 1e-4;

#[derive(Debug, Serialize)]
struct Report {
    zoo_version: &'static str,
    /// This binary: `zoo` starts it for the libtorch commands.
    engine: Option<PathBuf>,
    libtorch_version: Option<String>,
    libtorch_path: Option<PathBuf>,
    cuda_available: bool,
    cuda_device_count: i64,
    cuda_devices: Vec<String>,
    cudnn_available: bool,
    threads: i32,
    zoo_home: PathBuf,
    registry: String,
    /// Whether the registry answers, and with the pinned key.
    registry_check: Option<zoo_client::reach::RegistryCheck>,
    /// Why the settings (config file, environment) could not be read.
    config_error: Option<String>,
    /// Every file and folder zoo keeps for this user (config, keys, store).
    paths: Vec<StatePath>,
}

#[derive(Debug, Serialize)]
struct StatePath {
    what: &'static str,
    path: PathBuf,
}

pub fn run(args: DoctorArgs) -> Result<()> {
    // A device that cannot be used fails before the report, not after it.
    let parity_device = args
        .parity
        .as_deref()
        .map(|name| zoo_nn::parse_device(name).map(|device| (name, device)))
        .transpose()?;
    let libtorch_path = loaded_library_dir("libtorch_cpu.so");
    let libtorch_version = libtorch_path.as_ref().and_then(|dir| torch_version(dir));
    let cuda_available = tch::Cuda::is_available();
    let cuda_device_count = if cuda_available {
        tch::Cuda::device_count()
    } else {
        0
    };
    let (registry, registry_check, config_error) =
        match zoo_client::Config::load(&Default::default()) {
            Ok(config) => (
                config.registry.clone(),
                Some(zoo_client::reach::check_registry(&config)),
                None,
            ),
            Err(e) => (
                crate::settings::registry_url(),
                None,
                Some(zoo_term::error_text(&anyhow::Error::from(e))),
            ),
        };
    let report = Report {
        zoo_version: env!("CARGO_PKG_VERSION"),
        engine: std::env::current_exe().ok(),
        libtorch_version,
        libtorch_path,
        cuda_available,
        cuda_device_count,
        cuda_devices: cuda_device_names(cuda_device_count),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
        zoo_home: crate::settings::zoo_home(),
        registry,
        registry_check,
        config_error,
        paths: zoo_client::config::state_paths()
            .into_iter()
            .map(|p| StatePath {
                what: p.what,
                path: p.path,
            })
            .collect(),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    match parity_device {
        Some((name, device)) => parity(name, device),
        None => Ok(()),
    }
}

/// Compares links on `device` with the CPU; an error when any differs.
fn parity(device_name: &str, device: tch::Device) -> Result<()> {
    let checks = zoo_nn::parity::compare_devices(device)?;
    outln!("parity       {device_name} vs cpu (max abs diff, tolerance {PARITY_TOLERANCE:e})");
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut failed = Vec::new();
    for check in &checks {
        let ok = check.max_abs_diff <= PARITY_TOLERANCE;
        outln!(
            "  {:<width$} {:.3e} {}",
            check.name,
            check.max_abs_diff,
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            failed.push(check.name.clone());
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{device_name} differs from the CPU in: {}",
            failed.join(", ")
        );
    }
    Ok(())
}

fn print_report(report: &Report) {
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    outln!("zoo          {}", report.zoo_version);
    if let Some(engine) = &report.engine {
        outln!("engine       {}", engine.display());
    }
    outln!("libtorch     {}", or_unknown(&report.libtorch_version));
    if let Some(path) = &report.libtorch_path {
        outln!("  loaded from {}", path.display());
    }
    outln!(
        "CUDA         {}",
        if report.cuda_available {
            format!("available, {} device(s)", report.cuda_device_count)
        } else {
            "not available".to_string()
        }
    );
    for (index, name) in report.cuda_devices.iter().enumerate() {
        outln!("  cuda:{index}     {name}");
    }
    outln!(
        "cuDNN        {}",
        if report.cudnn_available {
            "available"
        } else {
            "not available"
        }
    );
    outln!("threads      {}", report.threads);
    outln!("ZOO_HOME     {}", report.zoo_home.display());
    outln!("ZOO_REGISTRY {}", report.registry);
    if let Some(check) = &report.registry_check {
        print_registry_check(check);
    }
    if let Some(error) = &report.config_error {
        outln!("  settings   cannot be read: {error}");
    }
    outln!("paths");
    for path in &report.paths {
        outln!("  {:<20} {}", path.what, path.path.display());
    }
}

fn print_registry_check(check: &zoo_client::reach::RegistryCheck) {
    use zoo_client::reach::Reach;
    outln!("  from       {}", check.source);
    let pinned = check.pinned_key.as_deref();
    match &check.state {
        Reach::Offline => outln!("  reachable  not checked (offline)"),
        Reach::Unreachable { error } => outln!("  reachable  no: {error}"),
        Reach::Reachable { key } => {
            outln!("  reachable  yes");
            let key_text = key.as_deref().unwrap_or("none (an unsigned registry)");
            let note = match pinned {
                _ if check.key_differs() => format!(
                    "DIFFERS from the pinned {}: `zoo install` refuses its index; if the registry's key \
                     really changed (`zoo-registry key show` on the server), trust the new one with \
                     `zoo trust registry KEY`",
                    pinned.unwrap_or("key")
                ),
                Some(_) => "pinned".to_string(),
                None if key.is_some() => "not pinned yet (pinned on first use)".to_string(),
                None => String::new(),
            };
            outln!("  key        {key_text} {note}");
        }
    }
}

/// The folder of a shared library this process has loaded, read from
/// `/proc/self/maps` (so it reports what was really loaded, not what was
/// configured at build time).
fn loaded_library_dir(file_name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(PathBuf::from)
        .find(|path| path.file_name().is_some_and(|n| n == file_name))
        .and_then(|path| path.parent().map(PathBuf::from))
}

/// The version of the torch package that owns a libtorch `lib/` folder:
/// pip's wheel has `torch/version.py`, a plain libtorch has `build-version`.
fn torch_version(lib_dir: &std::path::Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("__version__") {
                let value = rest
                    .trim_start_matches([' ', '=', ':', 's', 't', 'r'])
                    .trim();
                return Some(value.trim_matches(['\'', '"']).to_string());
            }
        }
    }
    std::fs::read_to_string(root.join("build-version"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Device names through the CUDA driver API (libtorch does not expose them):
/// `cuInit`, `cuDeviceGet`, `cuDeviceGetName` from `libcuda.so.1`.
fn cuda_device_names(count: i64) -> Vec<String> {
    if count <= 0 {
        return Vec::new();
    }
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuDeviceGet = unsafe extern "C" fn(*mut i32, i32) -> i32;
    type CuDeviceGetName = unsafe extern "C" fn(*mut std::ffi::c_char, i32, i32) -> i32;
    let unknown = || (0..count).map(|_| "unknown device".to_string()).collect();
    // SAFETY: libcuda.so.1 is the NVIDIA driver library; the three symbols have
    // the C signatures declared above (cuda.h), and buffers are sized for them.
    unsafe {
        let Ok(lib) = libloading::Library::new("libcuda.so.1") else {
            return unknown();
        };
        let (Ok(init), Ok(get), Ok(get_name)) = (
            lib.get::<CuInit>(b"cuInit\0"),
            lib.get::<CuDeviceGet>(b"cuDeviceGet\0"),
            lib.get::<CuDeviceGetName>(b"cuDeviceGetName\0"),
        ) else {
            return unknown();
        };
        if init(0) != 0 {
            return unknown();
        }
        (0..count)
            .map(|index| {
                let mut device = 0i32;
                let mut name = [0 as std::ffi::c_char; 256];
                if get(&mut device, index as i32) != 0
                    || get_name(name.as_mut_ptr(), name.len() as i32, device) != 0
                {
                    return "unknown device".to_string();
                }
                std::ffi::CStr::from_ptr(name.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}
