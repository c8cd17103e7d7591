//! The console's Visitors page: the unknown faces the cameras keep seeing, grouped by who they
//! are, each group with its crops (for admin keys: they are faces nobody consented to
//! enroll), when and where it was seen, and (for admins) what can be done with it: enroll it
//! as a new person, add it to somebody enrolled, or dismiss it. The changes go through the
//! API (`/v1/visitors/...`) from the console's script.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use crate::base::time::format_time;
use crate::gallery::Visitor;
use crate::service::console::Viewer;
use crate::service::console::pages::{self, Nav, esc};
use crate::service::routes::visitors::SAMPLES;
use crate::service::state::AppState;

/// A group's crops on the page, at most: enough to tell who it is; each is a PNG of some
/// 35 kB, and the page stays light with many groups.
const CROPS_SHOWN: usize = 3;

/// A group's best crops, as the API serves them, or why they are not shown.
fn crops(viewer: &Viewer, visitor: &Visitor) -> String {
    let id = visitor.id.0;
    if !viewer.admin {
        return "<p class=\"small\">Their faces are shown to admin keys only.</p>".to_owned();
    }
    if visitor.samples.is_empty() {
        return "<p class=\"small\">No crop of them is kept (sightings.keep_unknown_faces).</p>"
            .to_owned();
    }
    let images: String = (0..visitor.samples.len().min(CROPS_SHOWN))
        .map(|n| {
            format!(
                "<li><img src=\"/v1/visitors/{id}/faces/{n}/image\" alt=\"Visitor {id}, face {}\" \
                 width=\"96\" height=\"96\" loading=\"lazy\"></li>",
                n + 1
            )
        })
        .collect();
    format!("<ul class=\"crops\">{images}</ul>")
}

/// What an admin can do with a group: a name for a new person, somebody enrolled to add it
/// to, or dismissing it (the button says what goes, and the browser asks first).
fn actions(visitor: &Visitor, anyone_enrolled: bool) -> String {
    let id = visitor.id.0;
    let add = if anyone_enrolled {
        format!(
            "<form data-action=\"addVisitor\" data-visitor=\"{id}\" class=\"inline\">\
               <label for=\"to-{id}\">Add to</label>\
               <input id=\"to-{id}\" name=\"person\" list=\"enrolled\" required \
               autocomplete=\"off\" placeholder=\"somebody enrolled\">\
               <button type=\"submit\" class=\"secondary\">Add to them</button></form>"
        )
    } else {
        String::new()
    };
    let sightings = visitor.sightings;
    format!(
        "<form data-action=\"nameVisitor\" data-visitor=\"{id}\" class=\"inline\">\
           <label for=\"name-{id}\">New person</label>\
           <input id=\"name-{id}\" name=\"name\" required maxlength=\"100\" autocomplete=\"off\" \
           placeholder=\"their name\">\
           <button type=\"submit\">Enroll as a new person</button></form>{add}\
         <button type=\"button\" class=\"danger\" data-click=\"dismissVisitor\" \
         data-visitor=\"{id}\" data-confirm=\"Dismiss visitor {id}? This deletes its {sightings} \
         sighting(s), with their crops and embeddings, from the gallery. It cannot be undone.\">\
         Dismiss</button>"
    )
}

fn card(viewer: &Viewer, visitor: &Visitor, anyone_enrolled: bool) -> String {
    let id = visitor.id.0;
    let cameras: Vec<String> = visitor.cameras.iter().map(|c| esc(c)).collect();
    let actions = if viewer.admin {
        actions(visitor, anyone_enrolled)
    } else {
        String::new()
    };
    format!(
        "<li class=\"visitor\" data-visitor=\"{id}\" aria-labelledby=\"visitor-{id}\">\
           <h2 id=\"visitor-{id}\">Visitor {id}</h2>{crops}\
           <dl><dt>Seen</dt><dd class=\"count\">{sightings} time(s)</dd>\
           <dt>First</dt><dd>{first}</dd><dt>Last</dt><dd>{last}</dd>\
           <dt>Cameras</dt><dd>{cameras}</dd></dl>{actions}</li>",
        crops = crops(viewer, visitor),
        sightings = visitor.sightings,
        first = format_time(visitor.first),
        last = format_time(visitor.last),
        cameras = cameras.join(", "),
    )
}

/// Every group, the most recently seen first.
pub(crate) async fn page(State(state): State<Arc<AppState>>, viewer: Viewer) -> Response {
    let found = state
        .gallery(|g| Ok((g.visitors(SAMPLES)?, g.people()?)))
        .await;
    let (visitors, people) = match found {
        Ok(found) => found,
        Err(e) => return pages::failed(&viewer, Nav::Visitors, e),
    };
    let cards: String = visitors
        .iter()
        .map(|v| card(&viewer, v, !people.is_empty()))
        .collect();
    let count = match visitors.len() {
        0 => "No visitor: a face nobody enrolled becomes one once the cameras have seen it a few \
              times."
            .to_owned(),
        1 => "1 visitor, the most recently seen first.".to_owned(),
        n => format!("{n} visitors, the most recently seen first."),
    };
    // The names an admin may add a group to: the browser's own list, searchable by typing.
    let enrolled = if viewer.admin {
        pages::people_list("enrolled", &people.iter().collect::<Vec<_>>())
    } else {
        String::new()
    };
    let main = format!(
        "<p>Faces nobody enrolled, grouped by who they are. Times are UTC.</p>\
         <div id=\"status\" tabindex=\"-1\" role=\"status\" hidden></div>\
         <p id=\"count\">{count}</p><ul class=\"visitors\">{cards}</ul>{enrolled}"
    );
    pages::page(&viewer, Nav::Visitors, "Visitors", &main)
}
