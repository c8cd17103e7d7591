//! The console's HTML: one layout (`assets/layout.html`) filled with each page's title,
//! navigation and content. Every text that comes from the gallery or a request goes through
//! [`esc`].

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use crate::gallery::PersonSummary;
use crate::service::console::Viewer;
use crate::service::error::ApiError;

const LAYOUT: &str = include_str!("assets/layout.html");
const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// Text made safe to put in HTML, in content and in quoted attributes alike.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The layout with its `{{name}}` places filled, in one pass: a value that happens to hold
/// `{{...}}` stays as it is.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The pages in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Live,
    People,
    Visitors,
    Sightings,
    Enroll,
    Keys,
    Audit,
    Settings,
}

/// Each page of the navigation: what it is, its path, its label, and whether only admins see it.
const NAVIGATION: [(Nav, &str, &str, bool); 9] = [
    (Nav::Overview, "/", "Overview", false),
    (Nav::Live, "/live", "Live", false),
    (Nav::People, "/people", "People", false),
    (Nav::Visitors, "/visitors", "Visitors", false),
    (Nav::Sightings, "/sightings", "Sightings", false),
    (Nav::Enroll, "/enroll", "Enroll", true),
    (Nav::Keys, "/keys", "Keys", true),
    (Nav::Audit, "/audit", "Audit", true),
    (Nav::Settings, "/settings", "Settings", false),
];

/// A whole page for `viewer`.
pub(crate) fn page(viewer: &Viewer, current: Nav, title: &str, main: &str) -> Response {
    let nav: String = NAVIGATION
        .iter()
        .filter(|(_, _, _, admin_only)| viewer.admin || !admin_only)
        .map(|(nav, path, label, _)| {
            let here = if *nav == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{path}\"{here}>{label}</a>")
        })
        .collect();
    let who = match (&viewer.key, &viewer.csrf) {
        (Some(key), Some(csrf)) => format!(
            "<span>key <strong>{}</strong> ({})</span>\
             <form method=\"post\" action=\"/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Log out</button></form>",
            esc(key),
            if viewer.admin { "admin" } else { "read only" },
            esc(csrf)
        ),
        _ => "<span class=\"warn\">no keys (--no-auth): anyone on this machine may change the roster</span>"
            .to_owned(),
    };
    let csrf = viewer.csrf.as_deref().map(esc).unwrap_or_default();
    layout(StatusCode::OK, &esc(title), &csrf, &nav, &who, main)
}

/// A page that could not be shown: a client's error in words on a page; a server's failure as
/// the API answers it (its cause logged under the request id it names).
pub(crate) fn failed(viewer: &Viewer, current: Nav, error: ApiError) -> Response {
    if error.status().is_server_error() {
        return error.into_response();
    }
    let mut response = page(
        viewer,
        current,
        "Not shown",
        &format!(
            "<p class=\"problem\" role=\"alert\">{}</p>",
            esc(error.message())
        ),
    );
    *response.status_mut() = error.status();
    response
}

/// A page only admins may see, for a viewer who may only read: why, with a 403.
pub(crate) fn not_allowed(viewer: &Viewer, current: Nav, title: &str) -> Response {
    let mut response = page(
        viewer,
        current,
        title,
        "<p class=\"problem\" role=\"alert\">This page is for admin keys: yours may look, not \
         change. Log in with a key of the scope admin to use it.</p>",
    );
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// The login page, with what went wrong with the last try.
pub(crate) fn login(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| {
            format!(
                "<p class=\"problem\" role=\"alert\" id=\"problem\">{}</p>",
                esc(p)
            )
        })
        .unwrap_or_default();
    let main = format!(
        "{problem}<form method=\"post\" action=\"/login\" class=\"login\">\
           <label for=\"key\">API key</label>\
           <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"off\" required autofocus \
                  aria-describedby=\"key-help\">\
           <button type=\"submit\">Log in</button>\
         </form>\
         <p id=\"key-help\">Paste a key once; the console remembers it for this browser until \
         you log out or the session expires. An <strong>admin</strong> key sees and changes \
         everything, a <strong>read</strong> key only sees. Make one on the server with \
         <code>whoisit keys create --name NAME --scope admin</code>.</p>"
    );
    layout(status, "Log in", "", "", "", &main)
}

/// The layout filled: every value but `main` already escaped.
fn layout(
    status: StatusCode,
    title: &str,
    csrf: &str,
    nav: &str,
    who: &str,
    main: &str,
) -> Response {
    html(
        status,
        &fill(
            LAYOUT,
            &[
                ("title", title),
                ("csrf", csrf),
                ("nav", nav),
                ("who", who),
                ("main", main),
                ("assets", assets_version()),
            ],
        ),
    )
}

/// The style sheet's and the script's version, in their addresses: a browser keeps them
/// (they hold nobody's data) until another whoisit serves others.
fn assets_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let digest = Sha256::new()
            .chain_update(STYLE)
            .chain_update(SCRIPT)
            .finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// The names an admin may pick somebody enrolled by: the browser's own list `id`, searchable
/// by typing; each option carries the person's id and faces for the script.
pub(crate) fn people_list(id: &str, people: &[&PersonSummary]) -> String {
    let options: String = people
        .iter()
        .map(|p| {
            format!(
                "<option value=\"{name}\" data-id=\"{id}\" data-faces=\"{faces}\"></option>",
                name = esc(&p.name),
                id = p.id.0,
                faces = p.faces
            )
        })
        .collect();
    format!("<datalist id=\"{id}\">{options}</datalist>")
}

fn html(status: StatusCode, body: &str) -> Response {
    (status, Html(body.to_owned())).into_response()
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

/// The style sheet.
pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// The script.
pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_placeholders_are_filled_once() {
        assert_eq!(
            esc("<b a=\"x\">Tom & 'Jerry'</b>"),
            "&lt;b a=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
        assert_eq!(
            fill(
                "<h1>{{title}}</h1>{{main}}{{unknown}}",
                &[("title", "{{main}}"), ("main", "M")]
            ),
            "<h1>{{main}}</h1>M{{unknown}}"
        );
        assert_eq!(fill("a {{open", &[]), "a {{open");
    }
}
