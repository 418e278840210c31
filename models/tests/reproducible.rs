//! `cargo xtask train` is reproducible: the same seed gives the same weights.
//! (Its own test binary: tests running beside it in one process could draw
//! from torch's global generator, e.g. for dropout.)

use zoo_models::Architecture;
use zoo_models::params::named_tensors;
use zoo_models::train::{TrainOptions, train};

fn weights(seed: u64) -> Vec<(String, Vec<f32>)> {
    let options = TrainOptions {
        seed,
        steps: Some(5),
        held_out: Some(8),
        progress: false,
        device: tch::Device::Cpu,
    };
    let report = train(Architecture::PeepholeLstm, &options).unwrap();
    named_tensors(&report.model.vs)
        .into_iter()
        .map(|(name, t)| (name, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    tch::set_num_threads(2);
    let first = weights(0);
    assert_eq!(first, weights(0), "seed 0 twice");
    assert_ne!(first, weights(1), "seeds 0 and 1");
}
