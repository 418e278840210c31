//! Parameter files: round trips, strict matching, and corrupt files giving
//! errors that name the file (never panics).

use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use zoo_nn::NnError;
use zoo_nn::links::{Convolution2DConfig, convolution_2d, linear};
use zoo_nn::params::{
    MappedSafetensors, Strictness, load_chainer_npz, load_chainer_npz_under, load_safetensors,
    read_npy, read_npz, read_safetensors, save_chainer_npz, save_safetensors, write_npy, write_npz,
};

/// A small model: `conv/W` (4, 3, 3, 2), `conv/b` (4), `fc/W` (5, 7), `fc/b` (5).
fn model(seed: i64) -> VarStore {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let _conv = convolution_2d(
        &(vs.root() / "conv"),
        3,
        4,
        [3, 2],
        Convolution2DConfig::default(),
    );
    let _fc = linear(&(vs.root() / "fc"), 7, 5);
    vs
}

fn same_values(a: &VarStore, b: &VarStore) -> bool {
    let (a, b) = (a.variables(), b.variables());
    a.len() == b.len()
        && a.iter().all(|(name, t)| {
            b.get(name)
                .is_some_and(|u| t.to_kind(Kind::Float).equal(&u.to_kind(Kind::Float)))
        })
}

fn error_text(result: zoo_nn::Result<impl std::fmt::Debug>) -> String {
    format!("{}", result.expect_err("expected an error"))
}

#[test]
fn safetensors_round_trip_uses_slash_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let source = model(1);
    save_safetensors(&source, &file).unwrap();
    let names: Vec<String> = Tensor::read_safetensors(&file)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&"conv/W".to_string()), "{names:?}");
    let target = model(2);
    assert!(!same_values(&source, &target));
    let report = load_safetensors(&target, &file, Strictness::Strict).unwrap();
    assert_eq!(report.loaded.len(), 4);
    assert!(same_values(&source, &target));
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Names keep a leading `/` as written (an ONNX graph's layer
/// `/stage2/Constant_output_0` reads `/stage2/Constant_output_0/value`),
/// while a store still loads `/conv/W` as `conv/W`; one name spelled both
/// ways is an error naming it.
#[test]
fn safetensors_names_with_a_leading_slash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let source = model(1);
    let named: Vec<(String, Tensor)> = source
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("/{}", name.replace('.', "/")), t))
        .chain([("/layer/value".to_string(), Tensor::from(7i64))])
        .collect();
    zoo_nn::params::write_safetensors(&named, &file).unwrap();
    let read = read_safetensors(&file).unwrap();
    let value = read
        .iter()
        .find(|(n, _)| n == "/layer/value")
        .expect("as written");
    assert_eq!(value.1.size(), Vec::<i64>::new());
    assert_eq!(value.1.int64_value(&[]), 7);
    let target = model(2);
    let report = load_safetensors(&target, &file, Strictness::Partial).unwrap();
    assert_eq!(report.loaded.len(), 4, "{report:?}");
    assert!(same_values(&source, &target));

    let twice = dir.path().join("twice.safetensors");
    let both = [
        (
            "conv/b".to_string(),
            Tensor::zeros([4], (Kind::Float, Device::Cpu)),
        ),
        (
            "/conv/b".to_string(),
            Tensor::zeros([4], (Kind::Float, Device::Cpu)),
        ),
    ];
    zoo_nn::params::write_safetensors(&both, &twice).unwrap();
    let e = error_text(load_safetensors(&model(3), &twice, Strictness::Partial));
    assert!(
        e.contains("twice.safetensors") && e.contains("conv/b appears twice"),
        "{e}"
    );
}

/// Loaded parameters share the file's pages copy-on-write: a write to one
/// never reaches the file, and they outlive the file's removal.
#[test]
fn loaded_safetensors_share_the_file_copy_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let source = model(1);
    save_safetensors(&source, &file).unwrap();
    let before = std::fs::read(&file).unwrap();

    let target = model(2);
    load_safetensors(&target, &file, Strictness::Strict).unwrap();
    assert!(same_values(&source, &target));
    let read = read_safetensors(&file).unwrap();
    // Views of one mapping lie as far apart in memory as in the file.
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&before).unwrap();
    let offset = |name: &str| metadata.info(name).unwrap().data_offsets.0 as i64;
    let address = |name: &str| {
        let (_, tensor) = read.iter().find(|(n, _)| n == name).unwrap();
        tensor.data_ptr() as i64
    };
    assert_eq!(
        address("fc/W") - address("conv/W"),
        offset("fc/W") - offset("conv/W")
    );
    let fc = target.variables()["fc.W"].shallow_clone();
    let expected = fc.copy();
    tch::no_grad(|| {
        let _ = fc.shallow_clone().g_add_scalar_(1.0);
    });
    let (_, read_fc) = read.iter().find(|(name, _)| name == "fc/W").unwrap();
    let _ = read_fc.shallow_clone().g_mul_scalar_(0.0);
    assert_eq!(std::fs::read(&file).unwrap(), before);

    std::fs::remove_file(&file).unwrap();
    assert!(fc.equal(&(&expected + 1.0)));
    assert!(read_fc.equal(&expected.zeros_like()));
    let conv = &target.variables()["conv.W"];
    assert!(conv.equal(&source.variables()["conv.W"]));
}

/// Writes `tensors` to `file` and maps it.
fn mapped_file(file: &Path, tensors: &[(&str, &Tensor)]) -> MappedSafetensors {
    let named: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(name, tensor)| (name.to_string(), tensor.shallow_clone()))
        .collect();
    zoo_nn::params::write_safetensors(&named, file).unwrap();
    MappedSafetensors::open(file).unwrap()
}

/// Copying a mapped tensor into another layout (channels-last) gives the
/// file's values and drops the pages it read; a tensor handed out as a view
/// keeps its pages, and with them its in-place writes, even when it is
/// also copied. Tensors of several pages each, so that whole pages lie
/// inside them.
#[test]
fn copies_from_the_mapping_release_only_pages_no_view_uses() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let kernel =
        Tensor::arange(64 * 32 * 3 * 3, (Kind::Float, Device::Cpu)).reshape([64, 32, 3, 3]);
    let other =
        Tensor::arange(64 * 32 * 3 * 3, (Kind::Float, Device::Cpu)).reshape([64, 32, 3, 3]) * 2.0;
    let mapped = mapped_file(&file, &[("a/W", &kernel), ("b/W", &other)]);

    // Copied into a channels-last target: the file's values, twice (the
    // second read faults the dropped pages back in from the file).
    for _ in 0..2 {
        let mut nhwc = zoo_nn::functions::channels_last(&kernel.zeros_like()).unwrap();
        mapped.copy_into("a/W", &mut nhwc).unwrap();
        assert_eq!(nhwc.stride()[1], 1, "still channels-last");
        assert!(nhwc.equal(&kernel));
    }

    // A view written in place, then copied: the copy sees the write, and
    // the view keeps it after the copy.
    let view = mapped.tensor("b/W").unwrap();
    tch::no_grad(|| {
        let _ = view.shallow_clone().fill_(7.0);
    });
    let mut nhwc = zoo_nn::functions::channels_last(&other.zeros_like()).unwrap();
    mapped.copy_into("b/W", &mut nhwc).unwrap();
    assert!(nhwc.equal(&other.full_like(7.0)));
    assert!(view.equal(&other.full_like(7.0)), "the view lost its write");
}

/// `release_unless_held` keeps the pages of views the caller still holds
/// in place and drops the others: a dropped page faults the file's bytes
/// back in, which is why the views must not have been written (the write
/// here shows which pages were dropped).
#[test]
fn views_not_held_in_place_are_released() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let values = Tensor::arange(64 * 1024, (Kind::Float, Device::Cpu));
    let mapped = mapped_file(&file, &[("kept", &values), ("replaced", &values)]);
    let kept = mapped.tensor("kept").unwrap();
    let replaced = mapped.tensor("replaced").unwrap();
    tch::no_grad(|| {
        let _ = kept.shallow_clone().fill_(7.0);
        let _ = replaced.shallow_clone().fill_(7.0);
    });
    let kept_at = kept.data_ptr() as usize;
    mapped.release_unless_held(|name| (name == "kept").then_some(kept_at));
    assert!(
        kept.equal(&values.full_like(7.0)),
        "a held view lost its pages"
    );
    // The replaced view's interior pages came back from the file.
    let interior = replaced.narrow(0, 2048, 60 * 1024);
    assert!(interior.equal(&values.narrow(0, 2048, 60 * 1024)));
}

/// A file whose data does not start at an address aligned for its dtype
/// (other writers need not pad the header) is read by copying.
#[test]
fn unaligned_safetensors_data_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.safetensors");
    let header = r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}} "#;
    let header = if header.len().is_multiple_of(2) {
        format!("{header} ")
    } else {
        header.to_string()
    };
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    for value in [1.0f32, 2.0, 3.0, 4.0] {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    write(&file, &bytes);
    let read = read_safetensors(&file).unwrap();
    assert_eq!(read.len(), 1);
    assert!(
        read[0]
            .1
            .equal(&Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]))
    );
}

#[test]
fn safetensors_loads_into_half_and_bfloat16_stores() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let source = model(1);
    save_safetensors(&source, &file).unwrap();
    for kind in [Kind::Half, Kind::BFloat16] {
        let mut target = model(2);
        target.set_kind(kind);
        load_safetensors(&target, &file, Strictness::Strict).unwrap();
        let w = target.variables()["conv.W"].shallow_clone();
        assert_eq!(w.kind(), kind);
        let diff = (w.to_kind(Kind::Float) - &source.variables()["conv.W"])
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-2, "{kind:?}: {diff}");
    }
}

#[test]
fn strict_load_lists_missing_unexpected_and_misshaped_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let w = Tensor::zeros([4, 3, 2, 3], (Kind::Float, Device::Cpu)); // transposed kernel
    let b = Tensor::zeros([4], (Kind::Float, Device::Cpu));
    let extra = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    Tensor::write_safetensors(&[("conv/W", &w), ("conv/b", &b), ("head/b", &extra)], &file)
        .unwrap();
    let target = model(2);
    let before = target.variables()["conv.b"].copy();
    let error = load_safetensors(&target, &file, Strictness::Strict).unwrap_err();
    let NnError::ParamMismatch { path, mismatch } = &error else {
        panic!("unexpected error {error}");
    };
    assert_eq!(path, &file);
    assert_eq!(
        mismatch
            .missing
            .iter()
            .map(|m| m.0.as_str())
            .collect::<Vec<_>>(),
        ["fc/W", "fc/b"]
    );
    assert_eq!(mismatch.unexpected, vec![("head/b".to_string(), vec![2])]);
    assert_eq!(
        mismatch.misshaped,
        vec![("conv/W".to_string(), vec![4, 3, 3, 2], vec![4, 3, 2, 3])]
    );
    let text = error.to_string();
    for needle in [
        "w.safetensors",
        "missing fc/W [5, 7]",
        "unexpected head/b [2]",
        "mis-shaped conv/W: model [4, 3, 3, 2], file [4, 3, 2, 3]",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    // A refused file changes nothing.
    assert!(target.variables()["conv.b"].equal(&before));

    // Partial: loads conv/b only and reports the rest.
    let report = load_safetensors(&target, &file, Strictness::Partial).unwrap();
    assert_eq!(report.loaded, vec!["conv/b".to_string()]);
    assert_eq!(report.skipped.misshaped.len(), 1);
    assert_eq!(
        target.variables()["conv.b"]
            .abs()
            .sum(Kind::Float)
            .double_value(&[]),
        0.0
    );
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn corrupt_safetensors_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    save_safetensors(&model(1), &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.safetensors", bytes[..bytes.len() - 10].to_vec()),
        ("header-only.safetensors", bytes[..20].to_vec()),
        (
            "garbage.safetensors",
            b"this is not a safetensors file at all".to_vec(),
        ),
        ("empty.safetensors", Vec::new()),
        ("bad-header.safetensors", {
            let mut b = 16u64.to_le_bytes().to_vec();
            b.extend_from_slice(b"{not json}......");
            b
        }),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        write(&path, &content);
        let text = error_text(load_safetensors(&model(2), &path, Strictness::Strict));
        assert!(text.contains(name), "{name}: {text}");
    }
    let text = error_text(load_safetensors(
        &model(2),
        dir.path().join("absent.safetensors"),
        Strictness::Strict,
    ));
    assert!(text.contains("absent.safetensors"), "{text}");
}

#[test]
fn chainer_npz_round_trip_and_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.npz");
    let source = model(3);
    save_chainer_npz(&source, &file).unwrap();
    let keys: Vec<String> = read_npz(&file)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["conv/W", "conv/b", "fc/W", "fc/b"]);
    let target = model(4);
    load_chainer_npz(&target, &file, Strictness::Strict).unwrap();
    assert!(same_values(&source, &target));

    // A Classifier's snapshot: the model's members sit under `predictor/`.
    let snapshot = dir.path().join("snapshot.npz");
    let mut members: Vec<(String, Tensor)> = read_npz(&file)
        .unwrap()
        .into_iter()
        .map(|(name, t)| (format!("predictor/{name}"), t))
        .collect();
    members.push(("optimizer/t".into(), Tensor::from(3i64)));
    write_npz(&snapshot, &members).unwrap();
    let target = model(5);
    let strict = Strictness::Strict;
    assert!(load_chainer_npz(&target, &snapshot, strict).is_err());
    load_chainer_npz_under(&target, &snapshot, "predictor/", strict).unwrap();
    assert!(same_values(&source, &target));

    let bytes = std::fs::read(&file).unwrap();
    for (name, content) in [
        ("truncated.npz", bytes[..bytes.len() / 2].to_vec()),
        ("garbage.npz", vec![7u8; 300]),
        ("empty.npz", Vec::new()),
    ] {
        let path = dir.path().join(name);
        write(&path, &content);
        let text = error_text(load_chainer_npz(&model(4), &path, Strictness::Strict));
        assert!(text.contains(name), "{name}: {text}");
    }

    // A member whose .npy data is cut short, inside a valid zip.
    let path = dir.path().join("short-member.npz");
    let mut npy = Vec::new();
    write_npy(
        dir.path().join("a.npy"),
        &Tensor::zeros([5, 7], (Kind::Float, Device::Cpu)),
    )
    .unwrap();
    npy.extend_from_slice(&std::fs::read(dir.path().join("a.npy")).unwrap()[..100]);
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file("fc/W.npy", zip::write::FileOptions::default())
            .unwrap();
        zip.write_all(&npy).unwrap();
        zip.finish().unwrap();
    }
    let text = error_text(load_chainer_npz(&model(4), &path, Strictness::Strict));
    assert!(
        text.contains("short-member.npz") && text.contains("fc/W"),
        "{text}"
    );
}

#[test]
fn npy_and_npz_round_trip_common_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = vec![
        (
            "f32",
            Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0, 5.0, 6.0]).reshape([2, 3]),
        ),
        ("f64", Tensor::from_slice(&[1.5f64, -2.0]).reshape([2])),
        ("i64", Tensor::from_slice(&[1i64, -2, 3]).reshape([3, 1])),
        ("u8", Tensor::from_slice(&[0u8, 255, 7, 8]).reshape([2, 2])),
        ("scalar", Tensor::from(4.0f32)),
    ];
    for (name, t) in &tensors {
        let path = dir.path().join(format!("{name}.npy"));
        write_npy(&path, t).unwrap();
        let back = read_npy(&path).unwrap();
        assert_eq!(back.kind(), t.kind(), "{name}");
        assert!(back.equal(t), "{name}");
    }
    let path = dir.path().join("all.npz");
    write_npz(&path, &tensors).unwrap();
    let back = read_npz(&path).unwrap();
    assert_eq!(back.len(), tensors.len());
    for ((n1, t1), (n2, t2)) in tensors.iter().zip(&back) {
        assert_eq!(n1, n2);
        assert!(t1.equal(t2));
    }
    let text = error_text(write_npy(
        dir.path().join("bf.npy"),
        &Tensor::zeros([2], (Kind::BFloat16, Device::Cpu)),
    ));
    assert!(text.contains("BFloat16"), "{text}");
}

/// A .npy file with a hand-written header.
fn npy_with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut header = header.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn npy_rejects_object_dtype_and_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    let four_floats = [0u8; 16];
    let cases = [
        (
            "object.npy",
            "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
            &four_floats[..],
            "object",
        ),
        (
            "unicode.npy",
            "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }",
            &four_floats[..],
            "not supported",
        ),
        (
            "short.npy",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &four_floats[..],
            "truncated",
        ),
        (
            "noshape.npy",
            "{'descr': '<f4', 'fortran_order': False, }",
            &four_floats[..],
            "shape",
        ),
    ];
    for (name, header, data, needle) in cases {
        let path = dir.path().join(name);
        write(&path, &npy_with_header(header, data));
        let text = error_text(read_npy(&path));
        assert!(
            text.contains(name) && text.contains(needle),
            "{name}: {text}"
        );
    }
    // Fortran order (numpy's column-major arrays, e.g. a transpose saved
    // as is) comes out row-major: [[1, 2, 3], [4, 5, 6]] is stored 1 4 2 5 3 6.
    let path = dir.path().join("fortran.npy");
    let column_major: Vec<u8> = [1f32, 4., 2., 5., 3., 6.]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write(
        &path,
        &npy_with_header(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &column_major,
        ),
    );
    let t = read_npy(&path).unwrap();
    assert_eq!(t.size(), [2, 3]);
    assert_eq!(
        Vec::<f32>::try_from(&t.flatten(0, -1)).unwrap(),
        vec![1., 2., 3., 4., 5., 6.]
    );
    // Big-endian data is converted.
    let path = dir.path().join("big.npy");
    write(
        &path,
        &npy_with_header(
            "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
            &[0, 0, 1, 2, 255, 255, 255, 254],
        ),
    );
    let t = read_npy(&path).unwrap();
    assert_eq!(Vec::<i32>::try_from(&t).unwrap(), vec![258, -2]);
    // Not an npy at all.
    let path = dir.path().join("text.npy");
    write(&path, b"hello");
    assert!(error_text(read_npy(&path)).contains("magic"));
}

/// VGG16-sized weights (138 M parameters, 553 MB): zoo's memory-mapped load
/// against tch's `VarStore::load`, side by side. Run with `cargo test -p
/// zoo-nn --test params_io -- --ignored --nocapture`.
#[test]
#[ignore = "writes and reads 553 MB; a measurement, not a check"]
fn vgg16_sized_safetensors_load_timing() {
    let shapes: [(&str, &[i64]); 6] = [
        ("conv", &[512, 512, 3, 3]),
        ("fc6", &[4096, 25088]),
        ("fc7", &[4096, 4096]),
        ("fc8", &[1000, 4096]),
        ("conv_b", &[512]),
        ("fc6_b", &[4096]),
    ];
    let build = || {
        let vs = VarStore::new(Device::Cpu);
        for (name, shape) in shapes {
            let copies = if name == "conv" { 6 } else { 1 };
            for i in 0..copies {
                let _ = vs.root().zeros(&format!("{name}{i}"), shape);
            }
        }
        vs
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.safetensors");
    let source = build();
    let start = std::time::Instant::now();
    save_safetensors(&source, &file).unwrap();
    let bytes = std::fs::metadata(&file).unwrap().len();
    println!(
        "save: {:.3} s for {bytes} bytes",
        start.elapsed().as_secs_f64()
    );
    let target = build();
    let start = std::time::Instant::now();
    load_safetensors(&target, &file, Strictness::Strict).unwrap();
    let zoo = start.elapsed().as_secs_f64();
    let mut tch_store = build();
    let start = std::time::Instant::now();
    tch_store.load(&file).unwrap();
    let tch = start.elapsed().as_secs_f64();
    println!(
        "load: zoo {zoo:.3} s, tch VarStore::load {tch:.3} s, ratio {:.2}",
        zoo / tch
    );
}
