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
//! [`TestCerts::add_client`] makes more CA-signed client certificates with a chosen subject
//! (for principals taken from the certificate, e.g. `User:O=Strata,CN=carol`).
//!
//! [`TestCerts::add_node`] makes node certificates for the links between cluster nodes: one
//! certificate used both as server and as client certificate (extendedKeyUsage `serverAuth,
//! clientAuth`), with the subjectAltNames the test dials, signed by `ca` or by `stranger-ca`.
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

    /// Makes `<name>.pem` / `<name>.key`: a client certificate (extendedKeyUsage `clientAuth`)
    /// signed by the CA, with `subject` in openssl's `/K=V/K=V` form, written in that order
    /// (so `/CN=carol/O=Strata` reads `O=Strata,CN=carol` in RFC 2253, which lists the last
    /// attribute first).
    pub fn add_client(&self, name: &str, subject: &str) -> Result<()> {
        signed(self.dir(), name, subject, "ca", "client.ext")
    }

    /// Makes `<name>.pem` / `<name>.key`: a node certificate (extendedKeyUsage `serverAuth`
    /// and `clientAuth`) for `subject` (openssl's `/K=V` form, as [`TestCerts::add_client`])
    /// with subjectAltName `sans` (openssl's form, e.g. `DNS:localhost,IP:127.0.0.1`), signed
    /// by the CA `ca`: `"ca"`, or `"stranger-ca"` for a node another cluster's CA vouches for.
    pub fn add_node(&self, name: &str, subject: &str, sans: &str, ca: &str) -> Result<()> {
        let ext = format!("{name}.ext");
        std::fs::write(
            self.path(&ext),
            format!("subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n"),
        )?;
        signed(self.dir(), name, subject, ca, &ext)
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
