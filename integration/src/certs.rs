//! Test certificates made with the `openssl` CLI in a temporary directory, for TLS listeners
//! (`--tls-cert`, `--tls-key`, `ssl.truststore.certificates`) and their clients
//! (`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`).
//!
//! [`TestCerts::generate`] makes, valid for two days:
//! - `ca.pem` / `ca.key`: a self-signed CA (`CN=strata-test-ca`);
//! - `server.pem` / `server.key`: `CN=localhost` with subjectAltName `DNS:localhost,IP:127.0.0.1`
//!   and extendedKeyUsage `serverAuth`, signed by the CA;
//! - `client.pem` / `client.key`: `CN=strata-test-client`, extendedKeyUsage `clientAuth`, signed
//!   by the CA (mutual TLS);
//! - `stranger-ca.pem` and `stranger.pem` / `stranger.key`: a client certificate signed by a
//!   second, unrelated CA, which a broker trusting only `ca.pem` must refuse.
//!
//! Keys are unencrypted PKCS#8 (what `openssl req -newkey -nodes` writes). The directory is
//! removed when the [`TestCerts`] is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::tools::run_command;

/// Time limit of one openssl command.
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(30);

/// A CA, a server certificate and client certificates in a temporary directory.
pub struct TestCerts {
    dir: TempDir,
}

impl TestCerts {
    /// Generates every file listed in the module docs with the `openssl` CLI.
    pub fn generate() -> Result<TestCerts> {
        let dir = tempfile::Builder::new()
            .prefix("strata-it-certs-")
            .tempdir()
            .context("creating the certificate directory")?;
        let d = dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )?;
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n")?;
        self_signed_ca(d, "ca", "/CN=strata-test-ca")?;
        signed(d, "server", "/CN=localhost", "ca", "server.ext")?;
        signed(d, "client", "/CN=strata-test-client", "ca", "client.ext")?;
        self_signed_ca(d, "stranger-ca", "/CN=strata-stranger-ca")?;
        signed(
            d,
            "stranger",
            "/CN=strata-stranger-client",
            "stranger-ca",
            "client.ext",
        )?;
        Ok(TestCerts { dir })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of one of the files, e.g. `path("ca.pem")`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// [`TestCerts::path`] as a string, for command lines and client settings.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// The CA certificate (`ssl.ca.location` of clients, the broker's truststore).
    pub fn ca(&self) -> String {
        self.arg("ca.pem")
    }

    /// The broker's certificate chain (`--tls-cert`).
    pub fn server_cert(&self) -> String {
        self.arg("server.pem")
    }

    /// The broker's private key (`--tls-key`).
    pub fn server_key(&self) -> String {
        self.arg("server.key")
    }

    /// The CA-signed client certificate (`ssl.certificate.location`).
    pub fn client_cert(&self) -> String {
        self.arg("client.pem")
    }

    /// Its private key (`ssl.key.location`).
    pub fn client_key(&self) -> String {
        self.arg("client.key")
    }
}

/// Runs `openssl args…` in `dir`, failing with its output unless it exits 0.
fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir);
    run_command(cmd, &[], OPENSSL_TIMEOUT)
        .context("running openssl")?
        .ensure_success(&format!("openssl {}", args.join(" ")))
}

/// `<name>.pem` / `<name>.key`: a self-signed CA certificate (basicConstraints CA:TRUE, as
/// `openssl req -x509` makes by default).
fn self_signed_ca(dir: &Path, name: &str, subject: &str) -> Result<()> {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem,
            "-days", "2", "-subj", subject,
        ],
    )
}

/// `<name>.pem` / `<name>.key`: a certificate for `subject` signed by the CA `<ca>.pem`, with
/// the extensions in the file `ext`.
fn signed(dir: &Path, name: &str, subject: &str, ca: &str, ext: &str) -> Result<()> {
    let (pem, key, csr) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
    );
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            ext,
        ],
    )
}
