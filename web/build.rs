//! Embeds every file under `assets/` so the binary serves the web map with nothing beside it.

use std::{env, fs, path::Path};

fn main() {
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let entries: String = files
        .iter()
        .map(|(url, file)| format!("    ({url:?}, include_bytes!({file:?})),\n"))
        .collect();
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("assets.rs");
    fs::write(
        out,
        format!("const ASSETS: &[(&str, &[u8])] = &[\n{entries}];\n"),
    )
    .unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let url = format!("/{}", path.strip_prefix(root).unwrap().display());
            files.push((url, path.display().to_string()));
        }
    }
}
