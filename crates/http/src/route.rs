//! Routes compiled once per configuration, and the first-match-wins lookup.
//!
//! [`RouteTable::build`] turns the validated `[[listener.route]]` list into matchers with
//! parsed header names, methods and statuses, a pre-split redirect template and the
//! pool's index, so [`RouteTable::select`] does no parsing, no regex compilation and no
//! allocation per request.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use switchyard_config as config;

use crate::parse;

/// The compiled routes of one listener.
#[derive(Debug)]
pub(crate) struct RouteTable {
    routes: Vec<Route>,
}

/// One compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    /// The route's index in the file, as logged (`"0"`, `"1"`, …).
    pub name: Arc<str>,
    host: Option<config::HostMatch>,
    path: Option<config::PathMatch>,
    methods: Vec<Method>,
    headers: Vec<(HeaderName, String)>,
    cookies: Vec<(String, String)>,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    pub action: Action,
}

/// What a matching route does.
#[derive(Debug)]
pub(crate) enum Action {
    Forward(Forward),
    Redirect {
        template: Vec<Piece>,
        status: StatusCode,
    },
    Respond {
        status: StatusCode,
        body: Bytes,
    },
}

/// Forwarding to a pool, with rewrites.
#[derive(Debug)]
pub(crate) struct Forward {
    /// Index into the state's targets.
    pub target: usize,
    /// The `path_prefix` to strip, when `strip_prefix = true`.
    pub strip_prefix: Option<Box<str>>,
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    pub remove_headers: Vec<HeaderName>,
}

/// A piece of a redirect template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(Box<str>),
    Scheme,
    Host,
    /// Path with query.
    Path,
    Query,
}

/// What routing looks at in a request.
pub(crate) struct RequestView<'a> {
    pub method: &'a Method,
    pub host: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// Why a route could not be compiled.
#[derive(Debug)]
pub(crate) struct RouteError {
    pub route: usize,
    pub what: String,
}

// === impl RouteTable ===

impl RouteTable {
    /// Compile `routes`; `target_of` maps a pool name to its index in the state.
    pub fn build(
        routes: &[config::Route],
        mut target_of: impl FnMut(&str) -> usize,
    ) -> Result<Self, RouteError> {
        let mut out = Vec::with_capacity(routes.len());
        for (i, r) in routes.iter().enumerate() {
            out.push(Route::build(i, r, &mut target_of)?);
        }
        Ok(RouteTable { routes: out })
    }

    /// The first route that matches.
    pub fn select(&self, req: &RequestView<'_>) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(req))
    }
}

// === impl Route ===

impl Route {
    fn build(
        index: usize,
        r: &config::Route,
        target_of: &mut impl FnMut(&str) -> usize,
    ) -> Result<Self, RouteError> {
        let err = |what: String| RouteError { route: index, what };
        let m = &r.matchers;
        let methods = m
            .methods
            .iter()
            .map(|s| Method::from_bytes(s.as_bytes()).map_err(|_| err(format!("method {s}"))))
            .collect::<Result<_, _>>()?;
        let headers = m
            .headers
            .iter()
            .map(|(n, v)| Ok((header_name(n).map_err(&err)?, v.clone())))
            .collect::<Result<_, _>>()?;
        let action = match &r.action {
            config::RouteAction::Forward {
                pool,
                strip_prefix,
                set_headers,
                remove_headers,
            } => {
                let prefix = match (&m.path, strip_prefix) {
                    (Some(config::PathMatch::Prefix(p)), true) => Some(p.as_str().into()),
                    _ => None,
                };
                let set_headers = set_headers
                    .iter()
                    .map(|(n, v)| {
                        let value = HeaderValue::from_str(v)
                            .map_err(|_| err(format!("value for {n}: {v:?}")))?;
                        Ok((header_name(n).map_err(&err)?, value))
                    })
                    .collect::<Result<_, _>>()?;
                let remove_headers = remove_headers
                    .iter()
                    .map(|n| header_name(n).map_err(&err))
                    .collect::<Result<_, _>>()?;
                Action::Forward(Forward {
                    target: target_of(pool),
                    strip_prefix: prefix,
                    set_headers,
                    remove_headers,
                })
            }
            config::RouteAction::Redirect { template, status } => Action::Redirect {
                template: parse_template(template),
                status: status_code(*status).map_err(&err)?,
            },
            config::RouteAction::Respond { status, body } => Action::Respond {
                status: status_code(*status).map_err(&err)?,
                body: Bytes::from(body.clone()),
            },
        };
        Ok(Route {
            name: index.to_string().into(),
            host: m.host.clone(),
            path: m.path.clone(),
            methods,
            headers,
            cookies: m.cookies.clone(),
            query: m.query.clone(),
            content_type: m.content_type.as_ref().map(|c| c.to_ascii_lowercase()),
            action,
        })
    }

    fn matches(&self, req: &RequestView<'_>) -> bool {
        if let Some(host) = &self.host {
            if !req.host.is_some_and(|h| host.matches(h)) {
                return false;
            }
        }
        if let Some(path) = &self.path {
            if !path.matches(req.path) {
                return false;
            }
        }
        if !self.methods.is_empty() && !self.methods.contains(req.method) {
            return false;
        }
        let header_ok = |(name, want): &(HeaderName, String)| {
            req.headers
                .get_all(name)
                .iter()
                .any(|v| v.as_bytes() == want.as_bytes())
        };
        if !self.headers.iter().all(header_ok) {
            return false;
        }
        let cookie_ok = |(n, v): &(String, String)| parse::cookie(req.headers, n) == Some(v);
        if !self.cookies.iter().all(cookie_ok) {
            return false;
        }
        let query = req.query.unwrap_or("");
        if !self
            .query
            .iter()
            .all(|(n, v)| parse::query_has(query, n, v))
        {
            return false;
        }
        if let Some(want) = &self.content_type {
            let got = req
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim());
            if !got.is_some_and(|g| g.eq_ignore_ascii_case(want)) {
                return false;
            }
        }
        true
    }
}

/// Render a redirect location.
pub(crate) fn render(template: &[Piece], scheme: &str, host: &str, pq: &str, q: &str) -> String {
    let mut out = String::with_capacity(64);
    for piece in template {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Scheme => out.push_str(scheme),
            // The host comes without its port; an IPv6 literal needs its brackets back
            // to make a URL (`https://[2001:db8::1]/`, not `https://2001:db8::1/`).
            Piece::Host if host.contains(':') => {
                out.push('[');
                out.push_str(host);
                out.push(']');
            }
            Piece::Host => out.push_str(host),
            Piece::Path => out.push_str(pq),
            Piece::Query => out.push_str(q),
        }
    }
    out
}

/// Split `https://{host}{path}` into pieces; unknown `{...}` stays literal text.
pub(crate) fn parse_template(t: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        text.push_str(&rest[..start]);
        let after = &rest[start..];
        let piece = [
            ("{scheme}", Piece::Scheme),
            ("{host}", Piece::Host),
            ("{path}", Piece::Path),
            ("{query}", Piece::Query),
        ]
        .into_iter()
        .find(|(k, _)| after.starts_with(k));
        match piece {
            Some((k, p)) => {
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text).into()));
                }
                out.push(p);
                rest = &after[k.len()..];
            }
            None => {
                text.push('{');
                rest = &after[1..];
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text.into()));
    }
    out
}

fn header_name(n: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("name {n:?}"))
}

fn status_code(s: u16) -> Result<StatusCode, String> {
    StatusCode::from_u16(s).map_err(|_| format!("status {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_placeholders_and_text() {
        let t = parse_template("https://{host}{path}?x={query}{odd}");
        assert_eq!(
            render(&t, "http", "a.test", "/p?q=1", "q=1"),
            "https://a.test/p?q=1?x=q=1{odd}"
        );
        assert_eq!(parse_template("{scheme}"), vec![Piece::Scheme]);
    }
}
