//! `zoo run`'s inputs and outputs as a new user meets them (issue #15), on
//! the real binaries and the package folders of this checkout: closed pipes,
//! files that are missing or of the wrong kind, unknown outputs, layer
//! features from images, decoded results for `--input`, a batch with one bad
//! file, images of another size, an image from standard input, overlays,
//! images too large to run, and libtorch errors without their C++ trace.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use zoo_e2e::{Zoo, write_npy};

fn root() -> PathBuf {
    zoo_e2e::cargo::workspace_root()
}

fn model(name: &str) -> String {
    root().join("models").join(name).display().to_string()
}

fn user() -> Zoo {
    Zoo::new("http://127.0.0.1:9", None)
}

fn vgg_examples() -> Vec<String> {
    ["0-diamond.png", "1-disc.png", "2-disc.png"]
        .iter()
        .map(|f| {
            root()
                .join("models/vgg-mini/examples")
                .join(f)
                .display()
                .to_string()
        })
        .collect()
}

fn zoo(user: &Zoo, dir: &Path, args: &[&str]) -> Output {
    user.command(dir, args)
        .stdin(Stdio::null())
        .output()
        .expect("running zoo")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stderr of a command that must have exited 1.
fn failed(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// `data=PATH`: `dir/x.npy` of `shape` filled with `value`.
fn npy_input(dir: &Path, shape: &[usize], value: f32) -> String {
    let x = dir.join("x.npy");
    write_npy(&x, shape, &vec![value; shape.iter().product()]);
    format!("data={}", x.display())
}

/// The shape recorded in a `.npy` file's header.
fn npy_shape(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let header = text(&bytes[10..]);
    let start = header.find("'shape': (").unwrap() + "'shape': (".len();
    let end = header[start..].find(')').unwrap() + start;
    // "3, 256" or "3,256," alike.
    header[start..end]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn a_closed_stdout_ends_zoo_run_quietly() {
    let user = user();
    let mut args = vec!["run".to_string(), model("vgg-mini")];
    for _ in 0..100 {
        args.extend(vgg_examples());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = user
        .command(&root(), &args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn spike_inputs_that_are_missing_or_images_are_named() {
    let user = user();
    let out = zoo(
        &user,
        &root(),
        &["run", &model("peephole-lstm"), "no-such-sequence.txt"],
    );
    let stderr = failed(&out);
    assert!(
        stderr.contains("no-such-sequence.txt") && stderr.contains("no such file"),
        "{stderr}"
    );
    assert!(!stderr.contains("float"), "{stderr}");

    let png = vgg_examples().remove(0);
    let out = zoo(&user, &root(), &["run", &model("peephole-lstm"), &png]);
    let stderr = failed(&out);
    assert!(stderr.contains("PNG image"), "{stderr}");
    assert!(!stderr.contains("UTF-8"), "{stderr}");
    assert_eq!(stderr.matches("0-diamond.png").count(), 1, "{stderr}");
}

#[test]
fn unknown_outputs_are_named_with_the_outputs_there_are() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let input = npy_input(dir.path(), &[1, 3, 32, 32], 0.1);
    let vgg = model("vgg-mini");
    let run_to = |output: &str| {
        let args = ["run", &vgg, "--input", &input, "--output", output];
        zoo(&user, dir.path(), &args)
    };
    let out = run_to("nosuch=p.npy");
    let stderr = failed(&out);
    assert!(stderr.contains("no output named \"nosuch\""), "{stderr}");
    assert!(
        stderr.contains("fc7"),
        "the known outputs are listed: {stderr}"
    );
    assert!(!stderr.contains("invalid input"), "{stderr}");
    assert!(!dir.path().join("p.npy").exists());

    // A missing folder for an --output file is refused before running.
    let out = run_to("fc7=missing/fc7.npy");
    let stderr = failed(&out);
    assert!(
        stderr.contains("the folder missing does not exist"),
        "{stderr}"
    );
}

#[test]
fn layer_features_from_images_and_decoded_results_from_tensors() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["run".to_string(), model("vgg-mini")];
    args.extend(vgg_examples());
    args.extend(["--output".into(), "fc7=fc7.npy".into()]);
    args.extend(["--output".into(), "pool5=pool5.npy".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = zoo(&user, dir.path(), &args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("diamond"), "labels still printed: {stdout}");
    assert_eq!(npy_shape(&dir.path().join("fc7.npy")), "3, 256");
    assert_eq!(npy_shape(&dir.path().join("pool5.npy")), "3, 64, 1, 1");

    // --input without --output: decoded as for files.
    let seq = dir.path().join("seq.npy");
    let mut values = vec![0.0f32; 30];
    values[2] = 1.0;
    values[10] = 1.0;
    write_npy(&seq, &[1, 30, 1], &values);
    let input = format!("x={}", seq.display());
    let out = zoo(
        &user,
        dir.path(),
        &["run", &model("peephole-lstm"), "--input", &input],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("output spikes at steps [18]"), "{stdout}");
}

#[test]
fn one_bad_file_in_a_batch_is_reported_and_the_rest_still_run() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let examples = vgg_examples();
    let out = zoo(
        &user,
        dir.path(),
        &[
            "run",
            &model("vgg-mini"),
            &examples[0],
            "missing.png",
            &examples[1],
            "--json",
        ],
    );
    let stderr = failed(&out);
    assert!(stderr.contains("missing.png"), "{stderr}");
    assert!(stderr.contains("1 of 3 inputs failed"), "{stderr}");
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["top"][0]["label"], "diamond");
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("missing.png")
    );
    assert_eq!(results[2]["top"][0]["label"], "disc");
}

#[test]
fn images_of_another_size_get_the_packages_preprocessing() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    // The 32x32 example scaled up to 640x480: resized back, same class.
    let example = image::open(&vgg_examples()[0]).unwrap();
    let big = example.resize_exact(640, 480, image::imageops::FilterType::Nearest);
    let photo = dir.path().join("photo.png");
    big.save(&photo).unwrap();
    let out = zoo(
        &user,
        dir.path(),
        &["run", &model("vgg-mini"), "photo.png", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results[0]["top"][0]["label"], "diamond", "{results}");
}

/// `-` reads one image from standard input, in any format the files take;
/// an empty pipe, and `-` for a package that takes no images, are named.
#[test]
fn an_image_from_standard_input_runs_as_its_file_does() {
    use std::io::Write;
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let example = &vgg_examples()[0];
    let from_file = zoo(
        &user,
        dir.path(),
        &["run", &model("vgg-mini"), example, "--json"],
    );
    assert_eq!(
        from_file.status.code(),
        Some(0),
        "{}",
        text(&from_file.stderr)
    );
    let piped = |args: &[&str], bytes: &[u8]| {
        let mut child = user
            .command(dir.path(), args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running zoo");
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        child.wait_with_output().expect("zoo's output")
    };
    // The example as a JPEG through the pipe: the format comes from the bytes.
    let jpeg = {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::open(example)
            .unwrap()
            .to_rgb8()
            .write_to(&mut bytes, image::ImageFormat::Jpeg)
            .unwrap();
        bytes.into_inner()
    };
    let out = piped(&["run", &model("vgg-mini"), "-", "--json"], &jpeg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value = serde_json::from_slice(&from_file.stdout).unwrap();
    assert_eq!(got[0]["file"], "-");
    assert_eq!(
        got[0]["top"][0]["label"], want[0]["top"][0]["label"],
        "{got} {want}"
    );
    // The PNG's own bytes: the same answer as the file, to the digit.
    let png = std::fs::read(example).unwrap();
    let out = piped(&["run", &model("vgg-mini"), "-", "--json"], &png);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got[0]["top"], want[0]["top"]);

    let empty = piped(&["run", &model("vgg-mini"), "-"], b"");
    assert!(
        failed(&empty).contains("standard input is empty"),
        "{}",
        text(&empty.stderr)
    );
    let spikes = piped(&["run", &model("peephole-lstm"), "-"], b"0,0,1");
    let stderr = failed(&spikes);
    assert!(
        stderr.contains("reads an image from standard input") && stderr.contains("spike sequence"),
        "{stderr}"
    );
}

#[test]
fn overlays_take_their_format_from_the_name_and_go_to_folders_for_batches() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    let cells = root()
        .join("models/cell-counter/examples/cells-41.png")
        .display()
        .to_string();
    let counter = model("cell-counter");

    let out = zoo(
        &user,
        dir.path(),
        &["run", &counter, &cells, "--overlay", "marked.jpg"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bytes = std::fs::read(dir.path().join("marked.jpg")).unwrap();
    assert!(
        bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "JPEG bytes in a .jpg"
    );

    // A missing folder fails before the model runs, naming it.
    let out = zoo(
        &user,
        dir.path(),
        &["run", &counter, &cells, "--overlay", "nowhere/marked.png"],
    );
    let stderr = failed(&out);
    assert!(
        stderr.contains("the folder nowhere does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("count"), "{stderr}");

    // A trailing slash names a folder; several inputs need one.
    let out = zoo(
        &user,
        dir.path(),
        &["run", &counter, &cells, "--overlay", "marks/"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("marks/cells-41.png").is_file());
    let copy = dir.path().join("copy.png");
    std::fs::copy(&cells, &copy).unwrap();
    let out = zoo(
        &user,
        dir.path(),
        &["run", &counter, &cells, "copy.png", "--overlay", "batch"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("batch/cells-41.png").is_file());
    assert!(dir.path().join("batch/copy.png").is_file());
}

#[test]
fn cell_images_of_any_size_run_and_huge_ones_are_refused_before_running() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    // 61x47: not a multiple of 8, padded; black: counts 0, not below.
    image::GrayImage::new(61, 47)
        .save(dir.path().join("odd.png"))
        .unwrap();
    let out = zoo(
        &user,
        dir.path(),
        &["run", &model("cell-counter"), "odd.png", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = results[0]["count"].as_f64().unwrap();
    assert!(count >= 0.0, "a black image counts {count}");
    // ... and is named as unlike the training images.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: odd.png: the image is dark"),
        "{stderr}"
    );
    assert!(
        results[0]["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty())
    );

    // The example: the marked cells are as many as the count says.
    let cells = root().join("models/cell-counter/examples/cells-41.png");
    let out = zoo(
        &user,
        dir.path(),
        &[
            "run",
            &model("cell-counter"),
            cells.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = results[0]["count"].as_f64().unwrap();
    let marked = results[0]["peaks"].as_array().unwrap().len();
    assert_eq!(
        marked as f64,
        count.round(),
        "count {count}, {marked} marked"
    );
    assert!((count - 41.0).abs() < 5.0, "count {count} for 41 cells");
    assert_eq!(
        results[0]["warnings"],
        serde_json::json!([]),
        "the example is in distribution"
    );

    image::GrayImage::new(8000, 8000)
        .save(dir.path().join("huge.png"))
        .unwrap();
    let out = zoo(
        &user,
        dir.path(),
        &["run", &model("cell-counter"), "huge.png"],
    );
    let stderr = failed(&out);
    assert!(
        stderr.contains("huge.png is 8000×8000") && stderr.contains("--max-pixels"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("frame #"),
        "{stderr}"
    );
}

#[test]
fn libtorch_errors_are_one_line_without_the_cpp_trace() {
    let user = user();
    let dir = tempfile::tempdir().unwrap();
    // Five channels where VGG's first convolution takes three: libtorch
    // raises the error.
    let input = npy_input(dir.path(), &[1, 5, 32, 32], 0.0);
    let out = zoo(
        &user,
        dir.path(),
        &["run", &model("vgg-mini"), "--input", &input],
    );
    let stderr = failed(&out);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("frame #"), "{stderr}");
    assert!(!stderr.contains("Exception raised from"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
