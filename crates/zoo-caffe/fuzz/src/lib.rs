//! The fuzzed functions, shared by the cargo-fuzz targets and the stable
//! smoke runner: any input must give a value or an error, never a panic.

use zoo_caffe::{net, text, wire};

/// The seeded mutator shared with zoo-format's and zoo-nn's fuzz crates.
#[path = "../../../zoo-format/fuzz/src/mutate.rs"]
pub mod mutate;

/// The caffemodel reader, and the net view built on what it returns.
pub fn caffemodel(data: &[u8]) {
    if let Ok(model) = wire::read_model(data) {
        let layers = net::layers_of_model(model.layers);
        let _ = net::declared_inputs(&model.net, &layers);
        for layer in &layers {
            for blob in &layer.blobs {
                assert_eq!(blob.data.le_bytes().len(), blob.data.len() * 4);
            }
        }
    }
}

/// The prototxt parser; on success the net view as well.
pub fn prototxt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text::parse_net(text) {
        Ok(net) => {
            let layers = net::layers_of_net(&net);
            let _ = net::declared_inputs(&net, &layers);
        }
        Err(error) => assert!(error.line >= 1 && error.column >= 1),
    }
}
