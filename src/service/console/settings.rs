//! The console's Settings page: the global threshold, with a preview of what another one would
//! change on the stored sightings before an admin applies it to every server of the gallery,
//! and the retention of sightings with what the next purge forgets. A read key sees the
//! preview; only an admin key gets the button (and the API refuses anyone else's change).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::roster::preview::{Change, Preview};
use crate::service::console::Viewer;
use crate::service::console::pages::{self, Nav, esc};
use crate::service::error::ApiError;
use crate::service::routes::settings::{SettingsBody, preview, settings};
use crate::service::state::AppState;
use crate::vision::matcher::threshold_from;

/// The sightings of each kind of change the page shows; the counts cover them all.
const EXAMPLES: usize = 8;

/// The preview form, as the browser sends it: text, so that what is not a number gets a
/// sentence rather than a refusal of the whole request.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Asked {
    #[serde(default)]
    threshold: String,
}

/// `threshold` as a number, or what is wrong with it.
fn parse(threshold: &str) -> Result<f32, ApiError> {
    let sent = threshold
        .trim()
        .replace(',', ".")
        .parse::<f64>()
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{:?} is not a number: give the threshold as a distance such as 0.50",
                threshold.trim()
            ))
        })?;
    threshold_from(sent)
        .map_err(|problem| ApiError::bad_request(format!("the threshold {problem}")))
}

/// The page: the threshold in force and where it comes from, the preview asked for (if any),
/// and the retention.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Query(asked): Query<Asked>,
) -> Response {
    let settings = match settings(&state).await {
        Ok(settings) => settings,
        Err(e) => return pages::failed(&viewer, Nav::Settings, e),
    };
    let mut status = StatusCode::OK;
    let tried = asked.threshold.trim();
    let previewed = if tried.is_empty() {
        String::new()
    } else {
        let answer = match parse(tried) {
            Ok(threshold) => preview(&state, threshold, viewer.actor()).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(preview) => shown(&viewer, &preview),
            Err(e) if e.status().is_client_error() => {
                status = e.status();
                format!(
                    "<p class=\"problem\" role=\"alert\" id=\"problem\">{}</p>",
                    esc(e.message())
                )
            }
            Err(e) => return pages::failed(&viewer, Nav::Settings, e),
        }
    };
    let value = if tried.is_empty() {
        format!("{:.2}", settings.threshold.threshold)
    } else {
        esc(tried)
    };
    let main = format!(
        "<p id=\"status\" tabindex=\"-1\" role=\"status\" hidden></p>\
         <h2>Threshold</h2>{origin}\
         <form method=\"get\" action=\"/settings\" class=\"inline\">\
           <label for=\"threshold\">Try a threshold</label>\
           <input id=\"threshold\" name=\"threshold\" type=\"number\" step=\"0.01\" min=\"0.01\" \
           max=\"2\" required value=\"{value}\" aria-describedby=\"threshold-help\">\
           <button type=\"submit\">Preview</button></form>\
         <p id=\"threshold-help\" class=\"small\">A face farther than the threshold from everyone \
         enrolled is unknown: lower is stricter (fewer strangers taken for someone, more people \
         missed). The preview decides the newest stored sightings again with the people, own \
         thresholds and corrections in use, before anything changes.</p>\
         {previewed}{retention}",
        origin = origin(&viewer, &settings),
        retention = retention(&settings),
    );
    let mut response = pages::page(&viewer, Nav::Settings, "Settings", &main);
    *response.status_mut() = status;
    response
}

/// Which threshold is in force and why, with the button back to the config's for admins.
fn origin(viewer: &Viewer, settings: &SettingsBody) -> String {
    let t = &settings.threshold;
    let source = match t.site_threshold {
        Some(_) => format!(
            "the site threshold stored in the gallery for <code>{}</code>, which every server \
             of the gallery follows; the config's is {:.2}",
            esc(&t.embedder),
            t.config_threshold
        ),
        None => format!(
            "the config's <code>threshold</code>; no site threshold is stored for <code>{}</code>",
            esc(&t.embedder)
        ),
    };
    let pinned = match t.pinned_threshold {
        Some(pinned) => format!(
            "<p class=\"problem\">This server was started with <code>--threshold {pinned:.2}</code>, \
             which overrules the site threshold here: a threshold applied below reaches the \
             other servers, not this one.</p>"
        ),
        None => String::new(),
    };
    let back = if viewer.admin && t.site_threshold.is_some() {
        format!(
            "<form data-action=\"applyThreshold\" data-threshold=\"\" class=\"inline\">\
             <button type=\"submit\" class=\"secondary\">Go back to the config's {:.2}</button></form>",
            t.config_threshold
        )
    } else {
        String::new()
    };
    format!(
        "<p>This server matches with <strong id=\"in-force\">{:.2}</strong>: {source}.</p>{pinned}{back}",
        t.threshold
    )
}

/// The preview's counts in words, a few examples of each change, and (for admins) the button
/// that applies the threshold.
fn shown(viewer: &Viewer, preview: &Preview) -> String {
    let at = format!("{:.2}", preview.threshold);
    if preview.sightings == 0 {
        return format!(
            "<section id=\"preview\" aria-label=\"Preview\"><h2>At {at}</h2><p>No stored sighting \
             keeps its face to decide again (sightings keep it while \
             <code>sightings.keep_unknown_faces</code> is on, for \
             <code>sightings.unknown_face_days</code>).</p>{apply}</section>",
            apply = apply(viewer, preview)
        );
    }
    let examples = |title: &str, id: &str, changes: &[Change]| {
        if changes.is_empty() {
            return String::new();
        }
        let items: String = changes
            .iter()
            .take(EXAMPLES)
            .map(|c| example(viewer, c))
            .collect();
        format!(
            "<h3>{title}</h3><ul class=\"crops changes\" id=\"{id}\">{items}</ul>{more}",
            more = if changes.len() > EXAMPLES {
                format!(
                    "<p class=\"small\">and {} more.</p>",
                    changes.len() - EXAMPLES
                )
            } else {
                String::new()
            }
        )
    };
    format!(
        "<section id=\"preview\" aria-label=\"Preview\"><h2>At {at}</h2>\
         <p id=\"counts\">Of the last {total} sightings that keep their face ({named} named and \
         {unknown} unknown at {current:.2}): at {at}, <strong>{lost} named would become \
         unknown</strong> and <strong>{gained} unknown would be named</strong>.</p>\
         {to_unknown}{to_named}{apply}</section>",
        total = preview.sightings,
        named = preview.named,
        unknown = preview.unknown,
        current = preview.current,
        lost = preview.become_unknown.len(),
        gained = preview.become_named.len(),
        to_unknown = examples(
            "Named now, unknown then",
            "become-unknown",
            &preview.become_unknown
        ),
        to_named = examples(
            "Unknown now, named then",
            "become-named",
            &preview.become_named
        ),
        apply = apply(viewer, preview),
    )
}

/// One sighting that would change: its crop when it keeps one (admins only, as on the
/// Sightings page), who and how far.
fn example(viewer: &Viewer, change: &Change) -> String {
    let id = change.sighting.0;
    let face = if change.has_crop && viewer.admin {
        format!(
            "<img src=\"/sightings/{id}/crop\" alt=\"The face of sighting {id}\" width=\"96\" \
             height=\"96\">"
        )
    } else {
        format!("<span class=\"noface\">sighting {id}</span>")
    };
    let distance = change
        .distance
        .map(|d| format!(", {d:.2}"))
        .unwrap_or_default();
    format!(
        "<li class=\"face\">{face}<span>{name}{distance}</span></li>",
        name = esc(&change.person)
    )
}

/// The button that applies the threshold previewed, for admins; a read key is told why there
/// is none.
fn apply(viewer: &Viewer, preview: &Preview) -> String {
    if !viewer.admin {
        return "<p class=\"small\">Applying a threshold needs an admin key.</p>".to_owned();
    }
    format!(
        "<form data-action=\"applyThreshold\" data-threshold=\"{t}\" class=\"inline\">\
         <button type=\"submit\" id=\"apply\">Apply {t:.2} on every server of this gallery</button>\
         </form>",
        t = preview.threshold
    )
}

/// How long sightings are kept, what the next purge forgets, and where to change it.
fn retention(settings: &SettingsBody) -> String {
    let r = &settings.retention;
    format!(
        "<h2>Retention</h2>\
         <dl class=\"facts\" id=\"retention\">\
           <dt>Sightings kept</dt><dd>{days} days</dd>\
           <dt>Unknown faces' crops and embeddings kept</dt><dd>{faces} days</dd>\
           <dt>The next purge (hourly) forgets</dt><dd>{purged} sighting(s), {crops} face(s) \
           of sightings it keeps, {seen} last-seen time(s)</dd></dl>\
         <p class=\"small\">Change them with <code>retention_days</code> and \
         <code>sightings.unknown_face_days</code> in the config file (config/default.ron \
         says what each means), then start the server again.</p>",
        days = r.retention_days,
        faces = r.unknown_face_days,
        purged = r.purge_sightings,
        crops = r.purge_unknown_faces,
        seen = r.purge_last_seen,
    )
}
