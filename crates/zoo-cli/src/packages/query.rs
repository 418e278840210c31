//! `zoo info`, `zoo search`.

use super::{RemoteArgs, print_json};
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The package's name (its versions are listed).
    name: String,
    /// Print the registry's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn info(args: InfoArgs) -> Result<()> {
    if let Some((name, _)) = args.name.split_once('@') {
        anyhow::bail!(
            "`zoo info` takes a package name, not `{}`: `zoo info {name}` shows the package and lists its versions",
            args.name
        );
    }
    let client = args.remote.client()?;
    if client.config.offline {
        // Offline: what the cached index knows.
        let entries = client.index.entries(&args.name)?;
        if args.json {
            return print_json(&entries);
        }
        zoo_term::outln!("{} (from the cached index; offline)", args.name);
        let trusted = trusted_keys();
        for e in entries {
            let yanked = if e.yanked { "yanked" } else { "not yanked" };
            let signed = signed_text(e.signature.as_ref().map(|s| s.key.as_str()), &trusted);
            zoo_term::outln!("  {}  {} files  {yanked}  {signed}", e.vers, e.files.len());
        }
        return Ok(());
    }
    let mut info = client.api().info(&args.name)?;
    // The API's answer is not signed; the index is. Show nothing that the
    // signed index (checked against the pinned registry key, as `install`
    // checks it) contradicts.
    let entries = client.index.entries(&args.name)?;
    check_against_index(&args.name, &info, &entries)?;
    let trusted = trusted_keys();
    annotate_signers(&mut info, &trusted);
    if args.json {
        return print_json(&info);
    }
    let text = |key: &str| info.get(key).and_then(|v| v.as_str()).unwrap_or("");
    // `version` (the version described) is absent from older registries.
    let shown = match text("version") {
        "" => String::new(),
        v => format!(" {v}"),
    };
    zoo_term::outln!("{}{shown} ({})", text("name"), text("kind"));
    if !text("description").is_empty() {
        zoo_term::outln!("{}", text("description"));
    }
    zoo_term::outln!(
        "license: {}",
        info.get("license")
            .and_then(|l| l.as_str())
            .unwrap_or("not stated")
    );
    if let Some(owners) = info.get("owners").and_then(|o| o.as_array()) {
        let names: Vec<String> = owners
            .iter()
            .map(|o| {
                o.get("login")
                    .and_then(|l| l.as_str())
                    .or_else(|| o.as_str())
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        zoo_term::outln!("owners: {}", names.join(", "));
    }
    let list = |key: &str| {
        info.get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
    };
    if info.get("kind").and_then(|k| k.as_str()) == Some("model") || !list("inputs").is_empty() {
        print_io("inputs", &list("inputs"));
        print_io("outputs", &list("outputs"));
        let metrics = list("metrics");
        if metrics.is_empty() {
            zoo_term::outln!("metrics: none recorded");
        } else {
            zoo_term::outln!("metrics:");
            for m in &metrics {
                let field = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let value = m.get("value").map(|v| v.to_string()).unwrap_or_default();
                zoo_term::outln!("  {} = {value}  ({})", field("name"), field("dataset"));
            }
        }
        print_sources(&list("sources"));
    }
    zoo_term::outln!("versions:");
    for version in list("versions") {
        let field = |key: &str| version.get(key).and_then(|v| v.as_str()).unwrap_or("");
        let yanked = if version.get("yanked").and_then(|y| y.as_bool()) == Some(true) {
            "yanked"
        } else {
            "not yanked"
        };
        let size: u64 = version
            .get("files")
            .and_then(|f| f.as_array())
            .map(|files| files.iter().filter_map(|f| f.get("size")?.as_u64()).sum())
            .unwrap_or(0);
        let key = version
            .get("signature")
            .and_then(|s| s.get("key"))
            .and_then(|k| k.as_str());
        zoo_term::outln!(
            "  {}  published {}  {} bytes  {yanked}  {}",
            field("version"),
            field("published_at"),
            size,
            signed_text(key, &trusted)
        );
        // A TorchScript model is a program: say so before anyone installs it.
        if let Some(code) = version.get("code").and_then(|c| c.as_str()) {
            zoo_term::outln!(
                "    contains code: {code} is TorchScript (runs as a program); \
                 install and run need --allow-code"
            );
        }
    }
    Ok(())
}

/// Refuses an API answer that lists a version the signed index lacks, or
/// whose archive or files differ from the index's: `zoo info` must not show a
/// package that `zoo install` would refuse as if it were fine.
fn check_against_index(
    name: &str,
    info: &serde_json::Value,
    entries: &[zoo_format::index::IndexEntry],
) -> Result<()> {
    let versions = info
        .get("versions")
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for version in versions {
        let shown = version
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let entry = entries.iter().find(|e| e.vers.to_string() == shown);
        let Some(entry) = entry else {
            anyhow::bail!(
                "the registry's API lists {name} {shown}, but its signed index has no such version; \
                 not showing data the index does not back"
            );
        };
        let same = |key: &str, indexed: serde_json::Value| version.get(key) == Some(&indexed);
        if !same("archive", serde_json::to_value(&entry.archive)?)
            || !same("files", serde_json::to_value(&entry.files)?)
        {
            anyhow::bail!(
                "the registry's API and its signed index disagree about the files of {name} {shown}; \
                 not showing data the index does not back"
            );
        }
    }
    Ok(())
}

/// `inputs:`/`outputs:` as zoo.toml's `[model]` records them: name, shape
/// (`?` for a free dimension), dtype, preprocessing, labels file.
fn print_io(title: &str, items: &[serde_json::Value]) {
    if items.is_empty() {
        zoo_term::outln!("{title}: none recorded");
        return;
    }
    zoo_term::outln!("{title}:");
    for item in items {
        let mut line = format!(
            "  {}",
            item.get("name").and_then(|n| n.as_str()).unwrap_or("?")
        );
        if let Some(shape) = item.get("shape").and_then(|s| s.as_array()) {
            let dims: Vec<String> = shape
                .iter()
                .map(|d| match d.as_i64() {
                    Some(n) if n >= 0 => n.to_string(),
                    _ => "?".to_string(),
                })
                .collect();
            line.push_str(&format!("  shape [{}]", dims.join(", ")));
        }
        if let Some(dtype) = item.get("dtype").and_then(|d| d.as_str()) {
            line.push_str(&format!("  {dtype}"));
        }
        if let Some(pre) = item.get("preprocess").filter(|p| !p.is_null()) {
            line.push_str(&format!("  preprocess: {}", preprocess_text(pre)));
        }
        if let Some(labels) = item.get("labels").and_then(|l| l.as_str()) {
            line.push_str(&format!("  labels in {labels}"));
        }
        zoo_term::outln!("{line}");
    }
}

/// `resize 224x224, bgr, mean [103.9, 116.8, 123.7], scale 0.5` from a
/// `[model.inputs.preprocess]` table as JSON (scale only when not 1).
fn preprocess_text(pre: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some([h, w]) = pre
        .get("resize")
        .and_then(|r| r.as_array())
        .map(Vec::as_slice)
    {
        parts.push(format!("resize {h}x{w}"));
    }
    if let Some(order) = pre.get("channel_order").and_then(|c| c.as_str()) {
        parts.push(order.to_string());
    }
    if let Some(mean) = pre.get("mean").and_then(|m| m.as_array()) {
        let values: Vec<String> = mean.iter().map(|v| v.to_string()).collect();
        parts.push(format!("mean [{}]", values.join(", ")));
    }
    if let Some(scale) = pre.get("scale").and_then(|s| s.as_f64())
        && scale != 1.0
    {
        parts.push(format!("scale {scale}"));
    }
    parts.join(", ")
}

/// The user's trusted publisher keys, to name a signer; none when the file
/// is missing or unreadable (`zoo info` only describes, it does not check).
fn trusted_keys() -> zoo_client::trust::TrustedKeys {
    zoo_client::trust::trusted_keys_path()
        .and_then(|path| zoo_client::trust::TrustedKeys::load(&path).ok())
        .unwrap_or_default()
}

/// Sets each version's `signed_by` to `{"key","key_id","trusted_as"}` (null
/// when unsigned) from its `signature`, so that `--json` says what the text
/// says: `trusted_as` names the key's holder in the user's trusted keys
/// (null when the key is not there). Done here, not taken from the registry,
/// so that it also holds for registries that predate `signed_by`.
fn annotate_signers(info: &mut serde_json::Value, trusted: &zoo_client::trust::TrustedKeys) {
    let Some(versions) = info.get_mut("versions").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for version in versions {
        let key = version
            .get("signature")
            .and_then(|s| s.get("key"))
            .and_then(|k| k.as_str())
            .map(str::to_string);
        let signed_by = match key {
            None => serde_json::Value::Null,
            Some(key) => {
                let public = key.parse::<zoo_format::signing::PublicKey>().ok();
                let trusted_as = public
                    .as_ref()
                    .and_then(|p| trusted.publisher(p))
                    .map(|p| p.name.clone());
                serde_json::json!({
                    "key": key,
                    "key_id": public.map(|p| p.fingerprint()),
                    "trusted_as": trusted_as,
                })
            }
        };
        if let Some(object) = version.as_object_mut() {
            object.insert("signed_by".to_string(), signed_by);
        }
    }
}

/// `unsigned`, or `signed by key <id>` and whether that key is one of the
/// user's trusted publishers.
fn signed_text(key: Option<&str>, trusted: &zoo_client::trust::TrustedKeys) -> String {
    let Some(key) = key else {
        return "unsigned".to_string();
    };
    match key.parse::<zoo_format::signing::PublicKey>() {
        Ok(public) => {
            let whose = match trusted.publisher(&public) {
                Some(p) if !p.name.is_empty() => format!("trusted: {}", p.name),
                Some(_) => "trusted".to_string(),
                None => "not in your trusted keys".to_string(),
            };
            format!("signed by key {} ({whose})", public.fingerprint())
        }
        Err(_) => format!("signed by an unreadable key `{key}`"),
    }
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for (`zoo search cell counter`): a package matches when
    /// each word is in its name, description or keywords.
    #[arg(required = true, value_name = "WORD")]
    words: Vec<String>,
    /// How many results to show (1 to 100, the registry's page size).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn search(args: SearchArgs) -> Result<()> {
    let client = args.remote.client()?;
    let query = args.words.join(" ");
    let results = client.api().search(&query, args.limit)?;
    if args.json {
        return print_json(&results);
    }
    if results.packages.is_empty() {
        zoo_term::outln!("no packages match `{query}`");
    }
    for hit in &results.packages {
        zoo_term::outln!(
            "{} {} ({})  {}",
            hit.name,
            hit.version,
            hit.kind,
            hit.description
        );
    }
    if results.total > results.packages.len() as u64 {
        zoo_term::outln!("… {} results in all", results.total);
    }
    Ok(())
}

/// `[[model.sources]]`: the weights made at install, from which pinned file.
fn print_sources(sources: &[serde_json::Value]) {
    if sources.is_empty() {
        return;
    }
    zoo_term::outln!("weights from upstream sources (downloaded and converted at install):");
    for source in sources {
        let field = |k: &str| source.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let size = source.get("size").and_then(|v| v.as_u64()).unwrap_or(0);
        let deploy = match field("deploy") {
            "" => String::new(),
            d => format!(" with {d}"),
        };
        zoo_term::outln!(
            "  {}: {} conversion{deploy} of sha256 {} ({size} bytes) from:",
            field("produces"),
            field("convert"),
            field("sha256")
        );
        for url in source
            .get("url")
            .and_then(|u| u.as_array())
            .into_iter()
            .flatten()
        {
            zoo_term::outln!("    {}", url.as_str().unwrap_or(""));
        }
        if !field("produces_sha256").is_empty() {
            zoo_term::outln!(
                "    converted weights pinned: sha256 {}",
                field("produces_sha256")
            );
        }
    }
}
