//! The `zoo run` examples in README.md, models/README.md and the model cards
//! run as written (on the package folders of this checkout, with `--json`)
//! and give the answers the docs imply: the peephole LSTM's spike sequences
//! lie in its trained range and it answers with the interval repeated; the
//! VGG-mini example images get the class in their file name. Examples whose
//! inputs are placeholders (`image.png`) are listed by the test and skipped;
//! at least the known runnable ones must be found.

use serde_json::Value;
use std::path::{Path, PathBuf};
use zoo_e2e::Zoo;

/// The documents whose examples are checked.
const DOCS: &[&str] = &[
    "README.md",
    "models/README.md",
    "models/peephole-lstm/README.md",
    "models/vgg-mini/README.md",
];

fn root() -> PathBuf {
    zoo_e2e::cargo::workspace_root()
}

/// `zoo run …` lines of `doc`'s code blocks, without a trailing comment.
fn run_examples(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(doc)).expect("reading a README");
    let mut in_code = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let line = line.trim();
        if in_code && line.starts_with("zoo run ") {
            let command = line.split(" #").next().unwrap_or(line).trim();
            lines.push(command.to_string());
        }
    }
    lines
}

/// The steps at which a 0/1 sequence is 1.
fn ones(sequence: &str) -> Vec<usize> {
    sequence
        .split(',')
        .enumerate()
        .filter(|(_, v)| v.trim() == "1")
        .map(|(i, _)| i)
        .collect()
}

fn is_sequence(arg: &str) -> bool {
    arg.contains(',') && arg.split(',').all(|v| v.trim().parse::<f32>().is_ok())
}

/// Expands `dir/*.ext` against the checkout (the shell would).
fn expand(arg: &str) -> Vec<String> {
    let Some((dir, pattern)) = arg.rsplit_once('/') else {
        return vec![arg.to_string()];
    };
    let Some(ext) = pattern.strip_prefix("*.") else {
        return vec![arg.to_string()];
    };
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(&format!(".{ext}")))
                .map(|name| format!("{dir}/{name}"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn zoo_run_json(user: &Zoo, package: &Path, inputs: &[String]) -> Vec<Value> {
    let mut args = vec!["run".to_string(), package.display().to_string()];
    args.extend(inputs.iter().cloned());
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = user.run_in(&root(), &args).ok();
    serde_json::from_str::<Value>(out.trim())
        .unwrap_or_else(|e| panic!("zoo {args:?} printed no JSON array ({e}): {out}"))
        .as_array()
        .cloned()
        .expect("an array of results")
}

#[test]
fn readme_run_examples_give_the_documented_answers() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let mut checked = Vec::new();
    let mut skipped = Vec::new();
    for doc in DOCS {
        for line in run_examples(doc) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let package = words[2];
            let folder = root().join("models").join(package);
            let inputs: Vec<&str> = words[3..]
                .iter()
                .copied()
                .take_while(|w| !w.starts_with("--"))
                .collect();
            match package {
                "peephole-lstm" if inputs.len() == 1 && is_sequence(inputs[0]) => {
                    let spikes = ones(inputs[0]);
                    assert_eq!(spikes.len(), 2, "{doc}: `{line}` needs two input spikes");
                    let interval = spikes[1] - spikes[0];
                    assert!(
                        (5..=25).contains(&interval) && spikes[0] <= 9,
                        "{doc}: `{line}` spikes {interval} steps apart from step {}: the model \
                         was trained on intervals 5-25 starting in steps 0-9",
                        spikes[0]
                    );
                    let expected = spikes[1] + interval;
                    assert!(
                        expected < inputs[0].split(',').count(),
                        "{doc}: `{line}` is too short to show the answer at step {expected}"
                    );
                    let results = zoo_run_json(&user, &folder, &[inputs[0].to_string()]);
                    let steps = &results[0]["spike_steps"];
                    assert_eq!(steps, &serde_json::json!([expected]), "{doc}: `{line}`");
                    checked.push(format!("{doc}: {line}"));
                }
                "vgg-mini"
                    if inputs.iter().all(|i| {
                        !expand(i).is_empty() && root().join(expand(i)[0].as_str()).is_file()
                    }) && !inputs.is_empty() =>
                {
                    let files: Vec<String> = inputs.iter().flat_map(|i| expand(i)).collect();
                    let results = zoo_run_json(&user, &folder, &files);
                    assert_eq!(results.len(), files.len());
                    for (file, result) in files.iter().zip(&results) {
                        // `examples/<n>-<class>.png`
                        let stem = Path::new(file).file_stem().unwrap().to_string_lossy();
                        let class = stem.split_once('-').map(|(_, c)| c).unwrap_or(&stem);
                        assert_eq!(
                            result["top"][0]["label"].as_str(),
                            Some(class),
                            "{doc}: `{line}`: {file}: {result}"
                        );
                    }
                    checked.push(format!("{doc}: {line}"));
                }
                _ => skipped.push(format!("{doc}: {line}")),
            }
        }
    }
    eprintln!(
        "checked:\n  {}\nskipped (placeholder inputs or other packages):\n  {}",
        checked.join("\n  "),
        skipped.join("\n  ")
    );
    assert!(
        checked
            .iter()
            .filter(|c| c.contains("peephole-lstm"))
            .count()
            >= 2
            && checked.iter().any(|c| c.contains("vgg-mini")),
        "the runnable examples were not found: {checked:?}"
    );
}
