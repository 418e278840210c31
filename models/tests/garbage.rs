//! Bad input gets a clear error naming what is wrong, never a panic.

use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor, nn::VarStore};
use zoo_models::package::BuiltinModel;
use zoo_models::{Architecture, inputs, params};
use zoo_nn::Model;

fn model(architecture: Architecture) -> BuiltinModel {
    BuiltinModel::build(architecture, &serde_json::json!({}), Device::Cpu).unwrap()
}

fn error_of(model: &BuiltinModel, name: &str, x: Tensor) -> String {
    model.run(&[(name.into(), x)], &[]).unwrap_err().to_string()
}

#[test]
fn wrong_shapes_are_named() {
    let vgg = model(Architecture::VggMini);
    let e = error_of(
        &vgg,
        "data",
        Tensor::zeros([1, 3, 48, 48], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("data") && e.contains("32"), "{e}");
    let e = error_of(
        &vgg,
        "data",
        Tensor::zeros([1, 1, 32, 32], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("[N, 3, 32, 32]"), "{e}");
    let e = error_of(
        &vgg,
        "image",
        Tensor::zeros([1, 3, 32, 32], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("\"data\""), "{e}");
    let e = vgg
        .run(
            &[(
                "data".into(),
                Tensor::zeros([1, 3, 32, 32], (Kind::Float, Device::Cpu)),
            )],
            &["nope".into()],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");

    let cells = model(Architecture::CellCounter);
    let e = error_of(
        &cells,
        "image",
        Tensor::zeros([1, 3, 64, 64], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("one-channel"), "{e}");
    let e = error_of(
        &cells,
        "image",
        Tensor::zeros([1, 1, 30, 64], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("multiples of 8"), "{e}");

    let lstm = model(Architecture::PeepholeLstm);
    let e = error_of(
        &lstm,
        "x",
        Tensor::zeros([1, 0, 1], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("empty"), "{e}");
    let e = error_of(
        &lstm,
        "x",
        Tensor::zeros([1, 5, 1], (Kind::Int64, Device::Cpu)),
    );
    assert!(e.contains("float"), "{e}");

    let video = model(Architecture::NestedRnn);
    let e = error_of(
        &video,
        "video",
        Tensor::zeros([1, 0, 1, 48, 48], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("empty"), "{e}");
    let e = error_of(
        &video,
        "video",
        Tensor::zeros([1, 2, 1, 32, 32], (Kind::Float, Device::Cpu)),
    );
    assert!(e.contains("48"), "{e}");
}

#[test]
fn bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.npy");
    std::fs::write(&junk, b"not numpy").unwrap();
    let e = inputs::read_npy(&junk).unwrap_err().to_string();
    assert!(e.contains("junk.npy"), "{e}");
    let e = inputs::read_spikes("").unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    let e = inputs::read_spikes("0,1,x").unwrap_err().to_string();
    assert!(e.contains("numbers"), "{e}");
    assert_eq!(
        inputs::read_spikes("0, 0 1,0").unwrap().size(),
        vec![1, 4, 1]
    );
    let png = dir.path().join("broken.png");
    std::fs::write(&png, b"\x89PNG garbage").unwrap();
    let e = zoo_models::image_io::open(&png).unwrap_err().to_string();
    assert!(e.contains("broken.png"), "{e}");
    let e = inputs::read_video(dir.path()).unwrap_err().to_string();
    assert!(e.contains("broken.png") || e.contains("frame"), "{e}");
    let e = zoo_models::load_package(dir.path(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("zoo.toml"), "{e}");
}

#[test]
fn weights_are_checked_by_name_and_shape() {
    let mut vs = VarStore::new(Device::Cpu);
    let _net = zoo_models::cell_counter::CellCounter::new(&vs.root(), Default::default()).unwrap();
    let mut named: BTreeMap<String, Tensor> = params::named_tensors(&vs).into_iter().collect();
    named.insert(
        "conv1/W".into(),
        Tensor::zeros([3, 3], (Kind::Float, Device::Cpu)),
    );
    let e = params::copy_into(&mut vs, &named).unwrap_err().to_string();
    assert!(e.contains("conv1/W") && e.contains("shape"), "{e}");
    let mut named: BTreeMap<String, Tensor> = params::named_tensors(&vs).into_iter().collect();
    named.remove("out/b");
    let e = params::copy_into(&mut vs, &named).unwrap_err().to_string();
    assert!(e.contains("out/b") && e.contains("missing"), "{e}");
    let mut named: BTreeMap<String, Tensor> = params::named_tensors(&vs).into_iter().collect();
    named.insert(
        "extra/W".into(),
        Tensor::zeros([1], (Kind::Float, Device::Cpu)),
    );
    let e = params::copy_into(&mut vs, &named).unwrap_err().to_string();
    assert!(e.contains("extra/W"), "{e}");
}
