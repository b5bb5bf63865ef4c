//! Compiles `proto/deltastream/v1/*.proto` with protox (pure Rust, no system `protoc`).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from("proto");
    let files: Vec<PathBuf> = ["market.proto", "enriched.proto", "dlq.proto", "ws.proto"]
        .iter()
        .map(|f| dir.join("deltastream/v1").join(f))
        .collect();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&dir])?;
    let mut config = prost_build::Config::new();
    config.type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]");
    // The OpenAPI schemas of the REST and WebSocket JSON derive from these same
    // types (feature `openapi`), so the document cannot drift from what is served.
    config.type_attribute(
        ".",
        "#[cfg_attr(feature = \"openapi\", derive(utoipa::ToSchema))]",
    );
    // SPEC §3: JSON shows the enum's proto names.
    config.type_attribute(
        "deltastream.v1.Buildup",
        "#[serde(rename_all = \"SCREAMING_SNAKE_CASE\")]",
    );
    config.field_attribute(
        "deltastream.v1.EnrichedQuote.buildup",
        "#[serde(with = \"crate::json::buildup\")] \
         #[cfg_attr(feature = \"openapi\", schema(value_type = Buildup))]",
    );
    // Added after the first release: documents and JSON written before lack it.
    config.field_attribute("deltastream.v1.EnrichedQuote.illiquid", "#[serde(default)]");
    config.field_attribute(
        "deltastream.v1.DeadLetter.payload",
        "#[serde(with = \"crate::json::hex_bytes\")] \
         #[cfg_attr(feature = \"openapi\", schema(value_type = String, format = \"hex\"))]",
    );
    config.compile_fds(fds)?;
    Ok(())
}
