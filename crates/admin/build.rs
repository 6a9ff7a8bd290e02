//! Compiles `proto/strata_admin.proto` with protox (pure Rust: no protoc on the machine), and
//! writes its file descriptor set to `OUT_DIR/strata_admin_descriptor.bin` for server
//! reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/strata_admin.proto");
    let fds = protox::compile(["strata_admin.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("strata_admin_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
