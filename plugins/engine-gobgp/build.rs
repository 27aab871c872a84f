//! Compiles rrd's GoBGP API subset (`proto/*.proto` at the workspace root)
//! with protox (pure Rust, no system `protoc`) and generates the tonic
//! client with tonic-prost-build.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest.join("../../proto");
    let files = [
        proto_dir.join("gobgp.proto"),
        proto_dir.join("capability.proto"),
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&proto_dir])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
