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
