//! `deltastream schema`: the contract's `.proto` files, or a protobuf
//! FileDescriptorSet of them, for clients in other languages (no `protoc`
//! needed: the files are embedded and compiled with protox).

use anyhow::Context as _;
use clap::Args;
use ds_schemas::PROTO_FILES;
use std::path::{Path, PathBuf};

/// `schema` options.
#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Write the `.proto` files under this directory (as
    /// `deltastream/v1/*.proto`, the layout `protoc -I DIR` expects).
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".",
        conflicts_with = "descriptor_set"
    )]
    pub out: PathBuf,
    /// Write a FileDescriptorSet (binary protobuf, as `protoc
    /// --descriptor_set_out` makes) to this file instead; `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Option<PathBuf>,
}

/// `deltastream schema`.
///
/// # Errors
/// When a file cannot be written.
pub fn run(a: SchemaArgs) -> anyhow::Result<()> {
    match a.descriptor_set {
        Some(file) => write_descriptor_set(&file),
        None => write_protos(&a.out),
    }
}

fn write_protos(dir: &Path) -> anyhow::Result<()> {
    for (name, source) in PROTO_FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, source).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

fn write_descriptor_set(file: &Path) -> anyhow::Result<()> {
    let bytes = descriptor_set()?;
    if file == Path::new("-") {
        use std::io::Write as _;
        std::io::stdout()
            .write_all(&bytes)
            .context("writing to stdout")
    } else {
        std::fs::write(file, bytes).with_context(|| format!("writing {}", file.display()))
    }
}

/// The embedded `.proto` files, by name, for protox.
struct Embedded;

impl protox::file::FileResolver for Embedded {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        path.to_str().map(str::to_owned)
    }

    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match PROTO_FILES.iter().find(|(n, _)| *n == name) {
            Some((n, source)) => protox::file::File::from_source(n, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The FileDescriptorSet of every embedded `.proto` file, encoded.
///
/// # Errors
/// When a file does not compile (a bug in the embedded files).
pub fn descriptor_set() -> anyhow::Result<Vec<u8>> {
    let mut compiler = protox::Compiler::with_file_resolver(Embedded);
    compiler.include_imports(true);
    compiler
        .open_files(PROTO_FILES.iter().map(|(n, _)| n))
        .map_err(|e| anyhow::anyhow!("compiling the embedded .proto files: {e}"))?;
    Ok(compiler.encode_file_descriptor_set())
}
