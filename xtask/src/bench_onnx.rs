//! `cargo xtask bench onnx [--import-runs N] [--runs N] [--rounds N] [--threads N]`:
//! the ONNX importer and the packages it makes, against their peers, on the
//! torchvision fixtures that `crates/zoo-onnx/tests/fixtures/generate.py
//! --large` writes into `.cache/onnx-fixtures` (seeded random weights).
//!
//! - import: `zoo import onnx` (release) of the largest one, VGG-11, against
//!   the floor of any importer (reading the file and writing the same
//!   number of bytes), median of 3, with peak RSS as bench_caffe measures it;
//! - inference, CPU, 2 threads: ResNet-18 and MobileNet V3 small at batch 1
//!   and 8, the imported package timed by `zoo-bench package` against ONNX
//!   Runtime's CPU provider on the ONNX file and PyTorch on the same
//!   torchvision model with the same weights, eager and TorchScript-optimised
//!   (`crates/zoo-onnx/bench/peers.py` in `.venv-onnx`), alternating round by
//!   round; each figure is the median
//!   over the rounds of the per-round medians.
//!
//! Prints a markdown table, writes it to `target/bench-onnx/results.md` and
//! into the "onnx" section of BENCHMARKS.md (notes below the table kept).

use crate::bench_models::serde_json_lite::Json;
use crate::{cmd, python};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// The import benchmark's model: the largest generated fixture.
const IMPORT_MODEL: &str = "vgg11";
/// The inference benchmark's models and their names in the table.
const MODELS: &[(&str, &str)] = &[
    ("resnet18", "ResNet-18"),
    ("mobilenet_v3_small", "MobileNet V3 small"),
];
const BATCHES: &[usize] = &[1, 8];
/// zoo's goal: time ≤ this many times ONNX Runtime's (issue #16).
const GOAL: f64 = 1.2;

struct Options {
    import_runs: usize,
    runs: usize,
    rounds: usize,
    threads: usize,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        import_runs: 3,
        runs: 10,
        rounds: 3,
        threads: 2,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<usize> {
            let v: usize = it
                .next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| name.to_string())?;
            if v == 0 {
                bail!("{name} must be at least 1");
            }
            Ok(v)
        };
        match arg.as_str() {
            "--import-runs" => options.import_runs = value("--import-runs")?,
            "--runs" => options.runs = value("--runs")?,
            "--rounds" => options.rounds = value("--rounds")?,
            "--threads" => options.threads = value("--threads")?,
            other => bail!(
                "unknown option {other:?} (expected --import-runs N, --runs N, --rounds N, --threads N)"
            ),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    if !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is needed to measure peak memory (apt-get install time)");
    }
    let python = python::onnx_python()?;
    let mut names = vec![IMPORT_MODEL];
    names.extend(MODELS.iter().map(|(name, _)| *name));
    let fixtures = python::onnx_large_fixtures_of(&names)?;
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "zoo-cli",
        "-p",
        "zoo-torch-cli",
        "-p",
        "zoo-models",
        "--bin",
        "zoo",
        "--bin",
        "zoo-torch",
        "--bin",
        "zoo-bench",
    ]))?;
    let target = cmd::target_dir();
    let release = target.join("release");
    let out_dir = target.join("bench-onnx");
    let work = out_dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let import = import_bench(&release, &fixtures, &work, options.import_runs)?;
    let inference = inference_bench(&release, &python, &fixtures, &work, &options)?;
    let report = Report {
        date: cmd::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))?
            .trim()
            .to_string(),
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        options,
        import,
        inference,
    };
    let text = report.markdown();
    print!("{text}");
    std::fs::write(out_dir.join("results.md"), &text)?;
    crate::bench::replace_generated_section(&cmd::root().join("BENCHMARKS.md"), "onnx", &text)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

struct ImportResult {
    model: String,
    size: u64,
    runs: usize,
    baseline: f64,
    seconds: f64,
    rss_kib: u64,
    startup_kib: u64,
}

fn import_bench(release: &Path, fixtures: &Path, work: &Path, runs: usize) -> Result<ImportResult> {
    let model = fixtures.join(format!("{IMPORT_MODEL}.onnx"));
    let size = std::fs::metadata(&model)
        .with_context(|| model.display().to_string())?
        .len();
    let zoo = release.join("zoo");
    // Warm the page cache so that every contender reads from memory.
    crate::bench_caffe::copy_baseline(&model, &work.join("warm.bin"))?;
    std::fs::remove_file(work.join("warm.bin"))?;
    let (mut baseline, mut times, mut rss) = (Vec::new(), Vec::new(), 0u64);
    for run in 0..runs {
        baseline.push(crate::bench_caffe::floor_seconds(&model, work)?);
        let out = work.join(format!("import-{run}"));
        cmd::settle()?;
        let (secs, kib) = cmd::timed_with_rss(
            Command::new(&zoo)
                .args(["import", "onnx", "--quiet"])
                .arg(&model)
                .arg("-o")
                .arg(&out),
        )?;
        std::fs::remove_dir_all(&out)?;
        eprintln!(
            "import run {run}: read+write {:.2} s, zoo import onnx {secs:.2} s, peak RSS {:.0} MB",
            baseline[run],
            kib as f64 / 1024.0
        );
        times.push(secs);
        rss = rss.max(kib);
    }
    // The fixed cost of starting the binary that links libtorch (`zoo`
    // itself does not: it starts `zoo-torch` for the import).
    let (_, startup_kib) =
        cmd::timed_with_rss(Command::new(release.join("zoo-torch")).arg("--version"))?;
    Ok(ImportResult {
        model: format!("{IMPORT_MODEL}.onnx"),
        size,
        runs,
        baseline: median(&baseline),
        seconds: median(&times),
        rss_kib: rss,
        startup_kib,
    })
}

struct InferenceRow {
    model: &'static str,
    batch: usize,
    zoo: f64,
    ort: f64,
    torch: f64,
    torch_jit: f64,
}

fn inference_bench(
    release: &Path,
    python: &Path,
    fixtures: &Path,
    work: &Path,
    options: &Options,
) -> Result<Vec<InferenceRow>> {
    let zoo = release.join("zoo");
    let script = cmd::root().join("crates/zoo-onnx/bench/peers.py");
    let (runs, threads) = (options.runs.to_string(), options.threads.to_string());
    let mut rows = Vec::new();
    for (name, title) in MODELS {
        let model = fixtures.join(format!("{name}.onnx"));
        let package = work.join(name);
        cmd::run(
            Command::new(&zoo)
                .args(["import", "onnx", "--quiet"])
                .arg(&model)
                .arg("-o")
                .arg(&package),
        )?;
        for batch in BATCHES {
            let batch_arg = batch.to_string();
            let (mut zoo_s, mut ort_s, mut torch_s, mut jit_s) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            // zoo, ONNX Runtime and PyTorch alternate, round by round, so
            // that a slower or faster spell of the shared machine falls on
            // all of them.
            for round in 0..options.rounds {
                let zoo_json = Json::parse(&cmd::output(
                    Command::new(release.join("zoo-bench"))
                        .arg("package")
                        .arg(&package)
                        .args(["cpu", &batch_arg, &runs, &threads]),
                )?);
                let peer = |which: &str| -> Result<Json> {
                    Ok(Json::parse(&cmd::output(
                        Command::new(python)
                            .arg(&script)
                            .arg(which)
                            .arg(&model)
                            .args([&batch_arg, &runs, &threads])
                            .env("OMP_NUM_THREADS", &threads),
                    )?))
                };
                let ort_json = peer("ort")?;
                let torch_json = peer("torch")?;
                let jit_json = peer("torch-jit")?;
                let get = |json: &Json, who: &str| {
                    json.get("forward_s")
                        .with_context(|| format!("{who}: no forward_s"))
                };
                if zoo_json.get("threads") != Some(options.threads as f64) {
                    bail!(
                        "zoo-bench ran on {:?} threads, not {}",
                        zoo_json.get("threads"),
                        options.threads
                    );
                }
                zoo_s.push(get(&zoo_json, "zoo-bench")?);
                ort_s.push(get(&ort_json, "ONNX Runtime")?);
                torch_s.push(get(&torch_json, "PyTorch")?);
                jit_s.push(get(&jit_json, "PyTorch TorchScript")?);
                eprintln!(
                    "{title} batch {batch} round {round}: zoo {:.2} ms, ONNX Runtime {:.2} ms, \
                     PyTorch {:.2} ms, TorchScript optimised {:.2} ms",
                    zoo_s[round] * 1e3,
                    ort_s[round] * 1e3,
                    torch_s[round] * 1e3,
                    jit_s[round] * 1e3
                );
            }
            rows.push(InferenceRow {
                model: title,
                batch: *batch,
                zoo: median(&zoo_s),
                ort: median(&ort_s),
                torch: median(&torch_s),
                torch_jit: median(&jit_s),
            });
        }
    }
    Ok(rows)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The CPU's model name from /proc/cpuinfo, if there is one.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

struct Report {
    date: String,
    cpu: String,
    cores: usize,
    options: Options,
    import: ImportResult,
    inference: Vec<InferenceRow>,
}

impl Report {
    fn markdown(&self) -> String {
        let i = &self.import;
        let file = i.size as f64;
        let rss = i.rss_kib as f64 * 1024.0;
        let startup = i.startup_kib as f64 * 1024.0;
        let mut text = format!(
            "## onnx\n\n\
             `cargo xtask bench onnx`, measured {} on {} ({} cores seen by the process), \
             release build, fixtures from `generate.py --large` (torchvision architectures, \
             seeded random weights, opset 13, dynamic batch).\n\n\
             ### import\n\n\
             `zoo import onnx` of {} ({:.0} MB) into a package (graph, weights as safetensors, \
             sha256 provenance, and golden.npz: the package loaded as written and run once on a \
             fixed input), median of {} runs, page cache warm, `sync` before each contender so that \
             none pays for another's writeback; the floor is the fastest of three back-to-back \
             copies in each run. The last column leaves out \
             libtorch's fixed start-up (the `zoo-torch --version` row).\n\n\
             | | time (s) | ratio | peak RSS (MB) | RSS / file size | (RSS − start-up) / file size |\n\
             |---|---|---|---|---|---|\n\
             | read + write the same bytes (floor) | {:.2} | 1.00 | — | — | — |\n\
             | `zoo import onnx {}` | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |\n\
             | `zoo-torch --version` (libtorch loaded, no work) | — | — | {:.0} | {:.2} | 0 |\n\n",
            self.date,
            self.cpu,
            self.cores,
            i.model,
            file / 1e6,
            i.runs,
            i.baseline,
            i.model,
            i.seconds,
            i.seconds / i.baseline,
            rss / 1e6,
            rss / file,
            (rss - startup) / file,
            startup / 1e6,
            startup / file,
        );
        text += &format!(
            "### inference\n\n\
             CPU, {}, inference, input N×3×224×224. zoo: the imported package loaded as \
             `zoo run` does, timed by `zoo-bench package DIR cpu N RUNS {}`; ONNX Runtime: the \
             same .onnx file, CPU provider, `intra_op_num_threads={}`, sequential, default graph \
             optimisations; PyTorch eager: the torchvision model rebuilt with the generator's \
             seed (checked against ONNX Runtime's output before timing), `torch.set_num_threads({})`, \
             `inference_mode`; PyTorch TorchScript: the same model through \
             `torch.jit.optimize_for_inference` (frozen, oneDNN prepacked convolutions: libtorch's \
             fastest CPU path, checked the same way). The four alternate for {} rounds of {} runs \
             after a warm-up; each figure is the median of the rounds' medians. Goal: zoo / ORT ≤ \
             {GOAL}×.\n\n\
             | model | batch | zoo (ms) | ONNX Runtime (ms) | PyTorch eager (ms) | PyTorch TorchScript (ms) | zoo / ORT | zoo / PyTorch | zoo / TorchScript | goal ≤ {GOAL}× |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
            if self.options.threads == 1 {
                "1 thread".to_string()
            } else {
                format!("{} threads", self.options.threads)
            },
            self.options.threads,
            self.options.threads,
            self.options.threads,
            self.options.rounds,
            self.options.runs,
        );
        for row in &self.inference {
            let ratio = row.zoo / row.ort;
            text += &format!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}× | {:.2}× | {:.2}× | {} |\n",
                row.model,
                row.batch,
                row.zoo * 1e3,
                row.ort * 1e3,
                row.torch * 1e3,
                row.torch_jit * 1e3,
                ratio,
                row.zoo / row.torch,
                row.zoo / row.torch_jit,
                if ratio <= GOAL { "met" } else { "missed" },
            );
        }
        text
    }
}
