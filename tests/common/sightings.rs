//! The sightings every store must keep alike: stored, named, read a page at a time, purged
//! past retention and forgotten with their person.

use whoisit::base::identity::{DIM, EmbedderKind, Embedding, PersonId};
use whoisit::gallery::{
    Actor, Cutoffs, Gallery, SightingId, SightingQuery, SightingRecord, UnknownFace, Who, now,
};

use super::{cli, face};

/// A sighting at `camera` of `person` (or of an unknown face with `crop`, when it has one),
/// last seen at `last`, in view for 10 s.
pub(crate) fn record(
    id: Option<SightingId>,
    camera: &str,
    person: Option<PersonId>,
    last: i64,
    crop: Option<Vec<u8>>,
) -> SightingRecord {
    SightingRecord {
        id,
        camera: camera.into(),
        track: 1,
        person,
        first: last - 10,
        last,
        distance: Some(if person.is_some() { 0.3 } else { 0.7 }),
        evidence: 4,
        unknown: person.is_none().then(|| UnknownFace {
            crop,
            embedder: EmbedderKind::Dlib.id(),
            embedding: Embedding(vec![0.05; DIM]),
        }),
    }
}

/// A purge of every sighting and unknown face.
pub(crate) const EVERYTHING: Cutoffs = Cutoffs {
    sightings: i64::MAX,
    unknown_faces: i64::MAX,
};

/// Records that `person` was seen now.
pub(crate) fn seen(g: &dyn Gallery, person: PersonId) {
    g.write_sightings(&[record(None, "door", Some(person), now(), None)])
        .unwrap();
}

fn ids(g: &dyn Gallery, query: &SightingQuery) -> Vec<SightingId> {
    g.sightings(query).unwrap().iter().map(|s| s.id).collect()
}

/// The contract, on an empty gallery.
pub(crate) fn sightings_are_stored_named_paged_purged_and_forgotten(g: &dyn Gallery) {
    let (ann, _) = g.create_person("Ann", &[face(0.1, "a")], &cli()).unwrap();
    let (bob, _) = g.create_person("Bob", &[face(0.9, "b")], &cli()).unwrap();
    let t = now();
    let crop: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();

    // A stranger at the door, then Ann at the door, then somebody unknown at the back.
    let stored = g
        .write_sightings(&[
            record(None, "door", None, t - 90, Some(crop.clone())),
            record(None, "door", Some(ann), t - 70, None),
            record(None, "back", None, t - 5, None),
        ])
        .unwrap();
    let stored: Vec<SightingId> = stored.into_iter().map(Option::unwrap).collect();
    assert!(stored.windows(2).all(|w| w[0] < w[1]), "{stored:?}");
    // A log is read newest first.
    let mut all = g.sightings(&SightingQuery::all()).unwrap();
    let newest_first: Vec<SightingId> = stored.iter().rev().copied().collect();
    assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), newest_first);
    all.reverse();
    assert_eq!(all[0].camera, "door");
    assert_eq!(all[1].person, Some(ann));
    assert_eq!(
        (all[1].first, all[1].last, all[1].evidence),
        (t - 80, t - 70, 4)
    );
    assert_eq!(all[1].distance, Some(0.3));
    assert_eq!(
        all.iter().map(|s| s.has_crop).collect::<Vec<_>>(),
        [true, false, false]
    );
    assert_eq!(g.sighting_crop(stored[0]).unwrap(), Some(crop.clone()));
    assert_eq!(g.sighting_crop(stored[2]).unwrap(), None);
    assert!(matches!(
        g.sighting_crop(SightingId(stored[2].0 + 1000)),
        Err(whoisit::Error::NotFound(_))
    ));
    assert_eq!(g.person(ann).unwrap().last_seen, Some(t - 70));

    filtered_and_paged(g, &stored, ann, t);
    named_and_forgotten(g, &stored, bob, t, &crop);
    purged(g, &stored, t);
}

fn filtered_and_paged(g: &dyn Gallery, stored: &[SightingId], ann: PersonId, t: i64) {
    let query = |f: &dyn Fn(&mut SightingQuery)| {
        let mut q = SightingQuery::all();
        f(&mut q);
        ids(g, &q)
    };
    assert_eq!(
        query(&|q| q.camera = Some("door".into())),
        [stored[1], stored[0]]
    );
    assert_eq!(
        query(&|q| q.who = Some(Who::Unknown)),
        [stored[2], stored[0]]
    );
    assert_eq!(query(&|q| q.who = Some(Who::Person(ann))), [stored[1]]);
    assert_eq!(query(&|q| q.since = Some(t - 50)), [stored[2]]);
    // Pages run newest first: the page after a sighting holds older ones.
    assert_eq!(
        query(&|q| {
            q.after = Some(stored[2]);
            q.limit = 1;
        }),
        [stored[1]]
    );
    assert_eq!(
        query(&|q| {
            q.after = Some(stored[1]);
            q.limit = 5;
        }),
        [stored[0]]
    );
    let zero = SightingQuery {
        limit: 0,
        ..SightingQuery::all()
    };
    assert!(matches!(
        g.sightings(&zero),
        Err(whoisit::Error::InvalidInput(_))
    ));
}

/// A newer state keeps the stored crop unless it brings one; once named, nothing of the face
/// is kept; a person's sightings are forgotten with them, and never stored again.
fn named_and_forgotten(g: &dyn Gallery, stored: &[SightingId], bob: PersonId, t: i64, crop: &[u8]) {
    g.write_sightings(&[record(Some(stored[0]), "door", None, t - 85, None)])
        .unwrap();
    assert_eq!(g.sighting_crop(stored[0]).unwrap().as_deref(), Some(crop));
    assert_eq!(g.sightings(&SightingQuery::all()).unwrap()[2].last, t - 85);
    g.write_sightings(&[record(Some(stored[2]), "back", Some(bob), t - 4, None)])
        .unwrap();
    let named = &g.sightings(&SightingQuery::all()).unwrap()[0];
    assert_eq!((named.person, named.has_crop), (Some(bob), false));
    assert_eq!(g.person(bob).unwrap().last_seen, Some(t - 4));

    g.remove(bob, &cli()).unwrap();
    assert_eq!(ids(g, &SightingQuery::all()), [stored[1], stored[0]]);
    assert_eq!(
        g.write_sightings(&[
            record(Some(stored[2]), "back", Some(bob), t - 3, None),
            record(None, "back", Some(bob), t - 2, None),
        ])
        .unwrap(),
        [None, None]
    );
    assert_eq!(ids(g, &SightingQuery::all()), [stored[1], stored[0]]);
}

/// Retention: unknown faces first, then the sightings themselves.
fn purged(g: &dyn Gallery, stored: &[SightingId], t: i64) {
    let purge = |sightings: i64, unknown_faces: i64| {
        g.purge_sightings(
            &Cutoffs {
                sightings,
                unknown_faces,
            },
            &Actor::purge(),
        )
        .unwrap()
    };
    let first = purge(t - 200, t - 50);
    assert_eq!(
        (first.sightings, first.unknown_faces, first.last_seen),
        (0, 1, 0)
    );
    assert_eq!(g.sighting_crop(stored[0]).unwrap(), None);
    let second = purge(t - 75, t - 75);
    assert_eq!((second.sightings, second.unknown_faces), (1, 0));
    assert_eq!(ids(g, &SightingQuery::all()), [stored[1]]);
    let trail = g.audit(0).unwrap();
    let purges: Vec<_> = trail.iter().filter(|e| e.action == "purge").collect();
    assert_eq!(purges.len(), 2);
    assert!(purges.iter().all(|e| e.actor == "purge:retention_days"));
    assert!(
        purges[0].detail.contains("1 unknown face(s)"),
        "{}",
        purges[0].detail
    );
}
