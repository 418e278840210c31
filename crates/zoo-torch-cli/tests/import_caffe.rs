//! `zoo import caffe` through the real binary: a package on success, a clear
//! message, a non-zero exit and no output directory on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;
use zoo_e2e::run_command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zoo-caffe/tests/fixtures")
}

fn zoo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zoo-torch"))
}

/// `zoo import caffe INPUTS... -o OUT`; more arguments may follow.
fn import_caffe(inputs: &[&Path], out: &Path) -> Command {
    let mut cmd = zoo();
    cmd.args(["import", "caffe"])
        .args(inputs)
        .arg("-o")
        .arg(out);
    cmd
}

#[test]
fn imports_a_package() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let status = import_caffe(
        &[
            &fixtures().join("net_v1.prototxt"),
            &fixtures().join("net_v1.caffemodel"),
        ],
        &out,
    )
    .args(["--name", "all-v1", "--version", "1.2.3"])
    .status()
    .unwrap();
    assert!(status.success());
    let manifest = std::fs::read_to_string(out.join("zoo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"all-v1\"") && manifest.contains("version = \"1.2.3\""),
        "{manifest}"
    );
    assert!(manifest.contains("graph = \"graph.json\""), "{manifest}");
    assert!(out.join("weights.safetensors").is_file() && out.join("graph.json").is_file());
}

#[test]
fn syntax_error_exits_non_zero_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy.prototxt");
    std::fs::write(&deploy, "layer {\n  name: \"a\"\n  type: }\n").unwrap();
    let out = dir.path().join("out");
    let caffemodel = fixtures().join("net_v2.caffemodel");
    let stderr = run_command(&mut import_caffe(&[&deploy, &caffemodel], &out)).fails();
    assert!(
        stderr.contains("deploy.prototxt: line 3, column 9"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the prototxt remains"
    );
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A VGG-mini-shaped caffemodel (the layers and names of models/vgg-mini).
fn mini_caffemodel(dir: &Path) -> PathBuf {
    let path = dir.join("vgg16-mini.caffemodel");
    zoo_caffe::synthetic_vgg::write_vgg16(&path, zoo_caffe::synthetic_vgg::VggSize::Mini).unwrap();
    path
}

fn photo() -> PathBuf {
    repo().join("models/vgg-mini/examples/0-diamond.png")
}

/// `zoo run DIR photo --json`'s labels, checked to be 5 entries.
fn top_labels(package: &Path) -> Vec<String> {
    let stdout = run_command(zoo().arg("run").arg(package).arg(photo()).arg("--json")).ok();
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let file = value[0]["file"].as_str().unwrap();
    assert_eq!(file, photo().to_str().unwrap());
    let top = value[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 5, "{value}");
    let probabilities: Vec<f64> = top
        .iter()
        .map(|t| t["probability"].as_f64().unwrap())
        .collect();
    assert!(probabilities.windows(2).all(|w| w[0] >= w[1]), "{value}");
    assert!(
        probabilities.iter().all(|p| (0.0..=1.0).contains(p)),
        "{value}"
    );
    top.iter()
        .map(|t| t["label"].as_str().unwrap().to_string())
        .collect()
}

fn sha256_hex(path: &Path) -> String {
    zoo_format::checksum::sha256_file(path).unwrap().0
}

#[test]
fn like_makes_the_builtin_package_with_provenance_and_it_classifies() {
    let dir = tempfile::tempdir().unwrap();
    let caffemodel = mini_caffemodel(dir.path());
    let out = dir.path().join("vgg-mini");
    succeeds(
        zoo()
            .args(["import", "caffe"])
            .arg(&caffemodel)
            .arg("--like")
            .arg(repo().join("models/vgg-mini"))
            .arg("-o")
            .arg(&out)
            .args(["--version", "0.9.0"]),
    );
    let manifest = zoo_format::manifest::Manifest::load(&out).unwrap();
    assert_eq!(manifest.package.name, "vgg-mini");
    assert_eq!(manifest.package.version.to_string(), "0.9.0");
    let model = manifest.model.as_ref().unwrap();
    assert_eq!(model.task, Some(zoo_format::manifest::Task::Classify));
    assert!(
        matches!(&model.architecture, zoo_format::manifest::Architecture::Builtin { name, .. } if name == "vgg-mini"),
        "{:?}",
        model.architecture
    );
    assert!(
        model.metrics.is_empty(),
        "the like package's metrics are about other weights"
    );
    assert!(!out.join("graph.json").exists());
    let pre = model.inputs[0].preprocess.as_ref().unwrap();
    assert_eq!(pre.mean, vec![127.5; 3]);
    // Weights by parameter name, as models/src/vgg.rs expects.
    let weights = tch::Tensor::read_safetensors(out.join("weights.safetensors")).unwrap();
    let conv = weights.iter().find(|(n, _)| n == "conv1_1/W").unwrap();
    assert_eq!(conv.1.size(), vec![8, 3, 3, 3]);
    // Provenance: name, size and sha256 of the source, and the converter.
    let source = &model.provenance.as_ref().unwrap().converted_from[0];
    let size = std::fs::metadata(&caffemodel).unwrap().len();
    assert_eq!(source.file, "vgg16-mini.caffemodel");
    assert_eq!(source.sha256, sha256_hex(&caffemodel));
    assert_eq!(source.size, Some(size));
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        card.contains(&format!(
            "| vgg16-mini.caffemodel | {size} | {} |",
            source.sha256
        )) && card.contains("zoo-caffe ")
            && card.contains("VGG"),
        "{card}"
    );
    assert_eq!(
        std::fs::read(out.join("labels.txt")).unwrap(),
        std::fs::read(repo().join("models/vgg-mini/labels.txt")).unwrap()
    );
    let known: Vec<String> = std::fs::read_to_string(out.join("labels.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let labels = top_labels(&out);
    assert!(labels.iter().all(|l| known.contains(l)), "{labels:?}");
    // Its own golden output (not the like package's), which `verify` accepts.
    assert_eq!(model.golden.as_ref().unwrap().file, "golden.npz");
    assert_ne!(
        std::fs::read(out.join("golden.npz")).unwrap(),
        std::fs::read(repo().join("models/vgg-mini/golden.npz")).unwrap()
    );
    let verified = zoo().arg("verify").arg(&out).output().unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// A Caffe mean.binaryproto of shape [1, 3, 2, 2].
fn write_mean(path: &Path, per_channel: [f32; 3]) {
    use prost::Message;
    let blob = zoo_caffe::proto::BlobProto {
        num: Some(1),
        channels: Some(3),
        height: Some(2),
        width: Some(2),
        // Each channel averages to its value: v-1, v+1, v-2, v+2.
        data: per_channel
            .iter()
            .flat_map(|v| [v - 1.0, v + 1.0, v - 2.0, v + 2.0])
            .collect(),
        ..Default::default()
    };
    std::fs::write(path, blob.encode_to_vec()).unwrap();
}

#[test]
fn graph_import_with_labels_and_preprocessing_classifies_images() {
    let dir = tempfile::tempdir().unwrap();
    let caffemodel = mini_caffemodel(dir.path());
    let labels: Vec<String> = (0..10).map(|i| format!("thing {i}")).collect();
    let labels_file = dir.path().join("synset.txt");
    std::fs::write(&labels_file, labels.join("\n") + "\n").unwrap();
    let mean = dir.path().join("mean.binaryproto");
    write_mean(&mean, [100.0, 110.0, 120.0]);
    let out = dir.path().join("net");
    succeeds(
        import_caffe(&[&caffemodel], &out)
            .arg("--labels")
            .arg(&labels_file)
            .arg("--mean-file")
            .arg(&mean)
            .args(["--task", "classify", "--resize", "40,40", "--crop", "32,32"])
            .args(["--scale", "0.5"]),
    );
    let manifest = zoo_format::manifest::Manifest::load(&out).unwrap();
    let model = manifest.model.as_ref().unwrap();
    assert_eq!(model.task, Some(zoo_format::manifest::Task::Classify));
    assert!(matches!(
        model.architecture,
        zoo_format::manifest::Architecture::Graph { .. }
    ));
    let pre = model.inputs[0].preprocess.as_ref().unwrap();
    assert_eq!(pre.mean, vec![100.0, 110.0, 120.0]);
    assert_eq!(
        pre.channel_order,
        Some(zoo_format::manifest::ChannelOrder::Bgr)
    );
    assert_eq!(
        (pre.resize, pre.crop, pre.scale),
        (Some([40, 40]), Some([32, 32]), 0.5)
    );
    assert_eq!(model.outputs[0].labels.as_deref(), Some("labels.txt"));
    let top = top_labels(&out);
    assert!(top.iter().all(|l| labels.contains(l)), "{top:?}");

    // Labels alone make a classifier that reads images as Caffe does (BGR).
    let labelled = dir.path().join("labelled");
    succeeds(
        import_caffe(&[&caffemodel], &labelled)
            .arg("--labels")
            .arg(&labels_file),
    );
    let manifest = zoo_format::manifest::Manifest::load(&labelled).unwrap();
    let model = manifest.model.as_ref().unwrap();
    assert_eq!(model.task, Some(zoo_format::manifest::Task::Classify));
    let pre = model.inputs[0].preprocess.as_ref().unwrap();
    assert_eq!(
        pre.channel_order,
        Some(zoo_format::manifest::ChannelOrder::Bgr)
    );
    assert!(pre.mean.is_empty() && pre.scale == 1.0);
    assert_eq!(top_labels(&labelled).len(), 5);

    // Without a task, files cannot be decoded: the error says what to do.
    let plain = dir.path().join("plain");
    assert!(
        import_caffe(&[&caffemodel], &plain)
            .status()
            .unwrap()
            .success()
    );
    let result = zoo().arg("run").arg(&plain).arg(photo()).output().unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("no [model] task") && stderr.contains("--input data="),
        "{stderr}"
    );
}

/// Runs an import expected to fail; returns stderr after checking that
/// the output folder does not exist.
/// Runs `command`, which must succeed (its stderr is shown if not).
fn succeeds(command: &mut Command) {
    run_command(command).ok();
}

fn failing_import(dir: &Path, extra: &[&std::ffi::OsStr]) -> String {
    let caffemodel = dir.join("vgg16-mini.caffemodel");
    if !caffemodel.exists() {
        mini_caffemodel(dir);
    }
    let out = dir.join("out");
    let result = import_caffe(&[&caffemodel], &out)
        .args(extra)
        .output()
        .unwrap();
    assert!(!result.status.success());
    assert!(!out.exists(), "nothing may be written");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".zoo-import"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    String::from_utf8_lossy(&result.stderr).into_owned()
}

#[test]
fn bad_labels_layers_and_mean_files_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("three.txt");
    std::fs::write(&labels, "a\nb\nc\n").unwrap();
    let stderr = failing_import(dir.path(), &["--labels".as_ref(), labels.as_os_str()]);
    assert!(
        stderr.contains("three.txt")
            && stderr.contains("3 labels")
            && stderr.contains("10 outputs"),
        "{stderr}"
    );

    // A like package whose fc6 is narrower than the caffemodel's.
    let narrow = dir.path().join("narrow");
    std::fs::create_dir(&narrow).unwrap();
    for file in ["labels.txt", "README.md"] {
        std::fs::copy(repo().join("models/vgg-mini").join(file), narrow.join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(repo().join("models/vgg-mini/zoo.toml")).unwrap();
    assert!(manifest.contains("fc_width = 256"));
    std::fs::write(
        narrow.join("zoo.toml"),
        manifest.replace("fc_width = 256", "fc_width = 128"),
    )
    .unwrap();
    let stderr = failing_import(dir.path(), &["--like".as_ref(), narrow.as_os_str()]);
    assert!(
        stderr.contains("fc6/W") && stderr.contains("[256, 64]") && stderr.contains("[128, 64]"),
        "{stderr}"
    );

    let mean = dir.path().join("mean.binaryproto");
    std::fs::write(&mean, b"not a blob at all").unwrap();
    let stderr = failing_import(dir.path(), &["--mean-file".as_ref(), mean.as_os_str()]);
    assert!(stderr.contains("mean.binaryproto"), "{stderr}");
    // The right format with the wrong number of channels.
    use prost::Message;
    let blob = zoo_caffe::proto::BlobProto {
        num: Some(1),
        channels: Some(2),
        height: Some(1),
        width: Some(1),
        data: vec![1.0, 2.0],
        ..Default::default()
    };
    std::fs::write(&mean, blob.encode_to_vec()).unwrap();
    let stderr = failing_import(dir.path(), &["--mean-file".as_ref(), mean.as_os_str()]);
    assert!(
        stderr.contains("mean.binaryproto") && stderr.contains("2 mean values"),
        "{stderr}"
    );
}

/// `fixture.prototxt` with `extra` appended, written into `dir`.
fn prototxt_with(dir: &Path, fixture: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixtures().join(fixture)).unwrap();
    let path = dir.join(fixture);
    std::fs::write(&path, text + extra).unwrap();
    path
}

#[test]
fn transform_param_gives_the_defaults_and_options_override_them() {
    let dir = tempfile::tempdir().unwrap();
    // net_caffe: its first input is a 3-channel image (net_v1's and
    // net_v2's have 4 channels and take no image preprocessing).
    let deploy = prototxt_with(
        dir.path(),
        "net_caffe.prototxt",
        r#"
layer {
  name: "input2"
  type: "Data"
  top: "images"
  include { phase: TEST }
  transform_param { crop_size: 6 mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.5 }
}
"#,
    );
    let import = |out: &Path, extra: &[&str]| {
        succeeds(
            import_caffe(&[&deploy, &fixtures().join("net_caffe.caffemodel")], out).args(extra),
        );
        let manifest = zoo_format::manifest::Manifest::load(out).unwrap();
        manifest.model.unwrap().inputs[0]
            .preprocess
            .clone()
            .unwrap()
    };
    let pre = import(&dir.path().join("a"), &[]);
    assert_eq!(pre.crop, Some([6, 6]));
    assert_eq!(pre.mean, vec![104.0, 117.0, 123.0]);
    assert_eq!(pre.scale, 0.5);
    assert_eq!(
        pre.channel_order,
        Some(zoo_format::manifest::ChannelOrder::Bgr)
    );
    let pre = import(&dir.path().join("b"), &["--mean", "1,2,3", "--crop", "4,5"]);
    assert_eq!(
        (pre.mean, pre.crop, pre.scale),
        (vec![1.0, 2.0, 3.0], Some([4, 5]), 0.5)
    );

    // A mean file the prototxt names but that is not there: named, nothing written.
    let deploy = prototxt_with(
        dir.path(),
        "net_caffe.prototxt",
        r#"
layer {
  name: "input2"
  type: "Data"
  top: "images"
  transform_param { mean_file: "imagenet_mean.binaryproto" }
}
"#,
    );
    let out = dir.path().join("c");
    let caffemodel = fixtures().join("net_caffe.caffemodel");
    let stderr = run_command(&mut import_caffe(&[&deploy, &caffemodel], &out)).fails();
    assert!(
        stderr.contains("imagenet_mean.binaryproto") && stderr.contains("--mean-file"),
        "{stderr}"
    );
    assert!(!out.exists());
    // Beside the prototxt, it is read.
    write_mean(
        &dir.path().join("imagenet_mean.binaryproto"),
        [10.0, 20.0, 30.0],
    );
    let pre = import_v2(&deploy, &out);
    assert_eq!(pre.mean, vec![10.0, 20.0, 30.0]);
}

fn import_v2(deploy: &Path, out: &Path) -> zoo_format::manifest::Preprocess {
    succeeds(&mut import_caffe(
        &[deploy, &fixtures().join("net_caffe.caffemodel")],
        out,
    ));
    let manifest = zoo_format::manifest::Manifest::load(out).unwrap();
    manifest.model.unwrap().inputs[0]
        .preprocess
        .clone()
        .unwrap()
}

#[test]
fn a_mean_for_an_input_that_is_no_image_is_refused() {
    // net_v1's input "data" has 4 channels: no image becomes it.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let files = [
        fixtures().join("net_v1.prototxt"),
        fixtures().join("net_v1.caffemodel"),
    ];
    let stderr = run_command(
        import_caffe(&[&files[0], &files[1]], &out).args(["--mean", "1,2,3", "--task", "classify"]),
    )
    .fails();
    assert!(
        stderr.contains("\"data\" has 4 channels") && stderr.contains("--input data="),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// models/vgg-mini with VGG19's topology (depth 19), as a --like folder.
fn mini_vgg19_like(dir: &Path) -> PathBuf {
    let like = dir.join("vgg19-mini");
    std::fs::create_dir(&like).unwrap();
    for file in ["labels.txt", "README.md"] {
        std::fs::copy(repo().join("models/vgg-mini").join(file), like.join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(repo().join("models/vgg-mini/zoo.toml")).unwrap();
    assert!(manifest.contains("depth = 16"));
    let manifest = manifest
        .replace("depth = 16", "depth = 19")
        .replace("name = \"vgg-mini\"", "name = \"vgg19-mini\"");
    std::fs::write(like.join("zoo.toml"), manifest).unwrap();
    like
}

#[test]
fn like_takes_vgg19_and_refuses_a_vgg16_caffemodel_naming_the_missing_layer() {
    use zoo_caffe::synthetic_vgg::{VggSize, write_vgg};
    let dir = tempfile::tempdir().unwrap();
    let like = mini_vgg19_like(dir.path());
    let vgg19 = dir.path().join("vgg19-mini.caffemodel");
    write_vgg(&vgg19, VggSize::Mini, 19).unwrap();
    let out = dir.path().join("out19");
    succeeds(
        zoo()
            .args(["import", "caffe"])
            .arg(&vgg19)
            .arg("--like")
            .arg(&like)
            .arg("-o")
            .arg(&out),
    );
    let manifest = zoo_format::manifest::Manifest::load(&out).unwrap();
    assert_eq!(manifest.package.name, "vgg19-mini");
    let weights = tch::Tensor::read_safetensors(out.join("weights.safetensors")).unwrap();
    assert!(weights.iter().any(|(n, _)| n == "conv5_4/W"));
    let labels = top_labels(&out);
    assert_eq!(labels.len(), 5);

    // A VGG16-shaped caffemodel lacks conv3_4 of VGG19.
    let stderr = failing_import(dir.path(), &["--like".as_ref(), like.as_os_str()]);
    assert!(
        stderr.contains("conv3_4/W") && stderr.contains("missing from the caffemodel"),
        "{stderr}"
    );
}

/// The headline at full size: a VGG16-shaped 553 MB caffemodel with
/// `--like models/vgg16` becomes the runnable `vgg16` package (about 25 s
/// in a debug build, 2 GB of memory); `cargo test -p zoo-torch-cli --test
/// import_caffe -- --ignored`.
#[test]
#[ignore]
fn full_size_vgg16_like_models_vgg16() {
    let dir = tempfile::tempdir().unwrap();
    let caffemodel = dir.path().join("VGG_ILSVRC_16_layers.caffemodel");
    zoo_caffe::synthetic_vgg::write_vgg16(&caffemodel, zoo_caffe::synthetic_vgg::VggSize::Full)
        .unwrap();
    let out = dir.path().join("vgg16");
    succeeds(
        zoo()
            .args(["import", "caffe"])
            .arg(&caffemodel)
            .arg("--like")
            .arg(repo().join("models/vgg16"))
            .arg("-o")
            .arg(&out),
    );
    let manifest = zoo_format::manifest::Manifest::load(&out).unwrap();
    assert_eq!(manifest.package.name, "vgg16");
    let imagenet: Vec<String> = std::fs::read_to_string(repo().join("models/vgg16/labels.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let labels = top_labels(&out);
    assert!(labels.iter().all(|l| imagenet.contains(l)), "{labels:?}");
}
