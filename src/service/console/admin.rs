//! The console's pages for admins: API keys (make one, shown once; revoke) and the audit
//! trail.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use crate::base::time::format_time;
use crate::service::console::Viewer;
use crate::service::console::pages::{self, Nav, esc};
use crate::service::state::AppState;

/// The newest audit entries the page shows; `whoisit audit` and `GET /v1/audit` have them all.
const AUDIT_SHOWN: usize = 500;

/// Every key, a form to make one, and a button to revoke each.
pub(crate) async fn keys(State(state): State<Arc<AppState>>, viewer: Viewer) -> Response {
    if !viewer.admin {
        return pages::not_allowed(&viewer, Nav::Keys, "Keys");
    }
    let keys = match state.gallery(|g| g.keys()).await {
        Ok(keys) => keys,
        Err(e) => return pages::failed(&viewer, Nav::Keys, e),
    };
    let rows: String = keys
        .iter()
        .map(|k| {
            let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
            let yours = if viewer.key.as_deref() == Some(k.name.as_str()) {
                " (this session's)"
            } else {
                ""
            };
            format!(
                "<tr><td>{name}{yours}</td><td>{scopes}</td><td>{created}</td><td>\
                 <button type=\"button\" class=\"danger\" data-click=\"revoke\" data-key=\"{name}\" \
                 data-confirm=\"Revoke the key {name}? Whatever uses it is refused from its next \
                 request on, on every server of this gallery.\" aria-label=\"Revoke {name}\">\
                 Revoke</button></td></tr>",
                name = esc(&k.name),
                scopes = scopes.join(", "),
                created = format_time(k.created),
            )
        })
        .collect();
    let main = format!(
        "<p id=\"status\" tabindex=\"-1\" role=\"status\" hidden></p>\
         <h2>Make a key</h2>\
         <form data-action=\"createKey\" class=\"inline\">\
           <label for=\"key-name\">Name</label>\
           <input id=\"key-name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9._-]+\" \
           title=\"letters, digits, - _ .\" autocomplete=\"off\">\
           <label for=\"key-scope\">Scope</label>\
           <select id=\"key-scope\" name=\"scope\">\
             <option value=\"recognize\">recognize: send photos</option>\
             <option value=\"read\">read: look, change nothing</option>\
             <option value=\"admin\">admin: everything</option></select>\
           <button type=\"submit\">Make the key</button></form>\
         <div id=\"new-key\" class=\"done\" hidden><label for=\"secret\">The new key, shown only \
         now:</label> <input id=\"secret\" readonly size=\"50\"></div>\
         <h2>Keys</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Name</th>\
         <th scope=\"col\">Scopes</th><th scope=\"col\">Made (UTC)</th><th scope=\"col\">\
         <span class=\"hidden\">Revoke</span></th></tr></thead><tbody>{rows}</tbody></table></div>"
    );
    pages::page(&viewer, Nav::Keys, "Keys", &main)
}

/// The newest changes first: who changed what.
pub(crate) async fn audit(State(state): State<Arc<AppState>>, viewer: Viewer) -> Response {
    if !viewer.admin {
        return pages::not_allowed(&viewer, Nav::Audit, "Audit");
    }
    let entries = match state.gallery(|g| g.audit(0)).await {
        Ok(entries) => entries,
        Err(e) => return pages::failed(&viewer, Nav::Audit, e),
    };
    let rows: String = entries
        .iter()
        .rev()
        .take(AUDIT_SHOWN)
        .map(|e| {
            format!(
                "<tr><td>{at}</td><td>{actor}</td><td>{action}</td><td>{detail}</td></tr>",
                at = format_time(e.at),
                actor = esc(&e.actor),
                action = esc(&e.action),
                detail = esc(&e.detail),
            )
        })
        .collect();
    let main = format!(
        "<p>{shown} of {total} entries, newest first. Entries name people by id, never by name.</p>\
         <div class=\"scroll\"><table><thead><tr><th scope=\"col\">When (UTC)</th>\
         <th scope=\"col\">Who</th><th scope=\"col\">What</th><th scope=\"col\">Detail</th></tr>\
         </thead><tbody>{rows}</tbody></table></div>",
        shown = entries.len().min(AUDIT_SHOWN),
        total = entries.len(),
    );
    pages::page(&viewer, Nav::Audit, "Audit", &main)
}
