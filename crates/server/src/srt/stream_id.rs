//! Kaltura's SRT stream id (kaltura/server kBroadcastUrlManager::createSrtStreamId):
//! `#:::e=<entryId>,st=<sessionType>,p=<streamPassword>` or, for an entry with an SRT pass,
//! `#:::e=<entryId>,st=<sessionType>,ep=<url-safe base64 of the encrypted SRT pass>`; the entry
//! id may carry a live-backend prefix (`<backendId>-<entryId>`). `st` is the server index
//! (0 primary, 1 backup).
//!
//! The stream id becomes the arguments of an RTMP connect (`e`, `i`, `t`, and partner -5 as
//! the kpublish hostname form has it), so SRT publishers go through exactly the same
//! authentication as RTMP ones; whatever is missing or malformed is left out and the
//! application refuses it with the usual "Missing argument" message.

/// What a stream id says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrtStreamId {
    /// Entry id, backend prefix removed.
    pub entry_id: Option<String>,
    /// Live-backend id that preceded the entry id.
    pub backend: Option<String>,
    /// `st`: the server index.
    pub session_type: Option<String>,
    /// `p`: the stream password.
    pub password: Option<String>,
    /// `ep`: the encrypted SRT pass (a token for liveStream.authenticate as well).
    pub encrypted_pass: Option<String>,
}

/// The partner of a publish URL that names none (Kaltura's media-server partner).
const MEDIA_SERVER_PARTNER: &str = "-5";

impl SrtStreamId {
    /// Parse leniently: unknown keys are ignored, a stream id not in the `#:::` form gives
    /// nothing (and is refused for its missing arguments).
    pub fn parse(raw: &str) -> Self {
        let mut out = SrtStreamId::default();
        let Some(body) = raw.strip_prefix("#:::") else { return out };
        for pair in body.split(',') {
            let Some((key, value)) = pair.split_once('=') else { continue };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.trim() {
                "e" => match value.rsplit_once('-') {
                    Some((backend, entry)) if !entry.is_empty() => {
                        out.backend = Some(backend.to_string());
                        out.entry_id = Some(entry.to_string());
                    }
                    _ => out.entry_id = Some(value.to_string()),
                },
                "st" => out.session_type = Some(value.to_string()),
                "p" => out.password = Some(value.to_string()),
                "ep" => out.encrypted_pass = Some(value.to_string()),
                _ => {}
            }
        }
        out
    }

    /// The token liveStream.authenticate checks: the encrypted SRT pass when present (the
    /// form Kaltura hands out for entries that have one), else the stream password.
    pub fn token(&self) -> Option<&str> {
        self.encrypted_pass.as_deref().or(self.password.as_deref())
    }

    /// The ingest stream this publishes: `<entryId>_1`, as an RTMP encoder's stream key.
    pub fn stream_name(&self) -> String {
        format!("{}_1", self.entry_id.as_deref().unwrap_or(""))
    }

    /// The RTMP connect arguments (`e`, `i`, `t`, `p`) this stands for; absent ones left out.
    /// Nothing at all when the stream id names no entry, so the publish is refused for it.
    pub fn connect_query(&self) -> Vec<(String, String)> {
        let Some(entry) = &self.entry_id else { return Vec::new() };
        let mut q = vec![("e".to_string(), entry.clone())];
        if let Some(st) = &self.session_type {
            q.push(("i".into(), st.clone()));
        }
        if let Some(t) = self.token() {
            q.push(("t".into(), t.to_string()));
        }
        q.push(("p".into(), MEDIA_SERVER_PARTNER.into()));
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_form() {
        let id = SrtStreamId::parse("#:::e=0_abcd1234,st=0,p=secret99");
        assert_eq!(id.entry_id.as_deref(), Some("0_abcd1234"));
        assert_eq!(id.token(), Some("secret99"));
        assert_eq!(id.stream_name(), "0_abcd1234_1");
        let q = id.connect_query();
        assert_eq!(
            q,
            vec![("e".into(), "0_abcd1234".into()), ("i".into(), "0".into()), ("t".into(), "secret99".into()), ("p".into(), "-5".into())]
        );
    }

    #[test]
    fn encrypted_pass_and_backend_prefix() {
        let id = SrtStreamId::parse("#:::e=eu1-1_zzzz9999,st=1,ep=AbC-_x");
        assert_eq!(id.backend.as_deref(), Some("eu1"));
        assert_eq!(id.entry_id.as_deref(), Some("1_zzzz9999"));
        assert_eq!(id.session_type.as_deref(), Some("1"));
        assert_eq!(id.token(), Some("AbC-_x"));
        assert_eq!(id.stream_name(), "1_zzzz9999_1");
    }

    #[test]
    fn malformed_gives_nothing_to_authenticate_with() {
        for raw in ["", "0_abcd1234", "#!::r=live", "#:::", "#:::st=0,p=x", "#:::e=,p=x"] {
            let id = SrtStreamId::parse(raw);
            assert!(id.connect_query().is_empty(), "{raw}");
        }
        // Missing pieces are left out, not invented.
        let id = SrtStreamId::parse("#:::e=0_abcd1234");
        assert_eq!(id.connect_query(), vec![("e".into(), "0_abcd1234".into()), ("p".into(), "-5".into())]);
    }
}
