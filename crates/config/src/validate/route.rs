//! `[[listener.route]]`: HTTP matchers and actions, and SNI routes of tls listeners.

use std::collections::BTreeMap;

use regex::Regex;

use crate::error::Ctx;
use crate::model::{HostMatch, Matchers, PathMatch, Route, RouteAction, SniRoute};
use crate::raw::{RawRespond, RawRoute, Str, StrMap, S};

use super::pool::is_token;
use super::{not_here, values, Refs};

const REDIRECT_STATUSES: [i64; 5] = [301, 302, 303, 307, 308];
const PLACEHOLDERS: [&str; 4] = ["scheme", "host", "path", "query"];

/// Routes of an http/https listener.
pub(crate) fn routes(
    cx: &mut Ctx,
    raw: &[S<RawRoute>],
    default_pool: Option<&str>,
    refs: &Refs,
) -> Vec<Route> {
    raw.iter()
        .map(|r| {
            let matchers = matchers(cx, r.get_ref());
            let action = action(cx, r, default_pool, refs);
            Route { matchers, action }
        })
        .collect()
}

/// Routes of a tls (passthrough) listener: `sni` and `pool` only.
pub(crate) fn sni_routes(cx: &mut Ctx, raw: &[S<RawRoute>], refs: &Refs) -> Vec<SniRoute> {
    let mut out = Vec::new();
    for r in raw {
        let route = r.get_ref();
        let why = "does not apply to tls (passthrough) routes, which see only the SNI name";
        not_here(cx, &route.host, "host", why);
        not_here(cx, &route.path, "path", why);
        not_here(cx, &route.path_prefix, "path_prefix", why);
        not_here(cx, &route.path_regex, "path_regex", why);
        not_here(cx, &route.method, "method", why);
        not_here(cx, &route.header, "header", why);
        not_here(cx, &route.cookie, "cookie", why);
        not_here(cx, &route.query, "query", why);
        not_here(cx, &route.content_type, "content_type", why);
        not_here(cx, &route.redirect, "redirect", why);
        not_here(cx, &route.redirect_status, "redirect_status", why);
        not_here(cx, &route.respond, "respond", why);
        not_here(cx, &route.strip_prefix, "strip_prefix", why);
        not_here(cx, &route.set_headers, "set_headers", why);
        not_here(cx, &route.remove_headers, "remove_headers", why);
        let (Some(sni), Some(pool)) = (&route.sni, &route.pool) else {
            cx.error_hint(
                r.span(),
                "a tls route needs sni and pool",
                "sni = \"*.example.com\", pool = \"NAME\"",
            );
            continue;
        };
        let pool = refs.pool(cx, pool, "route");
        if let Some(sni) = host(cx, sni, "sni") {
            out.push(SniRoute { sni, pool });
        }
    }
    out
}

fn host(cx: &mut Ctx, v: &Str, key: &str) -> Option<HostMatch> {
    let m = HostMatch::parse(v.get_ref());
    if m.is_none() {
        cx.error_hint(
            v.span(),
            format!("invalid {key} pattern \"{}\"", v.get_ref()),
            "use a host name (\"api.example.com\") or a wildcard (\"*.example.com\")",
        );
    }
    m
}

fn matchers(cx: &mut Ctx, r: &RawRoute) -> Matchers {
    not_here(
        cx,
        &r.sni,
        "sni",
        "applies only to tls listener routes; use host for http",
    );
    let paths: Vec<&Str> = [&r.path, &r.path_prefix, &r.path_regex]
        .into_iter()
        .flatten()
        .collect();
    if let Some(second) = paths.get(1) {
        cx.error(
            second.span(),
            "a route takes only one of path, path_prefix, path_regex",
        );
    }
    let path = path(cx, r);
    let methods = r.method.as_ref().map_or_else(Vec::new, |m| {
        if m.get_ref().0.is_empty() {
            cx.error(
                m.span(),
                "method list is empty; remove it to match any method",
            );
        }
        m.get_ref()
            .0
            .iter()
            .map(|s| {
                if !s.bytes().all(|b| b.is_ascii_alphabetic()) || s.is_empty() {
                    cx.error(m.span(), format!("invalid method \"{s}\""));
                }
                s.to_ascii_uppercase()
            })
            .collect()
    });
    let content_type = r.content_type.as_ref().map(|c| {
        if !c.get_ref().contains('/') {
            cx.error_hint(
                c.span(),
                format!("invalid content_type \"{}\"", c.get_ref()),
                "use a media type like \"application/json\"",
            );
        }
        c.get_ref().trim().to_ascii_lowercase()
    });
    Matchers {
        host: r.host.as_ref().and_then(|h| host(cx, h, "host")),
        path,
        methods,
        headers: pairs(cx, &r.header, "header", true),
        cookies: pairs(cx, &r.cookie, "cookie", false),
        query: pairs(cx, &r.query, "query", false),
        content_type,
    }
}

fn path(cx: &mut Ctx, r: &RawRoute) -> Option<PathMatch> {
    let slash = |cx: &mut Ctx, v: &Str, key: &str| {
        if !v.get_ref().starts_with('/') {
            cx.error(
                v.span(),
                format!("{key} \"{}\" must start with '/'", v.get_ref()),
            );
        }
        v.get_ref().clone()
    };
    if let Some(p) = &r.path {
        return Some(PathMatch::Exact(slash(cx, p, "path")));
    }
    if let Some(p) = &r.path_prefix {
        return Some(PathMatch::Prefix(slash(cx, p, "path_prefix")));
    }
    let p = r.path_regex.as_ref()?;
    match Regex::new(p.get_ref()) {
        Ok(re) => Some(PathMatch::Regex(re)),
        Err(e) => {
            let detail = e.to_string();
            let last = detail
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .trim_start_matches("error: ");
            cx.error(
                p.span(),
                format!("invalid path_regex \"{}\": {last}", p.get_ref()),
            );
            None
        }
    }
}

/// `{ name = value }` tables; header names must be tokens and are lowercased.
fn pairs(cx: &mut Ctx, v: &Option<StrMap>, key: &str, header: bool) -> Vec<(String, String)> {
    let Some(v) = v else { return Vec::new() };
    let map: &BTreeMap<String, String> = v.get_ref();
    map.iter()
        .map(|(k, val)| {
            if header && !is_token(k) {
                cx.error(v.span(), format!("invalid {key} name \"{k}\""));
            }
            if k.is_empty() {
                cx.error(v.span(), format!("empty {key} name"));
            }
            let k = if header {
                k.to_ascii_lowercase()
            } else {
                k.clone()
            };
            (k, val.clone())
        })
        .collect()
}

fn action(cx: &mut Ctx, r: &S<RawRoute>, default_pool: Option<&str>, refs: &Refs) -> RouteAction {
    let raw = r.get_ref();
    let acts: Vec<(&str, std::ops::Range<usize>)> = [
        raw.pool.as_ref().map(|v| ("pool", v.span())),
        raw.redirect.as_ref().map(|v| ("redirect", v.span())),
        raw.respond.as_ref().map(|v| ("respond", v.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if acts.len() > 1 {
        cx.error_hint(
            &acts[1].1,
            format!(
                "a route takes only one of pool, redirect, respond (it has {} and {})",
                acts[0].0, acts[1].0
            ),
            "split it into two routes",
        );
    }
    // A route without pool forwards to the listener's default pool: it may rewrite too.
    if raw.redirect.is_some() || raw.respond.is_some() {
        let why = "applies only to routes that forward to a pool";
        not_here(cx, &raw.strip_prefix, "strip_prefix", why);
        not_here(cx, &raw.set_headers, "set_headers", why);
        not_here(cx, &raw.remove_headers, "remove_headers", why);
    }
    if raw.redirect.is_none() {
        not_here(
            cx,
            &raw.redirect_status,
            "redirect_status",
            "applies only to routes with redirect",
        );
    }
    if let Some(t) = &raw.redirect {
        return redirect(cx, t, &raw.redirect_status);
    }
    if let Some(resp) = &raw.respond {
        return respond(cx, resp);
    }
    let pool = match (&raw.pool, default_pool) {
        (Some(p), _) => refs.pool(cx, p, "route"),
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            cx.error_hint(
                r.span(),
                "route has no pool, redirect or respond, and its listener has no default pool",
                "add pool = \"NAME\" to the route or to the listener",
            );
            String::new()
        }
    };
    forward(cx, raw, pool)
}

/// `respond`: a final status (a `1xx` is not an answer: a client would wait for the real
/// one, or switch protocols on a `101`), and no body where HTTP allows none (a client
/// would read it as the start of the next response).
fn respond(cx: &mut Ctx, resp: &S<RawRespond>) -> RouteAction {
    let r = resp.get_ref();
    let status = *r.status.get_ref();
    let status = if (100..=199).contains(&status) {
        cx.error_hint(
            r.status.span(),
            format!("respond status {status} is informational, not an answer"),
            "use a final status, 200..=599",
        );
        200
    } else {
        values::int_in(cx, &r.status, "respond status", 200..=599).unwrap_or(200)
    };
    if matches!(status, 204 | 205 | 304) && !r.body.is_empty() {
        cx.error_hint(
            r.status.span(),
            format!("a {status} answer has no body, but respond has one"),
            "remove body, or use another status",
        );
    }
    RouteAction::Respond {
        status: status as u16,
        body: r.body.clone(),
    }
}

/// Request fields a route may not set or remove: message framing and hop-by-hop fields.
const PROXY_OWNED: [&str; 8] = [
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn forward(cx: &mut Ctx, raw: &RawRoute, pool: String) -> RouteAction {
    let strip_prefix = raw.strip_prefix.as_ref().is_some_and(|s| *s.get_ref());
    if let (Some(s), true, None) = (&raw.strip_prefix, strip_prefix, &raw.path_prefix) {
        cx.error(s.span(), "strip_prefix needs a path_prefix to strip");
    }
    let remove_headers = raw.remove_headers.as_ref().map_or_else(Vec::new, |list| {
        list.get_ref()
            .iter()
            .map(|h| {
                if !is_token(h.get_ref()) {
                    cx.error(h.span(), format!("invalid header name \"{}\"", h.get_ref()));
                }
                h.get_ref().to_ascii_lowercase()
            })
            .collect()
    });
    let set_headers = pairs(cx, &raw.set_headers, "set_headers", true);
    // Framing and connection fields are the proxy's own: a set `Content-Length` or
    // `Transfer-Encoding` left the server waiting for a body that never came, a removed
    // one left the body on the connection to be read as the next request.
    let own = |cx: &mut Ctx, key: &str, name: &str, span: std::ops::Range<usize>| {
        if PROXY_OWNED.contains(&name) {
            cx.error_hint(
                span,
                format!("{key} cannot name \"{name}\": switchyard sets it for each connection"),
                format!("remove \"{name}\" from {key}"),
            );
        }
    };
    if let Some(v) = &raw.set_headers {
        for (name, _) in &set_headers {
            own(cx, "set_headers", name, v.span());
        }
    }
    if let Some(list) = &raw.remove_headers {
        for h in list.get_ref() {
            own(
                cx,
                "remove_headers",
                &h.get_ref().to_ascii_lowercase(),
                h.span(),
            );
        }
    }
    // What the proxy can send as a field value (it refused to start with others).
    let field_char = |c: char| c == '\t' || (' '..='~').contains(&c);
    for (name, value) in &set_headers {
        if let (Some(v), false) = (&raw.set_headers, value.chars().all(field_char)) {
            cx.error_hint(
                v.span(),
                format!("set_headers value for \"{name}\" has a character a header cannot carry: {value:?}"),
                "use printable ASCII (percent-encode anything else)",
            );
        }
    }
    RouteAction::Forward {
        pool,
        strip_prefix,
        set_headers,
        remove_headers,
    }
}

fn redirect(cx: &mut Ctx, t: &Str, status: &Option<S<i64>>) -> RouteAction {
    let template = t.get_ref();
    if template.is_empty() {
        cx.error(t.span(), "redirect is empty");
    }
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            cx.error(
                t.span(),
                format!("unclosed '{{' in redirect \"{template}\""),
            );
            break;
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            cx.error_hint(
                t.span(),
                format!("unknown placeholder {{{name}}} in redirect \"{template}\""),
                "placeholders are {scheme}, {host}, {path}, {query}",
            );
        }
        rest = &after[close + 1..];
    }
    let status = match status {
        Some(s) if !REDIRECT_STATUSES.contains(s.get_ref()) => {
            cx.error(
                s.span(),
                format!(
                    "redirect_status {} is not a redirect; use 301, 302, 303, 307 or 308",
                    s.get_ref()
                ),
            );
            308
        }
        Some(s) => *s.get_ref() as u16,
        None => 308,
    };
    RouteAction::Redirect {
        template: template.clone(),
        status,
    }
}
