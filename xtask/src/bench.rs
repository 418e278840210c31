//! `cargo xtask bench <install|models|caffe|onnx|load|cold-run>`: each benchmark runs zoo and its
//! named peer side by side in one run and prints ratios (see BENCHMARKS.md).

use anyhow::{Context, Result, bail};
use std::path::Path;

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("install") => crate::bench_install::run(&args[1..]),
        Some("caffe") => crate::bench_caffe::run(&args[1..]),
        Some("onnx") => crate::bench_onnx::run(&args[1..]),
        Some("models") => crate::bench_models::run(&args[1..]),
        Some("load") => crate::bench_load::run(&args[1..]),
        Some("cold-run") => crate::bench_cold::run(&args[1..]),
        Some(other) => {
            bail!(
                "unknown benchmark {other:?}: expected install, models, caffe, onnx, load or cold-run"
            )
        }
        None => bail!("usage: cargo xtask bench <install|models|caffe|onnx|load|cold-run>"),
    }
}

/// Where the "## NAME" section of `text` starts and ends (at the next
/// "## " or the end of the text).
fn section_range(text: &str, name: &str) -> Option<(usize, usize)> {
    let start = text.find(&format!("## {name}\n"))?;
    let rest = &text[start + 1..];
    let end = rest.find("\n## ").map_or(text.len(), |i| start + 1 + i + 1);
    Some((start, end))
}

/// Replaces the "## NAME" section of BENCHMARKS.md at `path` (up to the
/// next "## ") with `section`, or appends it.
pub fn replace_section(path: &Path, name: &str, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let new = match section_range(&old, name) {
        Some((start, end)) => format!("{}{}{}", &old[..start], section, &old[end..]),
        None => format!("{}\n\n{}", old.trim_end(), section),
    };
    std::fs::write(path, new).with_context(|| path.display().to_string())
}

/// Like [`replace_section`], but notes written by hand below the generated
/// part (which ends with a marker line) survive a re-run.
pub fn replace_generated_section(path: &Path, name: &str, section: &str) -> Result<()> {
    let marker = format!("<!-- end of the generated {name} section; notes below are kept -->");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let notes = section_range(&old, name)
        .and_then(|(start, end)| old[start..end].split_once(marker.as_str()))
        .map_or("", |(_, notes)| notes.trim());
    let mut text = format!("{}\n{marker}\n", section.trim_end());
    if !notes.is_empty() {
        text += "\n";
        text += notes;
        text += "\n";
    }
    replace_section(path, name, &format!("{text}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_section_is_replaced_and_the_notes_below_it_kept() {
        let path =
            std::env::temp_dir().join(format!("zoo-xtask-benchmarks-{}.md", std::process::id()));
        std::fs::write(&path, "# Benchmarks\n\n## caffe\n\nold caffe\n").unwrap();
        replace_generated_section(&path, "onnx", "## onnx\n\nfirst table\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("## caffe\n\nold caffe\n"), "{text}");
        assert!(
            text.trim_end().ends_with(
                "first table\n<!-- end of the generated onnx section; notes below are kept -->"
            ),
            "{text}"
        );

        // Notes written below the marker, then a later section.
        std::fs::write(&path, text + "\nhand notes\n\n## load\n\nload table\n").unwrap();
        replace_generated_section(&path, "onnx", "## onnx\n\nsecond table\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(!text.contains("first table"), "{text}");
        assert!(
            text.contains(
                "## onnx\n\nsecond table\n<!-- end of the generated onnx section; notes below are kept -->\n\nhand notes\n\n## load\n\nload table\n"
            ),
            "{text}"
        );
        assert!(text.contains("## caffe\n\nold caffe\n"), "{text}");
    }
}
