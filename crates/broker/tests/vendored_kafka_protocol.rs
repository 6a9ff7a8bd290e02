//! The vendored kafka-protocol is exactly the published 0.18.0 crate plus the reviewed patch
//! (crates/vendor/kafka-protocol.patch): `crates/vendor/check-vendored.sh` must pass.

use std::process::Command;

#[test]
fn vendored_tree_is_pristine_plus_patch() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/check-vendored.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("running check-vendored.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "check-vendored.sh failed:\n{stdout}{stderr}"
    );
    assert!(
        stdout.contains("vendored kafka-protocol = pristine 0.18.0 + patch"),
        "{stdout}"
    );
}
