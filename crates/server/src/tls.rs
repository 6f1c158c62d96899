//! RTMPS: TLS (rustls, ring provider) in front of the same RTMP session code.
//!
//! The certificate chain and key are PEM files from the configuration. Each accepted
//! connection checks whether either file changed (modification time and size: two `stat`s,
//! nothing next to a TLS handshake) and reloads them if so, so a renewed certificate
//! (certbot, cert-manager) is served to the next connection without a restart. A reload
//! that fails (a half-written file) keeps the previous certificate and is reported once.

use parking_lot::Mutex;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// Certificate chain and private key of a TLS listener, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (leaf first).
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file holds no certificate / no key, or rustls refuses them.
    #[error("{0}")]
    Invalid(String),
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The current acceptor, reloaded when the files change.
pub(crate) struct TlsReloader {
    files: TlsFiles,
    state: Mutex<(Stamp, Stamp, TlsAcceptor)>,
}

impl TlsReloader {
    /// Load the files now; an error here is a start-up error.
    pub fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let stamps = (stamp(&files.cert), stamp(&files.key));
        let acceptor = load(&files)?;
        Ok(TlsReloader { files, state: Mutex::new((stamps.0, stamps.1, acceptor)) })
    }

    /// The acceptor for a new connection; `Err` carries a reload failure to report (the
    /// previous certificate is still served).
    pub fn acceptor(&self) -> (TlsAcceptor, Option<TlsError>) {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        let mut state = self.state.lock();
        if (now.0, now.1) == (state.0, state.1) {
            return (state.2.clone(), None);
        }
        // Remember the new stamps either way: a broken file is reported once, not per connection.
        state.0 = now.0;
        state.1 = now.1;
        match load(&self.files) {
            Ok(acceptor) => {
                state.2 = acceptor;
                (state.2.clone(), None)
            }
            Err(e) => (state.2.clone(), Some(e)),
        }
    }
}

fn load(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let read = |path: &Path| std::fs::read(path).map_err(|source| TlsError::Read { path: path.display().to_string(), source });
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(&cert_pem[..]))
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid(format!("{}: no certificate in the file", files.cert.display())));
    }
    let key = rustls_pemfile::private_key(&mut BufReader::new(&key_pem[..]))
        .map_err(|e| TlsError::Invalid(format!("{}: {e}", files.key.display())))?
        .ok_or_else(|| TlsError::Invalid(format!("{}: no private key in the file", files.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Invalid(format!("{} / {}: {e}", files.cert.display(), files.key.display())))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Write a self-signed certificate for `names` (host names or IP addresses) and its key as
/// PEM files (the key 0600). For `--dev` and tests; production uses a real certificate.
/// `cert` and `key` may be one path: then one file (0600) holds both, replaced in one rename,
/// so two processes writing it at once never leave a key that belongs to another certificate.
pub fn write_self_signed(names: &[String], cert: &Path, key: &Path) -> Result<(), TlsError> {
    let generated = rcgen::generate_simple_self_signed(names.to_vec()).map_err(|e| TlsError::Invalid(format!("cannot generate a certificate: {e}")))?;
    let write = |path: &Path, data: &str, mode: u32| -> Result<(), TlsError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Per process: a concurrent writer must not rename our half-written file away.
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|source| TlsError::Read { path: tmp.display().to_string(), source })?;
        f.write_all(data.as_bytes()).map_err(|source| TlsError::Read { path: tmp.display().to_string(), source })?;
        std::fs::rename(&tmp, path).map_err(|source| TlsError::Read { path: path.display().to_string(), source })
    };
    if cert == key {
        return write(cert, &format!("{}{}", generated.key_pair.serialize_pem(), generated.cert.pem()), 0o600);
    }
    write(key, &generated.key_pair.serialize_pem(), 0o600)?;
    write(cert, &generated.cert.pem(), 0o644)
}
