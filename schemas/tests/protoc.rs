//! The `.proto` files compile with a plain protobuf compiler (no custom options), so
//! Python/Go/JS clients can generate code from them. Uses the real `protoc` bundled
//! in grpcio-tools, installed into `.tools/pyenv` by `scripts/setup.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn protos_compile_with_plain_protoc() {
    let python = root().join(".tools/pyenv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it installs grpcio-tools' protoc)",
        python.display()
    );
    let out = tempfile::tempdir().expect("temp dir");
    let proto_dir = root().join("schemas/proto");
    let files: Vec<String> = ds_schemas::PROTO_FILES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    let status = Command::new(&python)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(&proto_dir)
        .arg(format!("--python_out={}", out.path().display()))
        .arg(format!(
            "--descriptor_set_out={}",
            out.path().join("all.pb").display()
        ))
        .args(&files)
        .status()
        .expect("protoc runs");
    assert!(status.success(), "protoc refused the .proto files");
    for f in &files {
        let py = out.path().join(f.replace(".proto", "_pb2.py"));
        assert!(py.is_file(), "{} was not generated", py.display());
    }
    // The generated Python decodes what Rust encodes.
    let script = r#"
import sys
sys.path.insert(0, sys.argv[1])
from deltastream.v1 import market_pb2
t = market_pb2.UnderlyingTick.FromString(bytes.fromhex(sys.argv[2]))
assert t.product == "NIFTY" and t.price == 21500.5 and t.seq == 42 and t.volume == 7, t
print("ok")
"#;
    use prost::Message;
    let tick = ds_schemas::UnderlyingTick {
        product: "NIFTY".into(),
        price: 21500.5,
        ts_unix_ns: 1,
        seq: 42,
        volume: 7,
    };
    let hex: String = tick
        .encode_to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out2 = Command::new(&python)
        .args(["-c", script])
        .arg(out.path())
        .arg(hex)
        .output()
        .expect("python runs");
    assert!(
        out2.status.success(),
        "python could not decode: {}",
        String::from_utf8_lossy(&out2.stderr)
    );
}
