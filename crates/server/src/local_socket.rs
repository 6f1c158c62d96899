//! Unix sockets between the core and its transcoders (FLV sinks and FLV sources): created
//! owner-only (0600) and, because a socket in a directory someone else can reach is still
//! reachable, every peer's credentials are checked at accept (`SO_PEERCRED`): only processes
//! running as this process's effective uid may read a stream or publish one.
//!
//! The uid is the boundary: a process of the same uid can ptrace us anyway, so requiring the
//! peer to be our own child would add nothing but break wrappers around ffmpeg.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use tokio::net::{UnixListener, UnixStream};

/// Mode of every socket the core creates.
pub(crate) const SOCKET_MODE: u32 = 0o600;

/// Bind a listening socket at `path`, owner-only. A stale socket left at the path (a crashed
/// run) is replaced; any other kind of file is an error, never deleted.
pub(crate) fn bind_private(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the path exists and is not a socket")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    // bind() applies the umask; the socket's own mode is what connect() checks.
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// Who connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
}

/// `Ok(peer)` when the peer runs as our effective uid; `Err(why)` otherwise (the caller drops
/// the socket and reports it).
pub(crate) fn check_peer(socket: &UnixStream) -> Result<Peer, String> {
    let cred = socket.peer_cred().map_err(|e| format!("peer credentials unavailable: {e}"))?;
    let peer = Peer { uid: cred.uid(), pid: cred.pid() };
    let ours = effective_uid();
    if peer.uid == ours {
        Ok(peer)
    } else {
        let pid = peer.pid.map_or_else(|| "?".to_string(), |p| p.to_string());
        Err(format!("refused a local peer of uid {} (pid {pid}): only uid {ours} may connect", peer.uid))
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn socket_is_owner_only_and_our_own_peer_is_allowed() {
        let dir = std::env::temp_dir().join(format!("klive-local-socket-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sock");
        let listener = bind_private(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let client = UnixStream::connect(&path).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let peer = check_peer(&server).unwrap();
        assert_eq!(peer.uid, effective_uid());
        assert_eq!(peer.pid, Some(std::process::id() as i32));
        drop(client);
        // A stale socket is replaced; a regular file is never deleted.
        drop(listener);
        bind_private(&path).unwrap();
        let file = dir.join("regular");
        std::fs::write(&file, b"keep").unwrap();
        assert!(bind_private(&file).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
