//! `zoo run` where its outputs could be lost or wrong (a tester's report):
//! `--output` naming what the task decodes or one name twice, batched
//! `--input` tensors (one result per row, spike steps per sequence),
//! classify outputs that hold no class scores, overlays of inputs with one
//! file name, `--input`/`--output` names checked before running, `-q`,
//! truncated JPEGs, `--top 0`, blank labels, and zoo-torch ended by a
//! signal; on the real binaries and the package folders of this checkout.

use serde_json::Value;
use std::path::{Path, PathBuf};
use zoo_e2e::{Outcome, Zoo, run_command, write_npy};

fn root() -> PathBuf {
    zoo_e2e::cargo::workspace_root()
}

fn model(name: &str) -> String {
    root().join("models").join(name).display().to_string()
}

fn example(package: &str, file: &str) -> String {
    root()
        .join("models")
        .join(package)
        .join("examples")
        .join(file)
        .display()
        .to_string()
}

fn user() -> Zoo {
    Zoo::new("http://127.0.0.1:9", None)
}

/// The stdout of a command that must have succeeded.
fn succeeded(out: &Outcome) -> String {
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.stdout.clone()
}

/// The stderr of a command that must have exited 1, without a panic.
fn failed(out: &Outcome) -> String {
    let stderr = out.stderr.clone();
    assert_eq!(out.code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The shape recorded in a `.npy` file's header, as "1, 10".
fn npy_shape(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = String::from_utf8_lossy(&bytes[10..]);
    let start = header.find("'shape': (").unwrap() + "'shape': (".len();
    let end = header[start..].find(')').unwrap() + start;
    header[start..end]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// models/vgg-mini copied into `dir/name`, for packages changed by a test.
fn vgg_mini_copy(dir: &Path, name: &str) -> PathBuf {
    let copy = dir.join(name);
    std::fs::create_dir_all(&copy).unwrap();
    for file in [
        "zoo.toml",
        "weights.safetensors",
        "labels.txt",
        "README.md",
        "golden.npz",
    ] {
        std::fs::copy(root().join("models/vgg-mini").join(file), copy.join(file)).unwrap();
    }
    copy
}

#[test]
fn outputs_the_task_decodes_and_names_given_twice_are_saved() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let cells = example("cell-counter", "cells-41.png");
    let shape = example("vgg-mini", "0-diamond.png");
    let runs: [(&str, &str, &str, &str); 3] = [
        ("cell-counter", &cells, "density=d.npy", "1, 1"),
        ("vgg-mini", &shape, "prob=p.npy", "1, 10"),
        ("peephole-lstm", "0,1,0,0,1", "spikes=s.npy", "1, 5"),
    ];
    for (package, input, output, starts) in runs {
        let out = user.run_in(
            dir.path(),
            &["run", &model(package), input, "--output", output],
        );
        let stdout = succeeded(&out);
        let file = dir.path().join(output.split_once('=').unwrap().1);
        assert!(npy_shape(&file).starts_with(starts), "{package}: {stdout}");
    }

    // One name to two files: both written.
    let args = ["--output", "fc7=a.npy", "--output", "fc7=b.npy"];
    let out = user.run_in(
        dir.path(),
        &[&["run", &model("vgg-mini"), &shape][..], &args].concat(),
    );
    succeeded(&out);
    assert_eq!(npy_shape(&dir.path().join("a.npy")), "1, 256");
    assert_eq!(
        std::fs::read(dir.path().join("a.npy")).unwrap(),
        std::fs::read(dir.path().join("b.npy")).unwrap()
    );
}

#[test]
fn every_row_of_a_batched_input_gets_its_own_result() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    // Four 32×32 images: the examples' pixels as the package prepares them.
    let mut values = Vec::new();
    for file in ["0-diamond.png", "1-disc.png", "2-disc.png", "0-diamond.png"] {
        let image = image::open(example("vgg-mini", file)).unwrap().to_rgb8();
        for channel in 0..3 {
            for pixel in image.pixels() {
                values.push((f32::from(pixel[channel]) - 127.5) * 0.015625);
            }
        }
    }
    write_npy(&dir.path().join("batch.npy"), &[4, 3, 32, 32], &values);
    let vgg = model("vgg-mini");
    let args = ["run", &vgg, "--input", "data=batch.npy", "--top", "1"];
    let stdout = succeeded(&user.run_in(dir.path(), &args));
    for row in 0..4 {
        assert!(stdout.contains(&format!("(row {row}):")), "{stdout}");
    }
    let out = user.run_in(dir.path(), &[&args[..], &["--json"]].concat());
    let results: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    let labels: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["top"][0]["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["diamond", "disc", "disc", "diamond"], "{results}");
    assert_eq!(results[3]["row"], 3);

    // Two sequences of 20 steps: each its own steps, counted from 0.
    let mut values = vec![0.0f32; 40];
    values[2] = 1.0;
    values[20 + 5] = 1.0;
    write_npy(&dir.path().join("seqs.npy"), &[2, 20, 1], &values);
    let out = user.run_in(
        dir.path(),
        &[
            "run",
            &model("peephole-lstm"),
            "--input",
            "x=seqs.npy",
            "--json",
        ],
    );
    let results: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    for result in results {
        assert_eq!(result["spikes"].as_array().unwrap().len(), 20, "{result}");
        for step in result["spike_steps"].as_array().unwrap() {
            assert!(step.as_u64().unwrap() < 20, "{result}");
        }
    }
}

#[test]
fn a_classify_output_that_holds_no_class_scores_is_refused() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    // The labelled output is a feature map ([1, 64, 2, 2]), not scores.
    let package = vgg_mini_copy(dir.path(), "features");
    let manifest = std::fs::read_to_string(package.join("zoo.toml")).unwrap();
    let manifest = manifest.replace("name = \"prob\"", "name = \"conv5_3\"");
    std::fs::write(package.join("zoo.toml"), manifest).unwrap();
    let shape = example("vgg-mini", "0-diamond.png");
    let out = user.run_in(dir.path(), &["run", package.to_str().unwrap(), &shape]);
    let stderr = failed(&out);
    assert!(
        stderr.contains("conv5_3") && stderr.contains("is not [N, classes]"),
        "{stderr}"
    );
}

#[test]
fn overlays_of_inputs_with_one_file_name_each_get_their_own() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let cells = example("cell-counter", "cells-41.png");
    for folder in ["a", "b"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
        std::fs::copy(&cells, dir.path().join(folder).join("img.png")).unwrap();
    }
    let args = [
        "run",
        &model("cell-counter"),
        "a/img.png",
        "b/img.png",
        "--overlay",
        "marks/",
        "--json",
    ];
    let out = user.run_in(dir.path(), &args);
    let results: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(results[0]["overlay"], "marks/img.png", "{results}");
    assert_eq!(results[1]["overlay"], "marks/img-2.png", "{results}");
    assert!(dir.path().join("marks/img.png").is_file());
    assert!(dir.path().join("marks/img-2.png").is_file());
    let stderr = &out.stderr;
    assert!(
        stderr.contains("b/img.png goes to marks/img-2.png"),
        "{stderr}"
    );
}

#[test]
fn input_and_output_names_are_checked_before_running() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    write_npy(
        &dir.path().join("x.npy"),
        &[1, 3, 32, 32],
        &[0.1; 3 * 32 * 32],
    );
    let vgg = model("vgg-mini");
    let stderr = failed(&user.run_in(dir.path(), &["run", &vgg, "--input", "foo=x.npy"]));
    assert!(
        stderr.contains("no input named \"foo\"") && stderr.contains("its inputs: data"),
        "{stderr}"
    );
    let stderr = failed(&user.run_in(
        dir.path(),
        &["run", &vgg, "--input", "data=x.npy", "--input", "c=x.npy"],
    ));
    assert!(stderr.contains("no input named \"c\""), "{stderr}");

    // An unknown output with several files: one error, before any runs.
    let shapes = [
        example("vgg-mini", "0-diamond.png"),
        example("vgg-mini", "1-disc.png"),
    ];
    let out = user.run_in(
        dir.path(),
        &["run", &vgg, &shapes[0], &shapes[1], "--output", "fc9=f.npy"],
    );
    let stderr = failed(&out);
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("no output named \"fc9\"") && stderr.contains("fc7"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing ran");

    // Two outputs into one file: refused, nothing written.
    let out = user.run_in(
        dir.path(),
        &[
            "run",
            &vgg,
            &shapes[0],
            "--output",
            "fc7=same.npy",
            "--output",
            "fc8=./same.npy",
        ],
    );
    let stderr = failed(&out);
    assert!(stderr.contains("both write"), "{stderr}");
    assert!(!dir.path().join("same.npy").exists());
}

#[test]
fn quiet_runs_print_results_but_not_what_they_wrote() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let shape = example("vgg-mini", "0-diamond.png");
    let out = user.run_in(
        dir.path(),
        &[
            "-q",
            "run",
            &model("vgg-mini"),
            &shape,
            "--output",
            "prob=p.npy",
        ],
    );
    let stdout = succeeded(&out);
    assert!(stdout.contains("diamond"), "{stdout}");
    assert!(!stdout.contains("→"), "{stdout}");
    assert!(dir.path().join("p.npy").is_file());
    let help = succeeded(&user.run_in(dir.path(), &["run", "--help"]));
    assert!(help.contains("Print only results and errors"), "{help}");
}

#[test]
fn truncated_jpegs_zero_top_and_blank_labels_are_refused() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::open(example("vgg-mini", "0-diamond.png"))
        .unwrap()
        .resize_exact(128, 128, image::imageops::FilterType::Nearest)
        .to_rgb8()
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let jpeg = jpeg.into_inner();
    std::fs::write(dir.path().join("half.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    let vgg = model("vgg-mini");
    let stderr = failed(&user.run_in(dir.path(), &["run", &vgg, "half.jpg"]));
    assert!(
        stderr.contains("half.jpg") && stderr.contains("truncated"),
        "{stderr}"
    );

    let shape = example("vgg-mini", "0-diamond.png");
    let out = user.run_in(dir.path(), &["run", &vgg, &shape, "--top", "0"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--top"));

    let package = vgg_mini_copy(dir.path(), "blank");
    let labels = std::fs::read_to_string(package.join("labels.txt")).unwrap();
    let labels = labels.replacen('\n', "\n\n", 1);
    std::fs::write(package.join("labels.txt"), labels).unwrap();
    let out = user.run_in(dir.path(), &["run", package.to_str().unwrap(), &shape]);
    let stderr = failed(&out);
    assert!(
        stderr.contains("labels.txt") && stderr.contains("line 2 is blank"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn zoo_torch_ended_by_a_signal_is_named_and_the_code_kept() {
    use std::os::unix::fs::PermissionsExt;
    let user = user();
    for (signal, code, words) in [
        (
            "KILL",
            137,
            "zoo-torch was killed by signal 9 (SIGKILL; out of memory?)",
        ),
        ("SEGV", 139, "zoo-torch crashed with signal 11 (SIGSEGV"),
    ] {
        let fake = user.zoo_home().join(format!("zoo-torch-{signal}"));
        std::fs::write(&fake, format!("#!/bin/sh\nkill -{signal} $$\n")).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = run_command(
            user.command(user.zoo_home(), &["run", "vgg-mini"])
                .env("ZOO_TORCH", &fake),
        );
        assert_eq!(out.code, Some(code));
        let stderr = &out.stderr;
        assert!(stderr.contains(&format!("error: {words}")), "{stderr}");
    }
}

#[test]
fn image_preprocessing_without_a_task_is_warned_about_at_import() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let onnx = root().join("crates/zoo-onnx/tests/fixtures/classifier/tiny_classifier.onnx");
    let import = |out: &str, extra: &[&str]| {
        let args = [
            &["import", "onnx", onnx.to_str().unwrap(), "-o", out][..],
            extra,
        ]
        .concat();
        let out = user.run_in(dir.path(), &args);
        succeeded(&out);
        out.stderr
    };
    let stderr = import("plain", &["--mean", "127.5", "--resize", "40,40"]);
    assert!(
        stderr.contains("warning: --mean, --resize set how `zoo run` prepares images")
            && stderr.contains("--task classify"),
        "{stderr}"
    );
    let stderr = import("classifier", &["--mean", "127.5", "--task", "classify"]);
    assert!(!stderr.contains("warning"), "{stderr}");
}
