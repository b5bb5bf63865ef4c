//! Compiles `proto/deltastream/v1/*.proto` with protox (pure Rust, no system `protoc`).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from("proto");
    let files: Vec<PathBuf> = ["market.proto", "enriched.proto", "dlq.proto"]
        .iter()
        .map(|f| dir.join("deltastream/v1").join(f))
        .collect();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&dir])?;
    let mut config = prost_build::Config::new();
    config.type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]");
    config.field_attribute(
        "deltastream.v1.EnrichedQuote.buildup",
        "#[serde(with = \"crate::json::buildup\")]",
    );
    config.field_attribute(
        "deltastream.v1.DeadLetter.payload",
        "#[serde(with = \"crate::json::hex_bytes\")]",
    );
    config.compile_fds(fds)?;
    Ok(())
}
