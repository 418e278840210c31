//! A crate that depends on the `peephole-link` Link crate through
//! `registry = "zoo"`:
//!
//! - `peephole-consumer run WEIGHTS SEQUENCE` loads trained weights (the
//!   `peephole-lstm` package's safetensors) into the link by name and prints
//!   the steps where it spikes for a comma-separated 0/1 input sequence;
//! - `peephole-consumer export WEIGHTS OUT.pt [--steps T]` traces the link
//!   into a TorchScript file that a model package runs without Rust.

use peephole_link::{PeepholeTimer, spikes};
use std::path::Path;
use zoo_nn::params::{Strictness, load_safetensors};
use zoo_nn::tch::{Device, Kind, Tensor, nn::VarStore};
use zoo_nn::{Link, Mode};

const INPUT_SIZE: i64 = 1;
const HIDDEN: i64 = 16;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["run", weights, sequence] => run(Path::new(weights), sequence),
        ["export", weights, out] => export(Path::new(weights), Path::new(out), 64),
        ["export", weights, out, "--steps", steps] => match steps.parse() {
            Ok(steps) if steps > 0 => export(Path::new(weights), Path::new(out), steps),
            _ => Err(format!(
                "--steps: `{steps}` is not a positive number of steps"
            )),
        },
        _ => Err(
            "usage: peephole-consumer run WEIGHTS 0,1,0,… | export WEIGHTS OUT.pt \
                  [--steps T]"
                .into(),
        ),
    };
    if let Err(message) = result {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// The link with the weights in `path` loaded by name (strict: every
/// parameter present with its shape, nothing extra).
fn load(path: &Path) -> Result<(VarStore, PeepholeTimer), String> {
    let mut vs = VarStore::new(Device::Cpu);
    let timer = PeepholeTimer::new(&vs.root(), INPUT_SIZE, HIDDEN);
    load_safetensors(&vs, path, Strictness::Strict).map_err(|e| e.to_string())?;
    vs.freeze();
    Ok((vs, timer))
}

fn parse_sequence(text: &str) -> Result<Tensor, String> {
    let values = text
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f32>()
                .map_err(|_| format!("the sequence: `{v}` is not a number"))
        })
        .collect::<Result<Vec<f32>, String>>()?;
    Ok(Tensor::from_slice(&values).view([1, -1, 1]))
}

fn run(weights: &Path, sequence: &str) -> Result<(), String> {
    let (_vs, timer) = load(weights)?;
    let x = parse_sequence(sequence)?;
    let logits = timer.f_forward(&x, Mode::Test).map_err(|e| e.to_string())?;
    let fired = spikes(&logits).map_err(|e| e.to_string())?;
    println!("spikes at steps {:?}", fired[0]);
    Ok(())
}

fn export(weights: &Path, out: &Path, steps: i64) -> Result<(), String> {
    let (_vs, timer) = load(weights)?;
    let example = Tensor::zeros([1, steps, INPUT_SIZE], (Kind::Float, Device::Cpu));
    zoo_nn::torchscript::export_link(out, &timer, "x", &example).map_err(|e| e.to_string())?;
    println!(
        "wrote {} (input x: [1, {steps}, {INPUT_SIZE}], output logits: [1, {steps}])",
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_from_the_registry_runs_forward() {
        let vs = VarStore::new(Device::Cpu);
        let timer = PeepholeTimer::new(&vs.root(), INPUT_SIZE, HIDDEN);
        let x = parse_sequence("0,1,0,0,1,0").unwrap();
        let y = timer.f_forward(&x, Mode::Test).unwrap();
        assert_eq!(y.size(), [1, 6]);
        assert!(parse_sequence("0,x").unwrap_err().contains("`x`"));
    }
}
