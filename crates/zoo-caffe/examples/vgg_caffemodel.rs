//! Writes the synthetic VGG16-shaped V1 caffemodel (see
//! `zoo_caffe::synthetic_vgg`): `vgg_caffemodel full|mini OUT.caffemodel`.
//! Used by tests/fixtures/generate.py and `cargo xtask bench caffe`.

use std::path::PathBuf;
use zoo_caffe::synthetic_vgg::{VggSize, write_vgg16};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (size, out) = match args.as_slice() {
        [size, out] if size == "full" => (VggSize::Full, PathBuf::from(out)),
        [size, out] if size == "mini" => (VggSize::Mini, PathBuf::from(out)),
        _ => {
            eprintln!("usage: vgg_caffemodel full|mini OUT.caffemodel");
            std::process::exit(2);
        }
    };
    // Write beside the destination and rename, so an interrupted run leaves no
    // truncated file for the next one to trust.
    let partial = out.with_extension("caffemodel.partial");
    if let Err(error) = write_vgg16(&partial, size).and_then(|()| std::fs::rename(&partial, &out)) {
        eprintln!("error: {}: {error}", out.display());
        std::process::exit(1);
    }
}
