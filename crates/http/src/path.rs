//! The request path that routes match: normalized as servers read it.
//!
//! Servers such as nginx resolve `/x/../admin`, `/./admin`, `//admin` and `/%61dmin` to
//! `/admin` before they look at a path. Routes matching the raw path let such requests
//! past a `path_prefix = "/admin"` route that answers `403` to the very page it guards.
//! So routes see the path with percent-encoded unreserved characters decoded (RFC 3986
//! 6.2.2.2), dot segments removed (5.2.4) and repeated slashes merged, as nginx matches
//! its locations; the server still gets the path as sent (unless a route strips a
//! prefix, which is then stripped from this form).

/// The normalized form of `path`, or `None` when it is already normal (the common case:
/// no `%`, no `//`, no `.` segment, checked without allocating).
pub(crate) fn normalized(path: &str) -> Option<String> {
    if !path.starts_with('/') || !needs_work(path.as_bytes()) {
        return None;
    }
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in decoded.split('/').skip(1) {
        trailing = matches!(seg, "" | "." | "..");
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || segments.is_empty() {
        out.push('/');
    }
    (out != path).then_some(out)
}

fn needs_work(p: &[u8]) -> bool {
    p.contains(&b'%')
        || p.windows(2).any(|w| w == b"//")
        || p.windows(2).enumerate().any(|(i, w)| {
            // A `.` segment: `/.` followed by `/`, `./` or the end.
            w == b"/." && matches!(&p[i + 2..], [] | [b'/', ..] | [b'.'] | [b'.', b'/', ..])
        })
}

/// Decode `%XX` where it stands for an unreserved character (`A-Z a-z 0-9 - . _ ~`);
/// every other escape (`%2F`, `%25`, ...) means something else and stays.
fn decode_unreserved(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    // Only `%XX` became one ASCII byte: what was UTF-8 still is.
    String::from_utf8(out).unwrap_or_else(|_| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn paths_resolve_as_servers_read_them() {
        let n = |p: &str| normalized(p).unwrap_or_else(|| p.to_string());
        assert_eq!(n("/admin"), "/admin");
        assert_eq!(n("/admin/"), "/admin/");
        assert_eq!(n("//admin"), "/admin");
        assert_eq!(n("/x/../admin"), "/admin");
        assert_eq!(n("/./admin"), "/admin");
        assert_eq!(n("/%61dmin"), "/admin");
        assert_eq!(n("/%2e%2e/%2E/admin"), "/admin");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/.."), "/");
        assert_eq!(n("/a/."), "/a/");
        assert_eq!(n("/a%2Fb/%25"), "/a%2Fb/%25");
        assert_eq!(n("/a%"), "/a%");
        assert_eq!(n("/a%6"), "/a%6");
        assert_eq!(n("/.well-known/x"), "/.well-known/x");
        assert_eq!(n("/a..b/..c"), "/a..b/..c");
        assert_eq!(n("/café/../%61"), "/a");
        assert_eq!(n("//café"), "/café");
        assert_eq!(normalized("/plain/path"), None);
        assert_eq!(normalized("/.hidden"), None);
        assert_eq!(normalized("*"), None);
    }
}
