//! A few training steps of each model must reduce its loss.

use zoo_models::Architecture;
use zoo_models::train::{TrainOptions, train};

fn short(steps: usize) -> TrainOptions {
    TrainOptions {
        seed: 0,
        steps: Some(steps),
        held_out: Some(16),
        progress: false,
        device: tch::Device::Cpu,
    }
}

fn assert_learns(architecture: Architecture, steps: usize) {
    tch::set_num_threads(2);
    let report = train(architecture, &short(steps)).unwrap();
    assert!(
        report.last_loss < report.first_loss,
        "{}: loss {} → {}",
        architecture.name(),
        report.first_loss,
        report.last_loss
    );
    assert!(report.metrics.iter().all(|m| m.value.is_finite()));
}

#[test]
fn vgg_mini_loss_decreases() {
    assert_learns(Architecture::VggMini, 40);
}

#[test]
fn peephole_lstm_loss_decreases() {
    assert_learns(Architecture::PeepholeLstm, 40);
}

#[test]
fn nested_rnn_loss_decreases() {
    assert_learns(Architecture::NestedRnn, 30);
}

#[test]
fn cell_counter_loss_decreases() {
    assert_learns(Architecture::CellCounter, 40);
}

#[test]
fn architectures_without_a_recipe_are_refused() {
    assert!(train(Architecture::Vgg16, &short(1)).is_err());
}

/// The trainer's package carries golden.npz and `[model.golden]`, and the
/// package as written reproduces it exactly.
#[test]
fn a_trained_package_records_its_golden_input_and_outputs() {
    use zoo_models::card::{CardInfo, image_input, output, write_package};
    tch::set_num_threads(2);
    let report = train(Architecture::PeepholeLstm, &short(2)).unwrap();
    let info = CardInfo {
        package: "peephole-lstm".into(),
        builtin: "peephole-lstm".into(),
        description: "test".into(),
        keywords: vec![],
        command: "test".into(),
        seed: 0,
        body: String::new(),
        inputs: vec![image_input("x", vec![-1, -1, 1], None)],
        outputs: vec![output("logits", None), output("spikes", None)],
        extra_files: vec![],
        extra_results: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("peephole-lstm");
    write_package(&package, &info, &report).unwrap();
    let card = std::fs::read_to_string(package.join("README.md")).unwrap();
    assert!(
        card.contains("- Per-evaluation log: [`training.log`](training.log)\n"),
        "{card}"
    );
    let manifest = zoo_format::manifest::Manifest::load(&package).unwrap();
    let golden = manifest.model.as_ref().unwrap().golden.clone().unwrap();
    assert_eq!(golden.file, zoo_models::golden::GOLDEN_FILE);
    let arrays = zoo_models::golden::read(&package.join(&golden.file)).unwrap();
    assert_eq!(arrays.inputs[0].0, "x");
    assert_eq!(arrays.inputs[0].1.size(), vec![1, 16, 1]);
    let names: Vec<&str> = arrays.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["logits", "spikes"]);
    let model = zoo_models::load_package(&package, tch::Device::Cpu).unwrap();
    let checks =
        zoo_models::golden::check(model.model.as_ref(), &arrays, golden.tolerance).unwrap();
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}
