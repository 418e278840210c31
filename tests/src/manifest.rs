//! Package builders: a `zoo.toml` written field by field, so that a test
//! names only what its package is about.
//!
//! ```
//! let toml = zoo_e2e::manifest::Manifest::model("shapes", "1.0.0")
//!     .description("Classifies shapes")
//!     .builtin("vgg-mini")
//!     .weights(&["weights.safetensors"])
//!     .input("image", &[-1, 3, 32, 32])
//!     .output("prob", Some("labels.txt"))
//!     .to_toml();
//! assert!(toml.contains("kind = \"model\""));
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A `zoo.toml` under construction.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    package: String,
    dependencies: String,
    weights: Option<String>,
    architecture: String,
    io: String,
    extra: String,
}

/// A TOML basic string (Rust's debug quoting agrees for the test values).
fn quoted(value: &str) -> String {
    format!("{value:?}")
}

impl Manifest {
    /// `[package]` with `name`, `version` and `kind`.
    pub fn new(name: &str, version: &str, kind: &str) -> Manifest {
        Manifest::default()
            .field("name", name)
            .field("version", version)
            .field("kind", kind)
    }

    /// A `kind = "model"` package.
    pub fn model(name: &str, version: &str) -> Manifest {
        Manifest::new(name, version, "model")
    }

    /// `key = "value"` in `[package]`.
    pub fn field(self, key: &str, value: &str) -> Manifest {
        self.raw_field(key, &quoted(value))
    }

    /// `key = VALUE` in `[package]`, VALUE a TOML literal as written.
    pub fn raw_field(mut self, key: &str, value: &str) -> Manifest {
        writeln!(self.package, "{key} = {value}").unwrap();
        self
    }

    pub fn description(self, text: &str) -> Manifest {
        self.field("description", text)
    }

    pub fn license(self, license: &str) -> Manifest {
        self.field("license", license)
    }

    pub fn readme(self, path: &str) -> Manifest {
        self.field("readme", path)
    }

    pub fn keywords(self, words: &[&str]) -> Manifest {
        let list: Vec<String> = words.iter().map(|w| quoted(w)).collect();
        self.raw_field("keywords", &format!("[{}]", list.join(", ")))
    }

    /// `name = "req"` under `[dependencies]`.
    pub fn dependency(mut self, name: &str, req: &str) -> Manifest {
        writeln!(self.dependencies, "{name} = {}", quoted(req)).unwrap();
        self
    }

    /// `[model] weights = [...]`.
    pub fn weights(mut self, files: &[&str]) -> Manifest {
        let list: Vec<String> = files.iter().map(|f| quoted(f)).collect();
        self.weights = Some(list.join(", "));
        self
    }

    /// `[model.architecture] builtin = "name"`.
    pub fn builtin(self, name: &str) -> Manifest {
        self.architecture(&format!("builtin = {}", quoted(name)))
    }

    /// Lines of `[model.architecture]`, as written.
    pub fn architecture(mut self, lines: &str) -> Manifest {
        writeln!(self.architecture, "{}", lines.trim_end()).unwrap();
        self
    }

    /// A `[[model.inputs]]` of f32 with `shape`.
    pub fn input(mut self, name: &str, shape: &[i64]) -> Manifest {
        let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
        write!(
            self.io,
            "\n[[model.inputs]]\nname = {}\nshape = [{}]\ndtype = \"f32\"\n",
            quoted(name),
            dims.join(", ")
        )
        .unwrap();
        self
    }

    /// `[model.inputs.preprocess]` of the last input: its lines as written.
    pub fn preprocess(mut self, lines: &str) -> Manifest {
        write!(self.io, "[model.inputs.preprocess]\n{}\n", lines.trim_end()).unwrap();
        self
    }

    /// A `[[model.outputs]]`, with a labels file or none.
    pub fn output(mut self, name: &str, labels: Option<&str>) -> Manifest {
        write!(self.io, "\n[[model.outputs]]\nname = {}\n", quoted(name)).unwrap();
        if let Some(labels) = labels {
            writeln!(self.io, "labels = {}", quoted(labels)).unwrap();
        }
        self
    }

    /// A `[[model.metrics]]`.
    pub fn metric(mut self, name: &str, dataset: &str, value: f64) -> Manifest {
        write!(
            self.io,
            "\n[[model.metrics]]\nname = {}\ndataset = {}\nvalue = {value}\n",
            quoted(name),
            quoted(dataset)
        )
        .unwrap();
        self
    }

    /// Any further TOML, appended as written.
    pub fn append(mut self, toml: &str) -> Manifest {
        writeln!(self.extra, "\n{}", toml.trim_end()).unwrap();
        self
    }

    /// The `zoo.toml` text.
    pub fn to_toml(&self) -> String {
        let mut toml = format!("[package]\n{}", self.package);
        if !self.dependencies.is_empty() {
            write!(toml, "\n[dependencies]\n{}", self.dependencies).unwrap();
        }
        if let Some(weights) = &self.weights {
            write!(toml, "\n[model]\nweights = [{weights}]\n").unwrap();
        }
        if !self.architecture.is_empty() {
            write!(toml, "\n[model.architecture]\n{}", self.architecture).unwrap();
        }
        toml.push_str(&self.io);
        toml.push_str(&self.extra);
        toml
    }

    /// Writes `dir/zoo.toml` (creating `dir`); returns `dir`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("creating a package dir");
        std::fs::write(dir.join("zoo.toml"), self.to_toml()).expect("writing zoo.toml");
        dir.to_path_buf()
    }

    /// Writes `dir/zoo.toml` and `files` (paths relative to `dir`); returns `dir`.
    pub fn write_with(&self, dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        self.write(dir);
        for (path, bytes) in files {
            let full = dir.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).expect("creating a dir");
            }
            std::fs::write(full, bytes).expect("writing a package file");
        }
        dir.to_path_buf()
    }
}
