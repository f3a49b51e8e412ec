//! HTTP(S) fetches of trace files (ftpsync-cron's upstream check, check-mirror): one agent
//! builder, so both trust the same CAs and are bounded in time the same way.

use crate::common::tls;
use std::path::Path;
use std::time::Duration;

/// An agent whose every request (connection, TLS, headers, body) ends within `timeout`.
/// HTTPS URLs are verified against `ca` (a hashed CA directory or a CA file, as
/// RSYNC_SSL_CAPATH). With `statuses_as_data` a 404 or 412 is an answer to look at, not an
/// error.
pub fn agent(
    timeout: Duration,
    user_agent: &str,
    ca: Option<&Path>,
    statuses_as_data: bool,
) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(!statuses_as_data)
        .user_agent(user_agent);
    if let Some(ca) = ca {
        let certs = tls::load_ca(ca).map_err(|e| format!("{e:#}"))?;
        let certs: Vec<ureq::tls::Certificate<'static>> = certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        );
    }
    Ok(config.build().into())
}

/// ureq's error in words an operator reads: what went wrong, not which layer noticed.
pub fn describe(e: &ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("no answer within {} s", timeout.as_secs()),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::StatusCode(code) => format!("HTTP {code}"),
        other => other.to_string(),
    }
}

/// An `http://` or `https://` URL, the only kinds these fetches take.
pub fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}
