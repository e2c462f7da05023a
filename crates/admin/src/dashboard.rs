//! The live dashboard's files, compiled into the binary.
//!
//! Three files (page, style, script) kept apart so each is readable and editable on its
//! own, served from memory with a strict Content-Security-Policy: the page may talk only
//! to the server it came from, so it works air-gapped and nothing can be injected from
//! elsewhere.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::response::{self, Body};

/// One embedded file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 3] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../assets/dashboard.html"),
    },
    Asset {
        path: "/assets/dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/dashboard.css"),
    },
    Asset {
        path: "/assets/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/dashboard.js"),
    },
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The asset served at `path`, if any.
pub(crate) fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The response for an asset.
pub(crate) fn respond(asset: &Asset) -> Response<Body> {
    let mut resp = response::with_type(
        StatusCode::OK,
        asset.content_type,
        Bytes::from_static(asset.body.as_bytes()),
    );
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_fetches_nothing_from_elsewhere() {
        for asset in &ASSETS {
            assert!(
                !asset.body.contains("http://"),
                "{} names an http:// URL",
                asset.path
            );
            assert!(
                !asset.body.contains("https://"),
                "{} names an https:// URL",
                asset.path
            );
        }
        let page = find("/").unwrap().body;
        assert!(page.contains("/assets/dashboard.js"));
        assert!(page.contains("/assets/dashboard.css"));
    }
}
