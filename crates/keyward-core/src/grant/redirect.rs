//! Redirect URIs: which ones a client may register, and whether a request's
//! `redirect_uri` is one of them. OAuth 2.1 §2.3.1 and §4.1.1 require exact
//! string comparison; the one exception is a native app's loopback listener,
//! whose port is chosen at run time (RFC 8252 §7.3). `localhost` counts as
//! loopback here too, because the MCP clients people use (and the MCP
//! authorization spec's examples) register `http://localhost:<port>/...`.

/// Why a URI cannot be registered, or `Ok`.
pub fn check_registered(uri: &str) -> Result<(), &'static str> {
    if uri.contains('#') {
        return Err("must not contain a fragment (RFC 6749 section 3.1.2)");
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("is not an absolute URI");
    };
    if scheme.is_empty()
        || !scheme.as_bytes()[0].is_ascii_alphabetic()
        || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
    {
        return Err("is not an absolute URI");
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => match authority(rest) {
            Some(a) if !a.is_empty() && !a.contains('@') => Ok(()),
            _ => Err("is not an https URL (https://host/path, no user@ part)"),
        },
        "http" => match authority(rest).and_then(loopback_host) {
            Some(_) => Ok(()),
            None => Err(
                "plain http is only for a native app's loopback listener: http://127.0.0.1, http://[::1] or http://localhost",
            ),
        },
        // RFC 8252 §7.1 asks for a reverse-domain private-use scheme, but the
        // MCP clients people use register one-word ones (`cursor://…`), so
        // the rule is the other way round: any scheme but those a browser
        // acts on itself, which would turn the code into script, a document
        // or a request elsewhere.
        s if BROWSER_SCHEMES.contains(&s) => {
            Err("uses a scheme the browser handles itself; use https, a loopback http URL or the app's own scheme")
        }
        _ => Ok(()),
    }
}

/// Schemes a browser or the system resolves without handing the URI to an
/// app: never a redirect target.
const BROWSER_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "about",
    "blob",
    "filesystem",
    "view-source",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
    "sms",
    "intent",
];

/// Whether `uri` is a native app's loopback listener (`http://127.0.0.1`,
/// `http://[::1]` or `http://localhost`, any port).
pub fn is_loopback(uri: &str) -> bool {
    split_loopback(uri).is_some()
}

/// Whether `requested` is one of `registered`.
pub fn matches(registered: &[String], requested: &str) -> bool {
    registered.iter().any(|r| r == requested || loopback_equivalent(r, requested))
}

/// The part after `//` up to the path, if the URI has one.
fn authority(after_scheme: &str) -> Option<&str> {
    let rest = after_scheme.strip_prefix("//")?;
    Some(rest.split(['/', '?']).next().unwrap_or(rest))
}

/// `host[:port]` → the host, when it is a loopback host.
fn loopback_host(authority: &str) -> Option<&str> {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        &authority[..end + 2]
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let port = &authority[host.len()..];
    if !(port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    matches!(host.to_ascii_lowercase().as_str(), "127.0.0.1" | "[::1]" | "localhost").then_some(host)
}

/// Scheme `http`, same loopback host, path and query; the port may differ.
fn loopback_equivalent(registered: &str, requested: &str) -> bool {
    let (Some(r), Some(q)) = (split_loopback(registered), split_loopback(requested)) else { return false };
    r.0.eq_ignore_ascii_case(q.0) && r.1 == q.1
}

/// `http://<loopback host>[:port]<rest>` → (host, rest).
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    let after = uri.strip_prefix("http://")?;
    let auth = authority(&uri["http:".len()..])?;
    let host = loopback_host(auth)?;
    Some((host, &after[auth.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_be_registered() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8080/cb?x=1",
            "http://[::1]:9/cb",
            "http://localhost:3000/oauth/callback",
            "com.example.app:/oauth2redirect",
            "cursor://anysphere.cursor-retrieval/oauth/user_mcp/callback",
        ] {
            assert_eq!(check_registered(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("https://app.example.com/cb#frag", "fragment"),
            ("http://app.example.com/cb", "loopback"),
            ("http://127.0.0.1.evil.com/cb", "loopback"),
            ("http://localhost:x/cb", "loopback"),
            ("javascript:alert(1)", "browser handles"),
            ("JavaScript:alert(1)", "browser handles"),
            ("data:text/html,x", "browser handles"),
            ("file:///etc/passwd", "browser handles"),
            ("vbscript:x", "browser handles"),
            ("https://user@app.example.com/", "https URL"),
            ("/relative", "absolute"),
            ("https://app.example.com/a b", "printable"),
        ] {
            let e = check_registered(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn only_loopback_ports_may_differ() {
        let reg = vec![
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1/callback".to_owned(),
            "http://localhost:3000/cb".to_owned(),
        ];
        assert!(matches(&reg, "https://app.example.com/cb"));
        assert!(!matches(&reg, "https://app.example.com/cb/"));
        assert!(!matches(&reg, "https://app.example.com/cb?x=1"));
        assert!(!matches(&reg, "https://APP.example.com/cb"));
        assert!(!matches(&reg, "https://app.example.com:443/cb"));
        assert!(matches(&reg, "http://127.0.0.1:51234/callback"));
        assert!(matches(&reg, "http://127.0.0.1/callback"));
        assert!(!matches(&reg, "http://127.0.0.1:51234/callback/x"));
        assert!(!matches(&reg, "http://[::1]:51234/callback"));
        assert!(!matches(&reg, "https://127.0.0.1:51234/callback"));
        assert!(matches(&reg, "http://localhost:4000/cb"));
        assert!(!matches(&reg, "http://localhost.evil.com:4000/cb"));
        assert!(!matches(&reg, "http://localhost:4000@evil.com/cb"));
    }
}
