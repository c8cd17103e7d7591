//! The console's roster pages: everyone enrolled (a grid, searchable by name), one person
//! (their faces with pose, rename, add photos, remove a face, forget), and enrolling a new
//! person from photos. Changes go through the API from the console's script.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::base::time::format_time;
use crate::gallery::{FaceSummary, PersonId, PersonSummary};
use crate::service::console::Viewer;
use crate::service::console::camera;
use crate::service::console::pages::{self, Nav, esc};
use crate::service::state::AppState;

#[derive(Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
}

/// Whether `name` holds `query`, ignoring case.
fn matches(name: &str, query: &str) -> bool {
    query.is_empty() || name.to_lowercase().contains(&query.to_lowercase())
}

fn last_seen(person: &PersonSummary) -> String {
    person.last_seen.map_or_else(|| "never".into(), format_time)
}

/// The Sightings page of a person's last 30 days, which `retention_days` usually keeps whole,
/// as an attribute's value.
fn sightings_of(person: PersonId) -> String {
    format!("/sightings?person={}&amp;within=720", person.0)
}

/// When the person was last seen, linking to their sightings when they were.
fn seen_link(person: &PersonSummary) -> String {
    match person.last_seen {
        Some(_) => format!(
            "<a href=\"{}\">{}</a>",
            sightings_of(person.id),
            last_seen(person)
        ),
        None => last_seen(person),
    }
}

fn own_threshold(person: &PersonSummary) -> String {
    person
        .own_threshold
        .as_ref()
        .map_or_else(|| "global".into(), |o| format!("{:.2}", o.threshold))
}

/// Everyone enrolled, as a grid of cards.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Query(search): Query<Search>,
) -> Response {
    let people = match state.gallery(|g| g.people()).await {
        Ok(people) => people,
        Err(e) => return pages::failed(&viewer, Nav::People, e),
    };
    let query = search.q.trim();
    let shown: Vec<&PersonSummary> = people.iter().filter(|p| matches(&p.name, query)).collect();
    let cards: String = shown
        .iter()
        .map(|p| {
            let thumbnail = if p.faces > 0 {
                format!(
                    "<img src=\"/people/{id}/thumbnail\" alt=\"\" width=\"96\" height=\"96\" \
                     loading=\"lazy\">",
                    id = p.id.0
                )
            } else {
                "<span class=\"noface\" aria-hidden=\"true\">?</span>".to_owned()
            };
            format!(
                "<li class=\"person\">{thumbnail}<div>\
                   <a href=\"/people/{id}\" class=\"name\">{name}</a>\
                   <dl><dt>Faces</dt><dd>{faces}</dd>\
                   <dt>Poses</dt><dd>{poses}</dd>\
                   <dt>Threshold</dt><dd>{threshold}</dd>\
                   <dt>Last seen</dt><dd>{seen}</dd></dl></div></li>",
                id = p.id.0,
                name = esc(&p.name),
                faces = p.faces,
                poses = esc(&p.pose_report()),
                threshold = own_threshold(p),
                seen = seen_link(p),
            )
        })
        .collect();
    let count = match (query.is_empty(), people.len()) {
        (true, 1) => "1 person enrolled.".to_owned(),
        (true, n) => format!("{n} people enrolled."),
        (false, n) => format!("{} of {n} match.", shown.len()),
    };
    let enroll = if viewer.admin {
        "<a class=\"button\" href=\"/enroll\">Enroll a person</a>"
    } else {
        ""
    };
    let main = format!(
        "<div class=\"bar\"><form method=\"get\" action=\"/people\" role=\"search\" class=\"search\">\
           <label for=\"q\">Search by name</label>\
           <input id=\"q\" name=\"q\" type=\"search\" value=\"{q}\">\
           <button type=\"submit\" class=\"secondary\">Search</button></form>{enroll}</div>\
         <p id=\"count\">{count}</p><ul class=\"people\">{cards}</ul>",
        q = esc(query),
    );
    pages::page(&viewer, Nav::People, "People", &main)
}

/// A person's first face with a crop, as PNG: the grid's thumbnail.
pub(crate) async fn thumbnail(
    State(state): State<Arc<AppState>>,
    _viewer: Viewer,
    Path(id): Path<i64>,
) -> Response {
    let person = PersonId(id);
    let png = state
        .gallery(move |g| {
            for face in g.faces(person)? {
                if face.has_image
                    && let Some(png) = g.face_image(person, face.id)?
                {
                    return Ok(Some(png));
                }
            }
            Ok(None)
        })
        .await;
    match png {
        Ok(Some(png)) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Ok(None) => axum::http::StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

fn face_card(viewer: &Viewer, person: &PersonSummary, face: &FaceSummary) -> String {
    let id = person.id.0;
    let image = if face.has_image {
        format!(
            "<img src=\"/v1/people/{id}/faces/{f}/image\" alt=\"Face {f} of {name}\" width=\"112\" \
             height=\"112\" loading=\"lazy\">",
            f = face.id.0,
            name = esc(&person.name)
        )
    } else {
        "<span class=\"noface\">no crop kept</span>".to_owned()
    };
    let pose = face.pose.map_or("pose unknown", |p| p.as_str());
    let remove = if viewer.admin {
        format!(
            "<button type=\"button\" class=\"secondary\" data-click=\"removeFace\" \
             data-person=\"{id}\" data-face=\"{f}\" data-confirm=\"Remove this face ({pose}) \
             of {name}, with its embeddings and crop?\" aria-label=\"Remove face {f}\">Remove\
             </button>\
             <button type=\"button\" class=\"secondary\" data-click=\"notFace\" \
             data-person=\"{id}\" data-face=\"{f}\" data-confirm=\"Face {f} is not {name}? \
             It is removed from {name}, and kept as a negative example: whoever it shows is not \
             named {name} again.\" aria-label=\"Face {f} is not this person\">Not this person\
             </button>",
            f = face.id.0,
            name = esc(&person.name)
        )
    } else {
        String::new()
    };
    format!(
        "<li class=\"face\">{image}<span class=\"pose\">{pose}</span>\
         <span class=\"small\">{captured}</span>{remove}</li>",
        captured = format_time(face.captured)
    )
}

/// One person: their faces, and (for admins) what can be changed.
pub(crate) async fn person(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Response {
    let person_id = PersonId(id);
    let found = state
        .gallery(move |g| Ok((g.person(person_id)?, g.faces(person_id)?, g.people()?)))
        .await;
    let (person, faces, people) = match found {
        Ok(found) => found,
        Err(e) => return pages::failed(&viewer, Nav::People, e),
    };
    let cards: String = faces
        .iter()
        .map(|f| face_card(&viewer, &person, f))
        .collect();
    let name = esc(&person.name);
    let facts = format!(
        "<dl class=\"facts\"><dt>Faces</dt><dd>{faces}</dd><dt>Poses</dt><dd>{poses}</dd>\
         <dt>Threshold</dt><dd>{threshold}</dd><dt>Enrolled</dt><dd>{created}</dd>\
         <dt>Last seen</dt><dd>{seen}</dd></dl>",
        faces = person.faces,
        poses = esc(&person.pose_report()),
        threshold = own_threshold(&person),
        created = format_time(person.created),
        seen = last_seen(&person),
    );
    let changes = if viewer.admin {
        let images: usize = faces.iter().filter(|f| f.has_image).count();
        format!(
            "<h2>Add photos</h2>{upload}\
             <h2>Rename</h2>\
             <form data-action=\"rename\" data-person=\"{id}\" class=\"inline\">\
               <label for=\"name\">New name</label>\
               <input id=\"name\" name=\"name\" value=\"{name}\" required maxlength=\"100\">\
               <button type=\"submit\">Rename</button></form>\
{corrections}\
             <h2>Forget</h2>\
             <p>Deletes {name} from the gallery: {faces} face(s), their embeddings, {images} \
             crop(s), and the live events that name them. It cannot be undone.</p>\
             <button type=\"button\" class=\"danger\" data-click=\"forget\" data-person=\"{id}\" \
             data-confirm=\"Forget {name}? This deletes their {faces} face(s), their embeddings \
             and {images} crop(s), and the live events that name them. It cannot be undone.\">\
             Forget {name}</button>",
            upload = upload_form("addPhotos", Some(id)),
            faces = person.faces,
            corrections = corrections(&person, &faces, &people),
        )
    } else {
        String::new()
    };
    let main = format!(
        "<p id=\"status\" tabindex=\"-1\" role=\"status\" hidden></p>{facts}\
         <p><a href=\"{seen}\" class=\"seen-link\">{name}'s \
         sightings in the last 30 days</a></p>\
         <h2>Faces</h2><ul class=\"faces\">{cards}</ul>{changes}",
        seen = sightings_of(person_id),
    );
    pages::page(&viewer, Nav::People, &person.name, &main)
}

/// Merging another person in, and moving a face to another person: the other picked by name
/// from the browser's list of everyone else; the script asks first and says what moves.
fn corrections(person: &PersonSummary, faces: &[FaceSummary], people: &[PersonSummary]) -> String {
    let others: Vec<&PersonSummary> = people.iter().filter(|p| p.id != person.id).collect();
    if others.is_empty() {
        return String::new();
    }
    let (id, name) = (person.id.0, esc(&person.name));
    let face_options: String = faces
        .iter()
        .map(|f| {
            format!(
                "<option value=\"{f}\">Face {f} ({pose})</option>",
                f = f.id.0,
                pose = f.pose.map_or("pose unknown", |p| p.as_str())
            )
        })
        .collect();
    let move_face = if faces.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Move a face</h2>\
             <p>A face that shows somebody else enrolled becomes theirs, with its embeddings, \
             crop and pose.</p>\
             <form data-action=\"moveFace\" data-person=\"{id}\" class=\"inline\">\
               <label for=\"face\">Face</label>\
               <select id=\"face\" name=\"face\">{face_options}</select>\
               <label for=\"move-to\">To</label>\
               <input id=\"move-to\" name=\"to\" list=\"others\" required autocomplete=\"off\" \
               placeholder=\"somebody enrolled\">\
               <button type=\"submit\" class=\"secondary\">Move</button></form>"
        )
    };
    format!(
        "<h2>Merge another person in</h2>\
         <p>When two people enrolled are one: the other's faces, sightings and \"not this \
         person\" examples become {name}'s, and the other is removed.</p>\
         <form data-action=\"merge\" data-person=\"{id}\" data-name=\"{name}\" class=\"inline\">\
           <label for=\"merge-from\">Merge in</label>\
           <input id=\"merge-from\" name=\"from\" list=\"others\" required autocomplete=\"off\" \
           placeholder=\"somebody enrolled\">\
           <button type=\"submit\">Merge in</button></form>{move_face}{list}",
        list = pages::people_list("others", &others),
    )
}

/// A form that uploads several photos, each answered in words.
fn upload_form(action: &str, person: Option<i64>) -> String {
    let (person, name) = match person {
        Some(id) => (format!(" data-person=\"{id}\""), String::new()),
        None => (
            String::new(),
            "<label for=\"name\">Name</label>\
             <input id=\"name\" name=\"name\" required maxlength=\"100\" autocomplete=\"off\">"
                .to_owned(),
        ),
    };
    format!(
        "<form data-action=\"{action}\"{person} class=\"upload\">{name}\
           <label class=\"drop\" for=\"photos\">Photos of the person alone, facing the camera \
           and turned a little left and right: choose them, or drop them here. \
           <span class=\"chosen\"></span></label>\
           <input id=\"photos\" name=\"photos\" type=\"file\" accept=\"image/jpeg,image/png\" \
           multiple required>\
           <button type=\"submit\">Enroll</button>\
           <ul class=\"results\" aria-live=\"polite\"></ul></form>"
    )
}

/// Enrolling a new person from photos.
pub(crate) async fn enroll(viewer: Viewer) -> Response {
    if !viewer.admin {
        return pages::not_allowed(&viewer, Nav::Enroll, "Enroll");
    }
    let main = format!(
        "<p id=\"status\" tabindex=\"-1\" role=\"status\" hidden></p>{camera}\
         <h2>From photos</h2>\
         <p>Each photo passes the same quality gate as the window's captures: one face, large \
         and sharp enough, not a copy of one enrolled already. Each is answered in words.</p>\
         {upload}",
        camera = camera::panel(),
        upload = upload_form("enroll", None)
    );
    pages::page(&viewer, Nav::Enroll, "Enroll", &main)
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_ignores_case() {
        assert!(super::matches("Barack Obama", "obama"));
        assert!(super::matches("Barack Obama", ""));
        assert!(!super::matches("Joe Biden", "obama"));
    }
}
