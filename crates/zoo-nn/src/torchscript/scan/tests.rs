use super::*;
use std::io::{Cursor, Write};
use std::path::PathBuf;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// A TorchScript-shaped zip: `m/code/__torch__.py` with `code`, plus extras.
fn archive(code: &str, extra: &[(&str, &[u8])]) -> Cursor<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("m/code/__torch__.py", stored).unwrap();
    writer.write_all(code.as_bytes()).unwrap();
    writer.start_file("m/data.pkl", stored).unwrap();
    writer.write_all(b"\x80\x02c__torch__\nM\nq\x00.").unwrap();
    for (name, bytes) in extra {
        writer.start_file(*name, stored).unwrap();
        writer.write_all(bytes).unwrap();
    }
    let mut cursor = writer.finish().unwrap();
    cursor.set_position(0);
    cursor
}

/// A module whose forward has `body` from line 6 on.
fn module(body: &str) -> String {
    format!(
        "class M(Module):\n  __parameters__ = []\n  training : bool\n  \
         def forward(self: __torch__.M,\n    x: Tensor) -> Tensor:\n{body}"
    )
}

fn refusal(code: &str) -> String {
    scan_archive(archive(code, &[])).expect_err("the scan must refuse this code")
}

#[test]
fn the_hostile_fixture_that_writes_a_file_is_refused_naming_from_file() {
    let path = repo_file("tests/fixtures/torchscript/hostile.pt");
    let error = scan_file(&path).unwrap_err().to_string();
    assert!(error.contains("aten::from_file"), "{error}");
    assert!(error.contains("hostile.pt"), "{error}");
    assert!(error.contains("code/__torch__.py line"), "{error}");
}

#[test]
fn the_peephole_timing_example_passes() {
    let report = scan_file(&repo_file("examples/peephole-timing/model.pt")).unwrap();
    assert!(
        report.operators.contains(&"torch.linear".to_string()),
        "{report:?}"
    );
    assert!(
        report.operators.contains(&"torch.sigmoid".to_string()),
        "{report:?}"
    );
}

#[test]
fn plain_tensor_maths_passes_with_submodules_and_builtins() {
    let code = module(
        "    _0 = annotate(List[Tensor], [])\n    for i in range(torch.size(x, 0)):\n      \
         _1 = torch.append(_0, torch.relu_(torch.select(x, 0, i)))\n    \
         n = int(torch.item(torch.sum(torch.stack(_0))))\n    print(\"n # not a comment\", n)\n    \
         lin = self.lin\n    y = (lin).forward(torch.view(x, [-1, 3]), )  # torch.save(x) in a comment\n    \
         return ops.prim.NumToTensor(torch.softmax(y, -1.5e-05))\n  \
         def helper(self: __torch__.M) -> int:\n    return 1\n",
    );
    let report = scan_archive(archive(&code, &[])).unwrap();
    assert!(report.operators.contains(&"torch.relu_".to_string()));
    assert!(
        report
            .operators
            .contains(&"ops.prim.NumToTensor".to_string())
    );
}

#[test]
fn file_and_process_operators_are_refused_by_name() {
    for (call, named) in [
        ("torch.save(x, \"/tmp/x\")", "aten::save"),
        ("torch.load(\"/tmp/x\")", "aten::load"),
        ("torch.from_file(\"/tmp/x\", True, 5)", "aten::from_file"),
        ("ops.aten.from_file(\"/tmp/x\", True, 5)", "aten::from_file"),
        ("torch.ops.aten.from_file(\"/tmp/x\")", "aten::from_file"),
        ("torch.set_(x, x)", "aten::set_"),
        ("ops.prim.Enter(x)", "prim::Enter"),
    ] {
        let error = refusal(&module(&format!("    _0 = {call}\n    return x\n")));
        assert!(error.contains(named), "{call}: {error}");
        assert!(error.contains("line 6"), "{call}: {error}");
    }
}

#[test]
fn custom_operators_and_classes_are_refused() {
    let error = refusal(&module("    return ops.evil.run(x)\n"));
    assert!(
        error.contains("custom operator (namespace `evil`)"),
        "{error}"
    );
    let error = refusal(&module(
        "    _0 = __torch__.torch.classes.evil.Shell(\"id\")\n    return x\n",
    ));
    assert!(error.contains("torch.classes"), "{error}");
    let pickled: &[u8] = b"\x80\x02c__torch__.torch.classes.evil\nShell\nq\x00.";
    let error = scan_archive(archive(
        &module("    return x\n"),
        &[("m/constants.pkl", pickled)],
    ))
    .unwrap_err();
    assert!(error.contains("m/constants.pkl"), "{error}");
}

#[test]
fn unknown_functions_and_methods_are_refused() {
    let error = refusal(&module("    return open(\"/etc/passwd\")\n"));
    assert!(error.contains("`open(…)`"), "{error}");
    let error = refusal(&module("    return (x).launch(1)\n"));
    assert!(error.contains("`launch`"), "{error}");
}

#[test]
fn lexing_tricks_are_refused_rather_than_guessed() {
    for (code, why) in [
        (
            "    \"\"\"doc\n    torch.save(x)\"\"\"\n    return x\n",
            "triple-quoted",
        ),
        ("    _0 = r\"a\"\n    return x\n", "prefixed string"),
        (
            "    _0 = \"open\n    return x\n",
            "does not end on its line",
        ),
        ("    return torch.add(x, \\\n    1)\n", "line continuation"),
    ] {
        let error = refusal(&module(code));
        assert!(error.contains(why), "{code:?}: {error}");
    }
}

#[test]
fn archives_without_code_or_that_are_not_zips_are_refused() {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file("m/data.pkl", zip::write::FileOptions::default())
        .unwrap();
    writer.write_all(b".").unwrap();
    let mut cursor = writer.finish().unwrap();
    cursor.set_position(0);
    let error = scan_archive(cursor).unwrap_err();
    assert!(error.contains("no TorchScript code"), "{error}");
    let error = scan_archive(Cursor::new(b"not a zip".to_vec())).unwrap_err();
    assert!(error.contains("not a TorchScript archive"), "{error}");
}
