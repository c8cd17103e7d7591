//! The console's Sightings page: who was seen, at which camera, when, a page at a time,
//! filtered by camera, person and time. Each page read is in the audit trail, as the API's
//! are. An unknown face's crop is shown to admin keys only.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::base::time::format_time;
use crate::gallery::{PersonSummary, Sighting, SightingId, SightingQuery, Who, now};
use crate::service::console::Viewer;
use crate::service::console::pages::{self, Nav, esc};
use crate::service::error::ApiError;
use crate::service::routes::PathOf;
use crate::service::routes::sightings::read_page;
use crate::service::state::AppState;

/// Sightings on one page.
const PAGE: usize = 50;

/// The time filter's choices: its value, its words, and how far back it reaches (seconds).
const PERIODS: [(&str, &str, Option<i64>); 5] = [
    ("1", "the last hour", Some(3600)),
    ("24", "the last day", Some(86_400)),
    ("168", "the last week", Some(7 * 86_400)),
    ("720", "the last 30 days", Some(30 * 86_400)),
    ("all", "any time", None),
];

/// The period shown when none is chosen: the front desk's question is about today.
const DEFAULT_PERIOD: &str = "24";

/// The filters, as the page's form sends them; every field may be empty.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    camera: String,
    /// A person's id, `unknown`, or empty for anyone.
    #[serde(default)]
    person: String,
    /// One of [`PERIODS`].
    #[serde(default)]
    within: String,
    /// The last sighting of the page before.
    #[serde(default)]
    after: String,
}

impl Filters {
    fn period(&self) -> &str {
        if self.within.is_empty() {
            DEFAULT_PERIOD
        } else {
            &self.within
        }
    }

    /// The gallery's query for these filters, or what is wrong with them.
    fn query(&self, now: i64) -> Result<SightingQuery, ApiError> {
        let reach = PERIODS
            .iter()
            .find(|(value, _, _)| *value == self.period())
            .map(|(_, _, reach)| *reach)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "the time filter {:?} is not one of the page's choices",
                    self.within
                ))
            })?;
        let who = match self.person.trim() {
            "" => None,
            person => Some(person.parse::<Who>()?),
        };
        let after = match self.after.trim() {
            "" => None,
            after => Some(SightingId(after.parse().map_err(|_| {
                ApiError::bad_request(format!("the page mark {after:?} is not a whole number"))
            })?)),
        };
        let camera = self.camera.trim();
        Ok(SightingQuery {
            since: reach.map(|reach| now - reach),
            camera: (!camera.is_empty()).then(|| camera.to_owned()),
            who,
            after,
            limit: PAGE,
        })
    }
}

/// The filters' form: camera (the server's own sources offered as they are typed), person
/// (anyone, unknown faces, or somebody enrolled) and period.
fn filter_form(filters: &Filters, people: &[PersonSummary], sources: &[String]) -> String {
    let selected = |yes: bool| if yes { " selected" } else { "" };
    let person = filters.person.trim();
    let people: String = people
        .iter()
        .map(|p| {
            format!(
                "<option value=\"{id}\"{sel}>{name}</option>",
                id = p.id.0,
                sel = selected(person == p.id.0.to_string()),
                name = esc(&p.name)
            )
        })
        .collect();
    let periods: String = PERIODS
        .iter()
        .map(|(value, words, _)| {
            format!(
                "<option value=\"{value}\"{}>{words}</option>",
                selected(*value == filters.period())
            )
        })
        .collect();
    let sources: String = sources
        .iter()
        .map(|s| format!("<option value=\"{}\"></option>", esc(s)))
        .collect();
    format!(
        "<form method=\"get\" action=\"/sightings\" class=\"filters\" aria-label=\"Filters\">\
           <div><label for=\"camera\">Camera</label>\
           <input id=\"camera\" name=\"camera\" value=\"{camera}\" list=\"sources\" \
           placeholder=\"any camera\" autocomplete=\"off\"></div>\
           <div><label for=\"person\">Person</label>\
           <select id=\"person\" name=\"person\"><option value=\"\">anyone</option>\
           <option value=\"unknown\"{unknown}>unknown faces</option>{people}</select></div>\
           <div><label for=\"within\">Seen in</label>\
           <select id=\"within\" name=\"within\">{periods}</select></div>\
           <button type=\"submit\">Show</button></form>\
         <datalist id=\"sources\">{sources}</datalist>",
        camera = esc(filters.camera.trim()),
        unknown = selected(person.eq_ignore_ascii_case("unknown")),
    )
}

/// A link to the same filters at the page after `after` (or the first page): a form, so the
/// filters' values need no encoding into a URL.
fn page_link(filters: &Filters, after: Option<i64>, words: &str) -> String {
    let after = after
        .map(|a| format!("<input type=\"hidden\" name=\"after\" value=\"{a}\">"))
        .unwrap_or_default();
    format!(
        "<form method=\"get\" action=\"/sightings\" class=\"pager\">\
           <input type=\"hidden\" name=\"camera\" value=\"{camera}\">\
           <input type=\"hidden\" name=\"person\" value=\"{person}\">\
           <input type=\"hidden\" name=\"within\" value=\"{within}\">{after}\
           <button type=\"submit\" class=\"secondary\">{words}</button></form>",
        camera = esc(filters.camera.trim()),
        person = esc(filters.person.trim()),
        within = esc(filters.period()),
    )
}

/// The button that says a named sighting was somebody else (for admins): it asks first, and
/// says what it does.
fn not_button(id: i64, name: &str) -> String {
    format!(
        "<button type=\"button\" class=\"secondary\" data-click=\"notSighting\" \
         data-sighting=\"{id}\" data-confirm=\"Sighting {id} is not {name}? It becomes \
         unknown, and its face is kept as a negative example: whoever it shows is not named \
         {name} again.\" aria-label=\"Sighting {id} is not {name}\">Not this person</button>"
    )
}

fn row(viewer: &Viewer, sighting: &Sighting, people: &[PersonSummary]) -> String {
    let id = sighting.id.0;
    let (face, who) = match sighting.person {
        Some(person) => {
            let name = people
                .iter()
                .find(|p| p.id == person)
                .map_or_else(|| format!("person {}", person.0), |p| esc(&p.name));
            let correct = if viewer.admin {
                not_button(id, &name)
            } else {
                String::new()
            };
            (
                String::new(),
                format!("<a href=\"/people/{}\">{name}</a>{correct}", person.0),
            )
        }
        None if sighting.has_crop && viewer.admin => (
            format!(
                "<img src=\"/sightings/{id}/crop\" alt=\"The unknown face of sighting {id}\" \
                 width=\"48\" height=\"48\" loading=\"lazy\">"
            ),
            "unknown".to_owned(),
        ),
        None => (String::new(), "unknown".to_owned()),
    };
    let distance = sighting
        .distance
        .map_or_else(|| "–".to_owned(), |d| format!("{d:.2}"));
    format!(
        "<tr><td class=\"thumb\">{face}</td><td>{who}</td><td>{camera}</td>\
         <td class=\"when\">{when}</td><td>{distance}</td><td>{evidence}</td></tr>",
        camera = esc(&sighting.camera),
        when = span(sighting.first, sighting.last),
        evidence = sighting.evidence,
    )
}

/// From when to when a face was in view, the day written once: `2026-12-07 18:31–18:40`.
fn span(first: i64, last: i64) -> String {
    let (first, last) = (format_time(first), format_time(last));
    match (first.split_once(' '), last.split_once(' ')) {
        _ if first == last => first,
        (Some((day, _)), Some((last_day, time))) if day == last_day => format!("{first}–{time}"),
        _ => format!("{first} – {last}"),
    }
}

/// A page of the sightings the filters ask for, newest first.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Query(filters): Query<Filters>,
) -> Response {
    let people = match state.gallery(|g| g.people()).await {
        Ok(people) => people,
        Err(e) => return pages::failed(&viewer, Nav::Sightings, e),
    };
    let form = filter_form(&filters, &people, &state.console.sources);
    let read = match filters.query(now()) {
        Ok(query) => read_page(&state, query, viewer.actor()).await,
        Err(e) => Err(e),
    };
    let (sightings, next) = match read {
        Ok(read) => read,
        Err(e) if e.status().is_client_error() => {
            let main = format!(
                "{form}<p class=\"problem\" role=\"alert\">{}</p>",
                esc(e.message())
            );
            let mut response = pages::page(&viewer, Nav::Sightings, "Sightings", &main);
            *response.status_mut() = e.status();
            return response;
        }
        Err(e) => return pages::failed(&viewer, Nav::Sightings, e),
    };
    let rows: String = sightings.iter().map(|s| row(&viewer, s, &people)).collect();
    let later_page = !filters.after.trim().is_empty();
    let count = match (sightings.len(), later_page) {
        (0, false) => "No sighting matches.".to_owned(),
        (n, false) => format!("{n} sighting(s), newest first{}.", more(next)),
        (n, true) => format!("{n} more sighting(s){}.", more(next)),
    };
    let mut pager = String::new();
    if later_page {
        pager += &page_link(&filters, None, "First page");
    }
    if next.is_some() {
        pager += &page_link(&filters, next, "Next page");
    }
    let table = if sightings.is_empty() {
        String::new()
    } else {
        format!(
            "<div class=\"scroll\"><table class=\"log\"><thead><tr>\
             <th scope=\"col\"><span class=\"hidden\">Face</span></th><th scope=\"col\">Who</th>\
             <th scope=\"col\">Camera</th><th scope=\"col\">In view (UTC)</th>\
             <th scope=\"col\">Distance</th>\
             <th scope=\"col\">Evidence</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )
    };
    let main = format!(
        "{form}<p id=\"status\" tabindex=\"-1\" role=\"status\" hidden></p>\
         <p id=\"count\">{count}</p>{table}<div class=\"pages\">{pager}</div>\
         <p class=\"small\">One row per appearance: a face from when it came into view to when \
         it left. Evidence: how many of its embeddings agreed with the name. Reading sightings \
         is recorded in the audit trail.</p>"
    );
    pages::page(&viewer, Nav::Sightings, "Sightings", &main)
}

/// The count's end when more pages follow.
fn more(next: Option<i64>) -> &'static str {
    if next.is_some() { "; more follow" } else { "" }
}

/// An unknown face's crop, as PNG: for admin keys only, as the API's visitor crops.
pub(crate) async fn crop(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    PathOf(id): PathOf<i64>,
) -> Response {
    if !viewer.admin {
        return ApiError::forbidden("an unknown face's crop is shown to admin keys only")
            .into_response();
    }
    match state
        .gallery(move |g| g.sighting_crop(SightingId(id)))
        .await
    {
        Ok(Some(png)) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Ok(None) => ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("sighting {id} keeps no crop"),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use crate::gallery::{PersonId, SightingId, Who};
    use crate::service::console::sightings::Filters;

    #[test]
    fn a_span_writes_its_day_once() {
        use crate::service::console::sightings::span;
        let t = 1_795_467_000; // 2026-11-23 20:50
        assert_eq!(span(t, t + 20), "2026-11-23 20:50");
        assert_eq!(span(t, t + 600), "2026-11-23 20:50–21:00");
        assert_eq!(span(t, t + 86_400), "2026-11-23 20:50 – 2026-11-24 20:50");
    }

    #[test]
    fn filters_become_the_gallerys_query() {
        let none = Filters::default().query(100_000).unwrap();
        assert_eq!(none.since, Some(100_000 - 86_400));
        assert_eq!((none.camera, none.who, none.after), (None, None, None));
        let all = Filters {
            camera: " door ".into(),
            person: "7".into(),
            within: "all".into(),
            after: "12".into(),
        }
        .query(100_000)
        .unwrap();
        assert_eq!(all.since, None);
        assert_eq!(all.camera.as_deref(), Some("door"));
        assert_eq!(all.who, Some(Who::Person(PersonId(7))));
        assert_eq!(all.after, Some(SightingId(12)));
        let unknown = Filters {
            person: "unknown".into(),
            ..Filters::default()
        };
        assert_eq!(unknown.query(0).unwrap().who, Some(Who::Unknown));
        for wrong in [
            Filters {
                within: "3".into(),
                ..Filters::default()
            },
            Filters {
                person: "Ann".into(),
                ..Filters::default()
            },
            Filters {
                after: "x".into(),
                ..Filters::default()
            },
        ] {
            assert!(wrong.query(0).is_err(), "{wrong:?}");
        }
    }
}
