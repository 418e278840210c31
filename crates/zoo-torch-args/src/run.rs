//! `zoo run MODEL [FILES…]`.

use std::path::PathBuf;

/// The default pixel limit for models that run at the image's own size:
/// 4096 × 4096.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// An installed package (NAME or NAME@REQ), or a package folder written
    /// as a path (`./vgg-mini`, `models/vgg-mini`, `/abs/dir`): a bare name
    /// is always the installed package, even if a folder of that name is here.
    pub model: String,
    /// Inputs: images (VGG, cell counter; `-` reads one from standard
    /// input), a spike sequence (.npy, a text file, or text like 0,0,1,0),
    /// a video (.npy or a folder of frames).
    pub files: Vec<String>,
    /// A raw input tensor, NAME=FILE.npy (repeatable).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    pub inputs: Vec<String>,
    /// Write an output (any named layer or blob), NAME=FILE.npy
    /// (repeatable); with input files, one array per output with a row per
    /// file.
    #[arg(long = "output", value_name = "NAME=FILE.npy")]
    pub outputs: Vec<String>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the results: an image (.png or .jpg) for the cell counter, a
    /// folder of frames for the video detector; with several inputs, a
    /// folder with one overlay per input.
    #[arg(long, value_name = "PATH")]
    pub overlay: Option<PathBuf>,
    /// Refuse images with more pixels than this for models that run at the
    /// image's own size (the cell counter needs about 340 bytes per pixel).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// How many classes to list for classifiers (at least 1).
    #[arg(long, default_value_t = 5, value_parser = parse_top)]
    pub top: usize,
    /// Run a package that contains code (a TorchScript model); also
    /// `allow-code` in config.toml or ZOO_ALLOW_CODE=1.
    #[arg(long)]
    pub allow_code: bool,
}

/// `--top N`: a whole number of at least 1 (a list of no classes answers
/// nothing, so 0 is a mistake worth naming before libtorch starts).
fn parse_top(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 lists no classes: give 1 or more".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?}: expected a whole number of 1 or more")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_takes_one_or_more() {
        assert_eq!(parse_top("3"), Ok(3));
        assert!(parse_top("0").unwrap_err().contains("give 1 or more"));
        assert!(parse_top("-1").is_err());
    }
}
