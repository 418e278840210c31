//! The package manifest, `zoo.toml` (docs/package-format.md).
//!
//! Unknown keys are rejected so that typos (`weigths = …`) surface at
//! `zoo package` time instead of as a silently missing section. Errors name the
//! file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::name::{normalize_name, validate_name};
use crate::relpath::validate_rel_path;

/// The manifest's file name inside a package.
pub const MANIFEST_FILE: &str = "zoo.toml";

/// A parsed and validated `zoo.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub package: PackageMeta,
    /// Other zoo packages with semver requirements, keyed by package name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, VersionReq>,
    /// Present exactly when `package.kind = "model"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSection>,
}

/// `[package]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageMeta {
    pub name: String,
    pub version: Version,
    pub kind: Kind,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// A file of the package rendered as the model card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// What a package provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Model,
    Link,
    Function,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Link => "link",
            Kind::Function => "function",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[model]`, only for `kind = "model"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Weight files; always stored as external blobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<String>,
    /// What the outputs mean, so that `zoo run` can decode them for any
    /// architecture (built-in, graph or TorchScript).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    pub architecture: Architecture,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// A fixed input and the outputs it gave when the package was made, so
    /// that `zoo verify` can check a copy (weights, loader, device) still
    /// computes the same thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<Golden>,
    /// Weights the package does not carry: `zoo install` downloads each
    /// pinned upstream file and converts it (docs/package-format.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<WeightsSource>,
}

/// `[[model.sources]]`: a weights file made at install time from a pinned
/// upstream file, so that a package can point at an official release
/// (Caffe's VGG16) instead of re-hosting it, and still be verifiable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsSource {
    /// Mirrors of the upstream file (http or https), tried in order.
    pub url: Vec<String>,
    /// The upstream file's sha256: anything else is refused.
    pub sha256: String,
    /// The upstream file's size in bytes.
    pub size: u64,
    /// How the file becomes weights.
    pub convert: Convert,
    /// A deploy prototxt inside the package; without it, the caffemodel's
    /// own layer structure is used (as `zoo import caffe WEIGHTS` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<String>,
    /// The `[model] weights` file the conversion writes.
    pub produces: String,
    /// The converted file's sha256: the converter is deterministic, so an
    /// install can check its output (and reuse a stored copy offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produces_sha256: Option<String>,
}

impl WeightsSource {
    /// The upstream file's name (the last path segment of its first URL).
    pub fn file_name(&self) -> &str {
        self.url
            .first()
            .map(|u| u.split(['?', '#']).next().unwrap_or(u))
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .unwrap_or("the source")
    }
}

/// `[[model.sources]] convert`: the converter that turns the file into weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Convert {
    /// A caffemodel, converted as `zoo import caffe --like` the package.
    Caffe,
}

impl Convert {
    pub fn as_str(self) -> &'static str {
        match self {
            Convert::Caffe => "caffe",
        }
    }
}

/// The default `[model.golden] tolerance`: relative, max|a−b| / max|b|.
pub const DEFAULT_GOLDEN_TOLERANCE: f64 = 1e-4;

/// `[model.golden]`: an npz file holding `inputs/NAME` and `outputs/NAME`
/// arrays, and how far a re-run may stray from the recorded outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Golden {
    pub file: String,
    /// Relative: max|a−b| / max|b| per output (absolute when max|b| is 0).
    #[serde(default = "default_golden_tolerance")]
    pub tolerance: f64,
}

fn default_golden_tolerance() -> f64 {
    DEFAULT_GOLDEN_TOLERANCE
}

/// The prefix of a golden file's input arrays (`inputs/NAME`).
pub const GOLDEN_INPUT_PREFIX: &str = "inputs/";
/// The prefix of a golden file's recorded outputs (`outputs/NAME`).
pub const GOLDEN_OUTPUT_PREFIX: &str = "outputs/";

/// One array of a golden file, by its name in the npz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoldenArray<'a> {
    Input(&'a str),
    Output(&'a str),
}

impl<'a> GoldenArray<'a> {
    /// Classifies an array name (without `.npy`); `None` for a name that is
    /// neither `inputs/NAME` nor `outputs/NAME`.
    pub fn parse(name: &'a str) -> Option<Self> {
        if let Some(input) = name.strip_prefix(GOLDEN_INPUT_PREFIX) {
            Some(GoldenArray::Input(input))
        } else {
            name.strip_prefix(GOLDEN_OUTPUT_PREFIX)
                .map(GoldenArray::Output)
        }
    }
}

/// `[model] task`: how `zoo run` decodes a model's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Top-k labels with probabilities from the output that has `labels`.
    Classify,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classify => "classify",
        }
    }
}

/// The names `[model.architecture] builtin = "…"` may take: the
/// architectures zoo-models builds (its `Architecture::from_name` accepts
/// exactly these). Packing checks them, so a typo never reaches a registry;
/// reading does not, so a package for a newer zoo still installs here.
pub const BUILTIN_ARCHITECTURES: [&str; 6] = [
    "vgg16",
    "vgg19",
    "vgg-mini",
    "peephole-lstm",
    "nested-rnn",
    "cell-counter",
];

/// `[model.architecture]`: exactly one of `builtin` (+ `config`), `graph`, `torchscript`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawArchitecture", into = "RawArchitecture")]
pub enum Architecture {
    /// A built-in architecture of zoo-models with its free-form config table
    /// (kept as JSON so model code can `serde_json::from_value` it).
    Builtin {
        name: String,
        config: serde_json::Value,
    },
    /// A zoo graph file of the package.
    Graph { file: String },
    /// A TorchScript file of the package.
    TorchScript { file: String },
}

/// The on-disk shape of `[model.architecture]`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArchitecture {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    builtin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    graph: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    torchscript: Option<String>,
}

impl TryFrom<RawArchitecture> for Architecture {
    type Error = String;

    fn try_from(raw: RawArchitecture) -> Result<Self, String> {
        let chosen = [
            raw.builtin.is_some(),
            raw.graph.is_some(),
            raw.torchscript.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if chosen != 1 {
            return Err(
                "[model.architecture] needs exactly one of `builtin`, `graph`, `torchscript`"
                    .into(),
            );
        }
        if raw.config.is_some() && raw.builtin.is_none() {
            return Err("[model.architecture] `config` is only allowed with `builtin`".into());
        }
        if let Some(name) = raw.builtin {
            let config = raw
                .config
                .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
            if !config.is_object() {
                return Err("[model.architecture] `config` must be a table".into());
            }
            return Ok(Architecture::Builtin { name, config });
        }
        if let Some(file) = raw.graph {
            return Ok(Architecture::Graph { file });
        }
        match raw.torchscript {
            Some(file) => Ok(Architecture::TorchScript { file }),
            None => Err("[model.architecture] is empty".into()),
        }
    }
}

impl From<Architecture> for RawArchitecture {
    fn from(arch: Architecture) -> Self {
        let mut raw = RawArchitecture {
            builtin: None,
            config: None,
            graph: None,
            torchscript: None,
        };
        match arch {
            Architecture::Builtin { name, config } => {
                raw.builtin = Some(name);
                let empty = config.as_object().is_some_and(|map| map.is_empty());
                raw.config = (!empty).then_some(config);
            }
            Architecture::Graph { file } => raw.graph = Some(file),
            Architecture::TorchScript { file } => raw.torchscript = Some(file),
        }
        raw
    }
}

/// `[[model.inputs]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub name: String,
    /// `-1` marks a free dimension.
    pub shape: Vec<i64>,
    pub dtype: DType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<Preprocess>,
}

/// Element types of model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    Bf16,
    I64,
    U8,
}

/// `[model.inputs.preprocess]`: how an image becomes the input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// `[height, width]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[u32; 2]>,
    /// `[height, width]` cut from the centre after resizing (Caffe's `crop_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_order: Option<ChannelOrder>,
    /// Subtracted per channel (in `channel_order`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mean: Vec<f64>,
    /// Multiplied after subtracting the mean.
    #[serde(default = "one")]
    pub scale: f64,
    /// Divides each channel last (in `channel_order`): torchvision's
    /// normalisation `(x − mean) / std` for ONNX imports; empty = 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub std: Vec<f64>,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// `[[model.outputs]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub name: String,
    /// A file of the package with one label per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
}

/// `[[model.metrics]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub name: String,
    pub dataset: String,
    pub value: f64,
}

/// `[model.provenance]`: how the weights came to be.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub converted_from: Vec<SourceFile>,
}

/// A file the weights were converted from, identified by its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub file: String,
    pub sha256: String,
    /// Bytes, so that a copy can be told apart before hashing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// Why a manifest was refused. `file` is the manifest's path (or `zoo.toml`
/// inside an archive) so that messages point at what to edit.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax or a value of the wrong type; `field` is the dotted key
    /// (`package.version`) when it can be told from the position.
    #[error("{file}: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Parse {
        file: String,
        field: Option<String>,
        message: String,
    },
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
}

impl ManifestError {
    /// The offending field (`package.version`, `model.weights[0]`, …) when known.
    pub fn field(&self) -> Option<&str> {
        match self {
            ManifestError::Invalid { field, .. } => Some(field),
            ManifestError::Parse { field, .. } => field.as_deref(),
            ManifestError::Io { .. } => None,
        }
    }
}

/// Longest accepted keyword.
pub const MAX_KEYWORD_LEN: usize = 32;

impl Manifest {
    /// Parses and validates a manifest (everything except the existence of the
    /// files it names; see [`Manifest::check_files`]). Errors say `zoo.toml`.
    pub fn from_toml_str(text: &str) -> Result<Manifest, ManifestError> {
        Self::from_toml_str_named(text, MANIFEST_FILE)
    }

    /// Like [`Manifest::from_toml_str`], naming `file` in errors.
    pub fn from_toml_str_named(text: &str, file: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let (field, message) = describe_parse_error(text, &e);
            ManifestError::Parse {
                file: file.to_string(),
                field,
                message,
            }
        })?;
        manifest.validate(file)?;
        Ok(manifest)
    }

    /// Reads `dir/zoo.toml`, validates it, and checks that every file it names
    /// (readme, weights, labels, graph/TorchScript file) exists in `dir`.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        let file = path.display().to_string();
        let manifest = Self::from_toml_str_named(&text, &file)?;
        manifest.check_files(&file, |rel| dir.join(rel).is_file())?;
        Ok(manifest)
    }

    /// Serializes back to TOML (round-trips through [`Manifest::from_toml_str`]).
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// The canonical package name (lowercase, `-`).
    pub fn normalized_name(&self) -> String {
        normalize_name(&self.package.name)
    }

    /// The package's file that is code rather than data: a TorchScript
    /// model is a program that runs when loaded, so installing and running
    /// it needs the user's opt-in (`allow-code`). `None` for built-in and
    /// graph architectures, whose files are data.
    pub fn code_file(&self) -> Option<&str> {
        match &self.model.as_ref()?.architecture {
            Architecture::TorchScript { file } => Some(file),
            Architecture::Builtin { .. } | Architecture::Graph { .. } => None,
        }
    }

    /// Whether `path` is a weights file made at install time by a
    /// `[[model.sources]]` entry (so the package does not carry it).
    pub fn is_produced(&self, path: &str) -> bool {
        self.model
            .as_ref()
            .is_some_and(|m| m.sources.iter().any(|s| s.produces == path))
    }

    /// Every package file the manifest refers to (and the package carries),
    /// with the field naming it.
    pub fn referenced_files(&self) -> Vec<(String, &str)> {
        let mut files = Vec::new();
        if let Some(readme) = &self.package.readme {
            files.push(("package.readme".to_string(), readme.as_str()));
        }
        if let Some(model) = &self.model {
            for (i, weights) in model.weights.iter().enumerate() {
                if !self.is_produced(weights) {
                    files.push((format!("model.weights[{i}]"), weights.as_str()));
                }
            }
            for (i, source) in model.sources.iter().enumerate() {
                if let Some(deploy) = &source.deploy {
                    files.push((format!("model.sources[{i}].deploy"), deploy.as_str()));
                }
            }
            match &model.architecture {
                Architecture::Graph { file } => {
                    files.push(("model.architecture.graph".to_string(), file.as_str()))
                }
                Architecture::TorchScript { file } => {
                    files.push(("model.architecture.torchscript".to_string(), file.as_str()))
                }
                Architecture::Builtin { .. } => {}
            }
            for (i, output) in model.outputs.iter().enumerate() {
                if let Some(labels) = &output.labels {
                    files.push((format!("model.outputs[{i}].labels"), labels.as_str()));
                }
            }
            if let Some(golden) = &model.golden {
                files.push(("model.golden.file".to_string(), golden.file.as_str()));
            }
        }
        files
    }

    /// Checks that every referenced file exists according to `exists`
    /// (a directory on disk, or the file list of an archive).
    pub fn check_files(
        &self,
        file: &str,
        exists: impl Fn(&str) -> bool,
    ) -> Result<(), ManifestError> {
        for (field, path) in self.referenced_files() {
            if !exists(path) {
                return Err(invalid(
                    file,
                    &field,
                    format!("`{path}` is listed but does not exist in the package"),
                ));
            }
        }
        Ok(())
    }

    /// Checks the rules serde cannot express.
    pub fn validate(&self, file: &str) -> Result<(), ManifestError> {
        let package = &self.package;
        validate_name(&package.name).map_err(|m| invalid(file, "package.name", m))?;
        if package.description.trim().is_empty() {
            return Err(invalid(
                file,
                "package.description",
                "must not be empty".into(),
            ));
        }
        for (i, keyword) in package.keywords.iter().enumerate() {
            validate_keyword(keyword)
                .map_err(|m| invalid(file, &format!("package.keywords[{i}]"), m))?;
        }
        for dep in self.dependencies.keys() {
            let field = format!("dependencies.{dep}");
            validate_name(dep).map_err(|m| invalid(file, &field, m))?;
            if normalize_name(dep) == self.normalized_name() {
                return Err(invalid(
                    file,
                    &field,
                    "a package cannot depend on itself".into(),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for dep in self.dependencies.keys() {
            if !seen.insert(normalize_name(dep)) {
                return Err(invalid(
                    file,
                    &format!("dependencies.{dep}"),
                    "listed twice (names compare case-insensitively with `-` == `_`)".into(),
                ));
            }
        }
        match (package.kind, &self.model) {
            (Kind::Model, None) => {
                return Err(invalid(
                    file,
                    "model",
                    "a package of kind \"model\" needs a [model] section".into(),
                ));
            }
            (Kind::Link | Kind::Function, Some(_)) => {
                return Err(invalid(
                    file,
                    "model",
                    format!(
                        "a package of kind \"{}\" must not have a [model] section",
                        package.kind
                    ),
                ));
            }
            (Kind::Model, Some(model)) => validate_model(file, model)?,
            _ => {}
        }
        for (field, path) in self.referenced_files() {
            validate_rel_path(path).map_err(|m| invalid(file, &field, m))?;
        }
        if let Some(model) = &self.model {
            for (i, weights) in model.weights.iter().enumerate() {
                validate_rel_path(weights)
                    .map_err(|m| invalid(file, &format!("model.weights[{i}]"), m))?;
            }
        }
        Ok(())
    }
}

/// Turns a TOML error into the dotted key it is about (from the table header
/// and key on the line it points at) and a one-line message with the position.
fn describe_parse_error(text: &str, error: &toml::de::Error) -> (Option<String>, String) {
    let message = error.message().trim_end().to_string();
    let Some(span) = error.span() else {
        return (None, message);
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or_default();
    let at = format!("{message} (line {line_no}, column {column})");

    // The innermost table header at or above the error.
    let table = text[..line_start + line.len()]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let join = |key: &str| match &table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    };
    let key = line
        .split_once('=')
        .filter(|(k, _)| line_start + k.len() <= start)
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    // A field missing from the document itself is reported at an empty span
    // at its start, one missing from a table over that table's header.
    let whole_document = span.start == 0 && (span.end == 0 || span.end >= text.trim_end().len());
    let field = match key {
        Some(key) => Some(join(&key)),
        None => match missing_field_name(&message) {
            Some(name) if whole_document => Some(name),
            Some(name) => Some(join(&name)),
            None => table,
        },
    };
    (field, at)
}

/// A TOML syntax or type error in `text` as one line: the dotted key it is
/// about when the position tells, the message, line and column (the
/// `toml` crate's own text is a multi-line caret diagram).
pub fn toml_error_line(text: &str, error: &toml::de::Error) -> String {
    match describe_parse_error(text, error) {
        (Some(field), message) => format!("field `{field}`: {message}"),
        (None, message) => message,
    }
}

/// `missing field `description`` → `description`.
fn missing_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn validate_keyword(keyword: &str) -> Result<(), String> {
    if keyword.is_empty() || keyword.len() > MAX_KEYWORD_LEN {
        return Err(format!(
            "keywords are 1 to {MAX_KEYWORD_LEN} characters long"
        ));
    }
    if let Some(bad) = keyword
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+')))
    {
        return Err(format!(
            "`{keyword}` contains `{bad}`; keywords use ASCII letters, digits, `-`, `_`, `+`"
        ));
    }
    Ok(())
}

fn validate_model(file: &str, model: &ModelSection) -> Result<(), ManifestError> {
    if let Architecture::Builtin { name, .. } = &model.architecture
        && name.trim().is_empty()
    {
        return Err(invalid(
            file,
            "model.architecture.builtin",
            "must not be empty".into(),
        ));
    }
    for (i, input) in model.inputs.iter().enumerate() {
        if input.name.is_empty() {
            return Err(invalid(
                file,
                &format!("model.inputs[{i}].name"),
                "must not be empty".into(),
            ));
        }
        if let Some(dim) = input.shape.iter().find(|d| **d == 0 || **d < -1) {
            return Err(invalid(
                file,
                &format!("model.inputs[{i}].shape"),
                format!(
                    "dimension {dim} is invalid; use a positive size or -1 for a free dimension"
                ),
            ));
        }
        if let Some(pre) = &input.preprocess {
            let field = format!("model.inputs[{i}].preprocess");
            if pre.resize.is_some_and(|[h, w]| h == 0 || w == 0) {
                return Err(invalid(
                    file,
                    &format!("{field}.resize"),
                    "sizes must be positive".into(),
                ));
            }
            if pre.crop.is_some_and(|[h, w]| h == 0 || w == 0) {
                return Err(invalid(
                    file,
                    &format!("{field}.crop"),
                    "sizes must be positive".into(),
                ));
            }
            if let (Some([ch, cw]), Some([rh, rw])) = (pre.crop, pre.resize)
                && (ch > rh || cw > rw)
            {
                return Err(invalid(
                    file,
                    &format!("{field}.crop"),
                    format!("{ch}x{cw} is larger than resize {rh}x{rw}"),
                ));
            }
            if pre.mean.iter().any(|m| !m.is_finite()) {
                return Err(invalid(
                    file,
                    &format!("{field}.mean"),
                    "values must be finite".into(),
                ));
            }
            if !pre.scale.is_finite() || pre.scale == 0.0 {
                return Err(invalid(
                    file,
                    &format!("{field}.scale"),
                    "must be finite and non-zero".into(),
                ));
            }
            // A divisor: zero or non-finite would make every pixel inf/NaN.
            if pre.std.iter().any(|s| !s.is_finite() || *s == 0.0) {
                return Err(invalid(
                    file,
                    &format!("{field}.std"),
                    "values must be finite and non-zero".into(),
                ));
            }
        }
    }
    for (i, output) in model.outputs.iter().enumerate() {
        if output.name.is_empty() {
            return Err(invalid(
                file,
                &format!("model.outputs[{i}].name"),
                "must not be empty".into(),
            ));
        }
    }
    for (i, metric) in model.metrics.iter().enumerate() {
        if !metric.value.is_finite() {
            return Err(invalid(
                file,
                &format!("model.metrics[{i}].value"),
                "must be finite".into(),
            ));
        }
    }
    if let Some(golden) = &model.golden
        && !(golden.tolerance.is_finite() && golden.tolerance > 0.0)
    {
        return Err(invalid(
            file,
            "model.golden.tolerance",
            format!("{} must be finite and greater than 0", golden.tolerance),
        ));
    }
    validate_sources(file, model)?;
    if let Some(provenance) = &model.provenance {
        for (i, source) in provenance.converted_from.iter().enumerate() {
            if !crate::checksum::is_sha256_hex(&source.sha256) {
                return Err(invalid(
                    file,
                    &format!("model.provenance.converted_from[{i}].sha256"),
                    "must be 64 lowercase hex digits".into(),
                ));
            }
        }
    }
    Ok(())
}

/// `[[model.sources]]`: http(s) mirrors, pinned digests, and a `produces`
/// that is one of the weights, made by one source only.
fn validate_sources(file: &str, model: &ModelSection) -> Result<(), ManifestError> {
    let mut produced = std::collections::HashSet::new();
    for (i, source) in model.sources.iter().enumerate() {
        let field = |name: &str| format!("model.sources[{i}].{name}");
        if source.url.is_empty() {
            return Err(invalid(
                file,
                &field("url"),
                "needs at least one URL".into(),
            ));
        }
        for (j, url) in source.url.iter().enumerate() {
            check_url(url)
                .map_err(|m| invalid(file, &format!("model.sources[{i}].url[{j}]"), m))?;
        }
        if !crate::checksum::is_sha256_hex(&source.sha256) {
            return Err(invalid(
                file,
                &field("sha256"),
                "must be 64 lowercase hex digits".into(),
            ));
        }
        if source.size == 0 {
            return Err(invalid(
                file,
                &field("size"),
                "must be greater than 0".into(),
            ));
        }
        if let Some(pin) = &source.produces_sha256
            && !crate::checksum::is_sha256_hex(pin)
        {
            return Err(invalid(
                file,
                &field("produces_sha256"),
                "must be 64 lowercase hex digits".into(),
            ));
        }
        if !model.weights.contains(&source.produces) {
            return Err(invalid(
                file,
                &field("produces"),
                format!(
                    "`{}` is not one of [model] weights ({})",
                    source.produces,
                    model.weights.join(", ")
                ),
            ));
        }
        if !produced.insert(source.produces.as_str()) {
            return Err(invalid(
                file,
                &field("produces"),
                format!("`{}` is produced by two sources", source.produces),
            ));
        }
        match source.convert {
            Convert::Caffe => {
                if !matches!(model.architecture, Architecture::Builtin { .. }) {
                    return Err(invalid(
                        file,
                        &field("convert"),
                        "\"caffe\" converts into a built-in architecture \
                         ([model.architecture] builtin = \"…\")"
                            .into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// An http or https URL with a host and nothing that needs quoting.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{url}`: only http:// and https:// URLs are allowed"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err(format!(
            "`{url}`: needs a host (and no user name or password)"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{url}`: contains whitespace or control characters"
        ));
    }
    Ok(())
}

fn invalid(file: &str, field: &str, message: String) -> ManifestError {
    ManifestError::Invalid {
        file: file.to_string(),
        field: field.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const VGG: &str = r#"
[package]
name = "vgg16"
version = "1.0.0"
kind = "model"
description = "VGG16 (configuration D) with Caffe layer names"
license = "MIT"
authors = ["zoo developers"]
readme = "README.md"
keywords = ["vision", "imagenet"]

[dependencies]
peephole-lstm = "^0.1"

[model.architecture]
builtin = "vgg16"
config = { classes = 1000 }

[model]
weights = ["weights.safetensors"]

[[model.inputs]]
name = "data"
shape = [1, 3, 224, 224]
dtype = "f32"
[model.inputs.preprocess]
resize = [224, 224]
channel_order = "bgr"
mean = [103.939, 116.779, 123.68]
scale = 1.0

[[model.outputs]]
name = "prob"
labels = "labels.txt"

[[model.metrics]]
name = "accuracy"
dataset = "synthetic-shapes (held-out, 2000 images)"
value = 0.97

[model.provenance]
trained = "cargo xtask train vgg-mini (seed 0, 20 epochs)"
converted_from = [{ file = "VGG_ILSVRC_16_layers.caffemodel", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }]
"#;

    fn err(text: &str) -> String {
        Manifest::from_toml_str(text).unwrap_err().to_string()
    }

    /// `std` divides each channel: zero would turn every pixel into inf.
    #[test]
    fn preprocess_std_round_trips_and_must_be_non_zero() {
        let with = |std: &str| {
            VGG.replace(
                "mean = [103.939, 116.779, 123.68]",
                &format!("mean = [103.939, 116.779, 123.68]\nstd = {std}"),
            )
        };
        let m = Manifest::from_toml_str(&with("[58.4, 57.1, 57.4]")).unwrap();
        let pre = m.model.as_ref().unwrap().inputs[0]
            .preprocess
            .clone()
            .unwrap();
        assert_eq!(pre.std, vec![58.4, 57.1, 57.4]);
        let again = Manifest::from_toml_str(&m.to_toml_string().unwrap()).unwrap();
        assert_eq!(again, m);
        let e = err(&with("[58.4, 0.0, 57.4]"));
        assert!(
            e.contains("preprocess.std") && e.contains("non-zero"),
            "{e}"
        );
    }

    #[test]
    fn parses_the_documented_example() {
        let m = Manifest::from_toml_str(VGG).unwrap();
        assert_eq!(m.package.name, "vgg16");
        assert_eq!(m.package.version, Version::new(1, 0, 0));
        assert_eq!(m.package.kind, Kind::Model);
        assert_eq!(
            m.dependencies["peephole-lstm"],
            VersionReq::parse("^0.1").unwrap()
        );
        let model = m.model.as_ref().unwrap();
        assert_eq!(
            model.architecture,
            Architecture::Builtin {
                name: "vgg16".into(),
                config: serde_json::json!({"classes": 1000})
            }
        );
        assert_eq!(model.inputs[0].shape, vec![1, 3, 224, 224]);
        assert_eq!(model.inputs[0].dtype, DType::F32);
        let pre = model.inputs[0].preprocess.as_ref().unwrap();
        assert_eq!(pre.channel_order, Some(ChannelOrder::Bgr));
        assert_eq!(pre.resize, Some([224, 224]));
        assert_eq!(model.outputs[0].labels.as_deref(), Some("labels.txt"));
        assert_eq!(model.metrics[0].value, 0.97);
        assert_eq!(model.provenance.as_ref().unwrap().converted_from.len(), 1);
    }

    #[test]
    fn task_and_crop_are_read_and_checked() {
        let with_task = VGG.replace("[model]\nweights", "[model]\ntask = \"classify\"\nweights");
        let m = Manifest::from_toml_str(&with_task).unwrap();
        assert_eq!(m.model.as_ref().unwrap().task, Some(Task::Classify));
        let text = m.to_toml_string().unwrap();
        assert!(text.contains("task = \"classify\""), "{text}");
        assert_eq!(Manifest::from_toml_str(&text).unwrap(), m);

        let unknown = err(&VGG.replace("[model]\nweights", "[model]\ntask = \"detect\"\nweights"));
        assert!(
            unknown.contains("detect") && unknown.contains("classify"),
            "{unknown}"
        );

        let crop = VGG.replace(
            "resize = [224, 224]",
            "resize = [256, 256]\ncrop = [224, 224]",
        );
        let m = Manifest::from_toml_str(&crop).unwrap();
        let pre = m.model.as_ref().unwrap().inputs[0]
            .preprocess
            .clone()
            .unwrap();
        assert_eq!(pre.crop, Some([224, 224]));
        let larger = err(&VGG.replace(
            "resize = [224, 224]",
            "resize = [224, 224]\ncrop = [256, 200]",
        ));
        assert!(
            larger.contains("model.inputs[0].preprocess.crop") && larger.contains("larger"),
            "{larger}"
        );
        let zero = err(&VGG.replace("resize = [224, 224]", "crop = [0, 3]"));
        assert!(zero.contains("preprocess.crop"), "{zero}");
    }

    #[test]
    fn round_trips_through_toml() {
        let m = Manifest::from_toml_str(VGG).unwrap();
        let text = m.to_toml_string().unwrap();
        assert_eq!(Manifest::from_toml_str(&text).unwrap(), m);
    }

    #[test]
    fn graph_and_torchscript_architectures() {
        let graph = VGG.replace(
            "builtin = \"vgg16\"\nconfig = { classes = 1000 }",
            "graph = \"graph.json\"",
        );
        let m = Manifest::from_toml_str(&graph).unwrap();
        assert_eq!(
            m.model.as_ref().unwrap().architecture,
            Architecture::Graph {
                file: "graph.json".into()
            }
        );
        assert!(
            m.referenced_files()
                .iter()
                .any(|(f, p)| f == "model.architecture.graph" && *p == "graph.json")
        );
        let text = m.to_toml_string().unwrap();
        assert_eq!(Manifest::from_toml_str(&text).unwrap(), m);

        let ts = VGG.replace(
            "builtin = \"vgg16\"\nconfig = { classes = 1000 }",
            "torchscript = \"model.pt\"",
        );
        let m = Manifest::from_toml_str(&ts).unwrap();
        assert_eq!(
            m.model.unwrap().architecture,
            Architecture::TorchScript {
                file: "model.pt".into()
            }
        );

        let both = VGG.replace("config = { classes = 1000 }", "graph = \"g.json\"");
        assert!(err(&both).contains("exactly one of"), "{}", err(&both));
    }

    #[test]
    fn errors_name_the_field() {
        let e = err(&VGG.replace("name = \"vgg16\"", "name = \"1vgg\""));
        assert!(e.contains("zoo.toml") && e.contains("package.name"), "{e}");

        let e = err(&VGG.replace("version = \"1.0.0\"", "version = \"1.0\""));
        assert!(e.starts_with("zoo.toml: field `package.version`: "), "{e}");
        assert!(e.contains("line 4") && !e.contains('\n'), "{e}");

        let e = err(&VGG.replace("kind = \"model\"", "kind = \"modle\""));
        assert!(
            e.contains("field `package.kind`") && e.contains("modle"),
            "{e}"
        );

        let e = err(&VGG.replace("weights = [", "weigths = ["));
        assert!(e.contains("weigths"), "{e}");

        let e = err(&VGG.replace("^0.1", "not a req"));
        assert!(e.contains("field `dependencies.peephole-lstm`"), "{e}");

        let e = err(&VGG.replace(
            "description = \"VGG16 (configuration D) with Caffe layer names\"\n",
            "",
        ));
        assert!(
            e.contains("field `package.description`") && e.contains("missing"),
            "{e}"
        );

        // A project file without [package]: the missing table is named,
        // not the table the document starts with.
        let e = err("[dependencies]\npeephole-lstm = \"^0.1\"\n");
        assert!(
            e.contains("field `package`: missing field `package`"),
            "{e}"
        );
        let e = err("[package]\nname = \"a\"\n");
        assert!(e.contains("field `package.version`"), "{e}");

        let e = Manifest::from_toml_str(&VGG.replace("dtype = \"f32\"", "dtype = \"f64\""))
            .unwrap_err();
        assert_eq!(e.field(), Some("model.inputs.dtype"), "{e}");

        let e = err(&VGG.replace("shape = [1, 3, 224, 224]", "shape = [1, 0, 224, 224]"));
        assert!(e.contains("model.inputs[0].shape"), "{e}");

        let e = err(&VGG.replace("dtype = \"f32\"", "dtype = \"f64\""));
        assert!(e.contains("dtype") || e.contains("f64"), "{e}");

        let e = err(&VGG.replace("labels = \"labels.txt\"", "labels = \"../labels.txt\""));
        assert!(e.contains("model.outputs[0].labels"), "{e}");
    }

    #[test]
    fn model_section_must_match_kind() {
        let e = err(&VGG.replace("kind = \"model\"", "kind = \"link\""));
        assert!(
            e.contains("field `model`") && e.contains("must not have"),
            "{e}"
        );

        let link = r#"
[package]
name = "peephole-lstm"
version = "0.1.0"
kind = "model"
description = "x"
"#;
        let e = err(link);
        assert!(
            e.contains("field `model`") && e.contains("needs a [model]"),
            "{e}"
        );
        let ok = Manifest::from_toml_str(&link.replace("\"model\"", "\"link\"")).unwrap();
        assert_eq!(ok.package.kind, Kind::Link);
        assert!(ok.model.is_none());
    }

    #[test]
    fn load_checks_listed_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("zoo.toml"), VGG).unwrap();
        std::fs::write(dir.path().join("README.md"), "# VGG16").unwrap();
        std::fs::write(dir.path().join("labels.txt"), "a\nb\n").unwrap();
        let e = Manifest::load(dir.path()).unwrap_err();
        assert_eq!(e.field(), Some("model.weights[0]"));
        assert!(e.to_string().contains("weights.safetensors"), "{e}");
        assert!(e.to_string().contains("zoo.toml"), "{e}");
        std::fs::write(dir.path().join("weights.safetensors"), b"w").unwrap();
        Manifest::load(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("labels.txt")).unwrap();
        let e = Manifest::load(dir.path()).unwrap_err();
        assert_eq!(e.field(), Some("model.outputs[0].labels"));
    }

    #[test]
    fn golden_file_and_tolerance_are_checked() {
        let golden = format!("{VGG}\n[model.golden]\nfile = \"golden.npz\"\n");
        let m = Manifest::from_toml_str(&golden).unwrap();
        let g = m.model.as_ref().unwrap().golden.clone().unwrap();
        assert_eq!(g.file, "golden.npz");
        assert_eq!(g.tolerance, DEFAULT_GOLDEN_TOLERANCE);
        let again = Manifest::from_toml_str(&m.to_toml_string().unwrap()).unwrap();
        assert_eq!(again.model.unwrap().golden, Some(g));
        for bad in ["0", "-1e-4", "nan", "inf"] {
            let e = err(&format!("{golden}tolerance = {bad}\n"));
            assert!(e.contains("model.golden.tolerance"), "{bad}: {e}");
        }
        Manifest::from_toml_str(&format!("{golden}tolerance = 1e-3\n")).unwrap();
        let e = err(&golden.replace("golden.npz", "../golden.npz"));
        assert!(e.contains("model.golden.file"), "{e}");
        let e = err(&format!("{golden}tolerence = 1e-3\n"));
        assert!(e.contains("tolerence"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        for file in ["README.md", "labels.txt", "weights.safetensors"] {
            std::fs::write(dir.path().join(file), "x").unwrap();
        }
        std::fs::write(dir.path().join("zoo.toml"), &golden).unwrap();
        let e = Manifest::load(dir.path()).unwrap_err();
        assert_eq!(e.field(), Some("model.golden.file"), "{e}");
        std::fs::write(dir.path().join("golden.npz"), "x").unwrap();
        Manifest::load(dir.path()).unwrap();
    }

    const SOURCE: &str = r#"
[[model.sources]]
url = ["https://example.org/VGG_ILSVRC_16_layers.caffemodel", "http://mirror.example/v.caffemodel"]
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
size = 553432081
convert = "caffe"
deploy = "deploy.prototxt"
produces = "weights.safetensors"
produces_sha256 = "2222222222222222222222222222222222222222222222222222222222222222"
"#;

    #[test]
    fn sources_are_read_checked_and_their_weights_not_required() {
        let text = format!("{VGG}{SOURCE}");
        let m = Manifest::from_toml_str(&text).unwrap();
        let source = &m.model.as_ref().unwrap().sources[0];
        assert_eq!(source.url.len(), 2);
        assert_eq!(source.convert, Convert::Caffe);
        assert_eq!(source.file_name(), "VGG_ILSVRC_16_layers.caffemodel");
        assert!(m.is_produced("weights.safetensors"));
        assert_eq!(
            Manifest::from_toml_str(&m.to_toml_string().unwrap()).unwrap(),
            m
        );
        // The produced weights are not a file the package must carry; the
        // deploy file is.
        let files = m.referenced_files();
        assert!(
            !files.iter().any(|(_, p)| *p == "weights.safetensors"),
            "{files:?}"
        );
        assert!(
            files
                .iter()
                .any(|(f, p)| f == "model.sources[0].deploy" && *p == "deploy.prototxt")
        );

        let bad = |from: &str, to: &str| err(&text.replace(from, to));
        let e = bad("https://example.org/", "ftp://example.org/");
        assert!(
            e.contains("model.sources[0].url[0]") && e.contains("http"),
            "{e}"
        );
        let e = bad("http://mirror.example/", "http:///");
        assert!(e.contains("model.sources[0].url[1]"), "{e}");
        let e = bad(&"1".repeat(64), "abc");
        assert!(e.contains("model.sources[0].sha256"), "{e}");
        let e = bad(&"2".repeat(64), &"G".repeat(64));
        assert!(e.contains("model.sources[0].produces_sha256"), "{e}");
        let e = bad(
            "produces = \"weights.safetensors\"",
            "produces = \"other.safetensors\"",
        );
        assert!(
            e.contains("model.sources[0].produces") && e.contains("other.safetensors"),
            "{e}"
        );
        let e = bad("deploy.prototxt", "../deploy.prototxt");
        assert!(e.contains("model.sources[0].deploy"), "{e}");
        let e = bad("size = 553432081", "size = 0");
        assert!(e.contains("model.sources[0].size"), "{e}");
        let e = bad("convert = \"caffe\"", "convert = \"onnx\"");
        assert!(e.contains("onnx"), "{e}");
        let e = err(&text.replace(
            "builtin = \"vgg16\"\nconfig = { classes = 1000 }",
            "graph = \"graph.json\"",
        ));
        assert!(e.contains("model.sources[0].convert"), "{e}");
        let e = err(&format!("{text}{SOURCE}"));
        assert!(
            e.contains("model.sources[1].produces") && e.contains("two"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        for file in ["README.md", "labels.txt"] {
            std::fs::write(dir.path().join(file), "x").unwrap();
        }
        std::fs::write(dir.path().join("zoo.toml"), &text).unwrap();
        let e = Manifest::load(dir.path()).unwrap_err();
        assert_eq!(e.field(), Some("model.sources[0].deploy"), "{e}");
        std::fs::write(dir.path().join("deploy.prototxt"), "x").unwrap();
        Manifest::load(dir.path()).unwrap();
    }

    #[test]
    fn self_and_duplicate_dependencies_are_refused() {
        let e = err(&VGG.replace("peephole-lstm = \"^0.1\"", "VGG_16 = \"1\"\nvgg16 = \"1\""));
        assert!(e.contains("itself"), "{e}");
        let e = err(&VGG.replace("peephole-lstm = \"^0.1\"", "a-b = \"1\"\na_b = \"1\""));
        assert!(e.contains("twice"), "{e}");
    }
}
