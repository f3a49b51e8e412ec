//! TLS client setup shared by rsync-ssl-tunnel and ftpsync-cron's https fetch.
//!
//! CA certificates come from a directory in the hashed-name layout `c_rehash` /
//! `openssl rehash` make (`/etc/ssl/certs`), or from one PEM bundle file.

use anyhow::{anyhow, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// Every PEM certificate in `path`: all regular files of a directory (symlinks followed, so the
/// hashed `xxxxxxxx.N` links count; files that are not PEM are skipped), or one PEM bundle.
/// Duplicates are dropped. An error when nothing is found, naming the path.
pub fn load_ca(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let md =
        fs::metadata(path).with_context(|| format!("cannot read CA path {}", path.display()))?;
    let mut seen = HashSet::new();
    let mut certs = Vec::new();
    let mut take = |found: Vec<CertificateDer<'static>>| {
        for c in found {
            if seen.insert(c.as_ref().to_vec()) {
                certs.push(c);
            }
        }
    };
    if md.is_dir() {
        let entries = fs::read_dir(path)
            .with_context(|| format!("cannot read CA directory {}", path.display()))?;
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            // metadata follows symlinks: a dangling link or a subdirectory is skipped
            if !fs::metadata(&file).map(|m| m.is_file()).unwrap_or(false) {
                continue;
            }
            if let Ok(bytes) = fs::read(&file) {
                take(pem_certs(&bytes));
            }
        }
    } else {
        let bytes =
            fs::read(path).with_context(|| format!("cannot read CA file {}", path.display()))?;
        take(pem_certs(&bytes));
    }
    if certs.is_empty() {
        return Err(anyhow!("no CA certificates in {}", path.display()));
    }
    Ok(certs)
}

/// The certificates of a PEM text; anything unreadable yields none.
fn pem_certs(bytes: &[u8]) -> Vec<CertificateDer<'static>> {
    let mut rd = bytes;
    rustls_pemfile::certs(&mut rd)
        .map_while(Result::ok)
        .collect()
}

/// A client configuration (ring provider) trusting the CAs in `ca` (see [`load_ca`]).
/// With `check_hostname` false, a certificate for another name is accepted; chain, validity
/// and signatures are still checked.
pub fn client_config(ca: &Path, check_hostname: bool) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(load_ca(ca)?);
    if added == 0 {
        return Err(anyhow!("no usable CA certificates in {}", ca.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    let config = if check_hostname {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("TLS setup")?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyNameVerifier { inner }))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The webpki verifier, except that a name mismatch is not an error (method `stunnel-old`).
/// webpki checks the name last, after the chain, so nothing else is waived.
#[derive(Debug)]
struct AnyNameVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// RSYNC_SSL_METHOD: the original's names for its tunnel programs. All of them use the
/// built-in TLS client; they differ in whether the certificate's host name is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SslMethod {
    /// `stunnel` or `stunnel4`: host name checked.
    Stunnel,
    /// `stunnel-old` or `stunnel4-old`: the certificate is verified, the host name is not.
    StunnelOld,
    /// `socat`: host name checked.
    Socat,
    /// Anything else, kept as written: the tunnel refuses it when it runs (as the
    /// original's did), check-config reports it.
    Unknown(String),
}

impl SslMethod {
    pub fn parse(s: &str) -> SslMethod {
        match s {
            "stunnel" | "stunnel4" => SslMethod::Stunnel,
            "stunnel-old" | "stunnel4-old" => SslMethod::StunnelOld,
            "socat" => SslMethod::Socat,
            other => SslMethod::Unknown(other.to_string()),
        }
    }

    /// The name handed to the tunnel in RSYNC_SSL_METHOD.
    pub fn as_str(&self) -> &str {
        match self {
            SslMethod::Stunnel => "stunnel",
            SslMethod::StunnelOld => "stunnel-old",
            SslMethod::Socat => "socat",
            SslMethod::Unknown(s) => s,
        }
    }

    /// Whether the host name is checked; `None` for an unknown method.
    pub fn checks_hostname(&self) -> Option<bool> {
        match self {
            SslMethod::Stunnel | SslMethod::Socat => Some(true),
            SslMethod::StunnelOld => Some(false),
            SslMethod::Unknown(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    // Two self-signed CA certificates (`openssl req -x509`, P-256, valid for 100 years).
    const CERT_A: &str = "-----BEGIN CERTIFICATE-----
MIIBnDCCAUOgAwIBAgIUHyRHoh7knyBSMCzOCatwdtmoLzwwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYYXJjaHZzeW5jIHVuaXQgdGVzdCBjYSBhMCAXDTI2MTEyMTEx
MjA1NFoYDzIxMjYxMDI4MTEyMDU0WjAjMSEwHwYDVQQDDBhhcmNodnN5bmMgdW5p
dCB0ZXN0IGNhIGEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASii5od2yls/8HI
bPLl79XfH9e4+rPP6+bc0//epEEbKuHHdmxUgl7dTCQhqNVNCnvjr7Viuzy7igA+
DcOVVYi5o1MwUTAdBgNVHQ4EFgQUqV/29HMZAaOHZBJx1oCqJeisTP0wHwYDVR0j
BBgwFoAUqV/29HMZAaOHZBJx1oCqJeisTP0wDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNHADBEAiBj2sGpGHB0QImftUK71Xaey1rsxjJ2inPIFUKpvk8fZgIg
Z/Je7aNXRHHz5su+k9ccYtM+pRZ8wxxnbG8vIJMReqw=
-----END CERTIFICATE-----
";
    const CERT_B: &str = "-----BEGIN CERTIFICATE-----
MIIBnTCCAUOgAwIBAgIUFCrYxWOYJymxcJNwP0k0ZJw6NxswCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYYXJjaHZzeW5jIHVuaXQgdGVzdCBjYSBiMCAXDTI2MTEyMTEx
MjA1NFoYDzIxMjYxMDI4MTEyMDU0WjAjMSEwHwYDVQQDDBhhcmNodnN5bmMgdW5p
dCB0ZXN0IGNhIGIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQvkJoIx0dLSzO6
wCbFVqKgqMK1PihLBFlZQlNvV1sGBOf0JcdQ1SzJf+4hSuqtiao2uecpEN5gVPDY
SdlDU2L1o1MwUTAdBgNVHQ4EFgQUJWm1+3rZ0zAgjZ4AUWLpga4aCIwwHwYDVR0j
BBgwFoAUJWm1+3rZ0zAgjZ4AUWLpga4aCIwwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNIADBFAiBxE0bHHC/xSm8HdYSUp4CynfgfTrjDSmojhcVf5vJDzwIh
AMy+xPGt44JLfT0udbAyEFz5SaWf8fEX0mMcDUx5+D7b
-----END CERTIFICATE-----
";

    fn tmp() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("archvsync-tls-")
            .tempdir()
            .unwrap()
    }

    #[test]
    fn hashed_directory_follows_links_skips_junk_and_dedupes() {
        let t = tmp();
        let store = t.path().join("store");
        let dir = t.path().join("certs");
        fs::create_dir_all(&store).unwrap();
        fs::create_dir_all(dir.join("subdir")).unwrap();
        fs::write(store.join("a.pem"), CERT_A).unwrap();
        fs::write(store.join("b.pem"), CERT_B).unwrap();
        // the c_rehash layout: hash links to PEM files elsewhere
        symlink(store.join("a.pem"), dir.join("1a2b3c4d.0")).unwrap();
        symlink(store.join("b.pem"), dir.join("5e6f7a8b.0")).unwrap();
        // the same certificate again (a bundle next to the hashed links), junk, a dead link
        fs::write(dir.join("bundle.crt"), format!("{CERT_A}{CERT_B}")).unwrap();
        fs::write(dir.join("README"), "not a certificate\n").unwrap();
        fs::write(dir.join("binary"), [0u8, 159, 146, 150, 255]).unwrap();
        symlink(t.path().join("gone"), dir.join("deadbeef.0")).unwrap();
        let certs = load_ca(&dir).unwrap();
        assert_eq!(certs.len(), 2);
    }

    #[test]
    fn a_bundle_file_is_read_whole() {
        let t = tmp();
        let f = t.path().join("ca.pem");
        fs::write(&f, format!("junk before\n{CERT_A}\n{CERT_B}")).unwrap();
        assert_eq!(load_ca(&f).unwrap().len(), 2);
    }

    #[test]
    fn nothing_found_names_the_path() {
        let t = tmp();
        let e = load_ca(t.path()).unwrap_err().to_string();
        assert!(e.contains("no CA certificates in"), "{e}");
        assert!(e.contains(&t.path().display().to_string()), "{e}");
        let f = t.path().join("empty.pem");
        fs::write(&f, "nothing\n").unwrap();
        let e = load_ca(&f).unwrap_err().to_string();
        assert!(e.contains("empty.pem"), "{e}");
        let missing = t.path().join("missing");
        let e = format!("{:#}", load_ca(&missing).unwrap_err());
        assert!(e.contains("missing") && e.contains("No such file"), "{e}");
    }

    #[test]
    fn client_configs_build_with_and_without_the_name_check() {
        let t = tmp();
        let f = t.path().join("ca.pem");
        fs::write(&f, CERT_A).unwrap();
        assert!(client_config(&f, true).is_ok());
        assert!(client_config(&f, false).is_ok());
        let e = client_config(t.path().join("nope").as_path(), true).unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
    }
}
