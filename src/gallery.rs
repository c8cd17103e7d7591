//! The gallery of enrolled people, persisted in the data dir so that `enroll` and `recognize`
//! work as separate runs.
//!
//! This first version is one JSON file, replaced atomically on every save (write a temp file,
//! fsync, rename), so a crash leaves either the old or the new gallery, never a torn one.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::embed::{DIM, Embedding};
use crate::error::{Error, Result};

const FORMAT_VERSION: u32 = 1;
const FILE_NAME: &str = "gallery.json";
/// Long enough for any real name, short enough for a label on screen.
pub const MAX_NAME_CHARS: usize = 100;

/// One enrolled face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// The embedder that made `embedding` (see `Embedder::id`).
    pub embedder: String,
    pub embedding: Embedding,
    /// Where the face came from (an image path, or a frame of a source).
    pub source: String,
    /// Seconds since the Unix epoch.
    pub added: u64,
}

/// One enrolled person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub faces: Vec<Face>,
}

#[derive(Debug, Serialize, Deserialize)]
struct GalleryFile {
    version: u32,
    people: Vec<Person>,
}

/// The people a pipeline recognises.
pub struct Gallery {
    path: PathBuf,
    people: Vec<Person>,
}

impl Gallery {
    /// Opens the gallery in `data_dir`; an absent file is an empty gallery.
    pub fn open(data_dir: &Path) -> Result<Gallery> {
        let path = data_dir.join(FILE_NAME);
        let people = match fs::read(&path) {
            Ok(bytes) => parse(&bytes, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(Gallery { path, people })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// Adds faces to `name` (a new or existing person) and saves. Nothing is changed on disk
    /// when the name or an embedding is invalid.
    pub fn add(
        &mut self,
        name: &str,
        embedder: &str,
        faces: Vec<(Embedding, String)>,
    ) -> Result<()> {
        let name = validate_name(name)?;
        if let Some((e, _)) = faces.iter().find(|(e, _)| e.0.len() != DIM) {
            return Err(self.error(format!("an embedding has {} values, not {DIM}", e.0.len())));
        }
        let added = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let new_faces = faces.into_iter().map(|(embedding, source)| Face {
            embedder: embedder.to_owned(),
            embedding,
            source,
            added,
        });
        let mut people = self.people.clone();
        match people.iter_mut().find(|p| p.name == name) {
            Some(person) => person.faces.extend(new_faces),
            None => people.push(Person {
                name,
                faces: new_faces.collect(),
            }),
        }
        self.write(&people)?;
        self.people = people;
        Ok(())
    }

    /// Every enrolled face made by `embedder`, with its person's name.
    pub fn embeddings<'a>(
        &'a self,
        embedder: &'a str,
    ) -> impl Iterator<Item = (String, Embedding)> + 'a {
        self.people.iter().flat_map(move |p| {
            p.faces
                .iter()
                .filter(move |f| f.embedder == embedder)
                .map(|f| (p.name.clone(), f.embedding.clone()))
        })
    }

    /// Faces stored for other embedders only, which the current one cannot use.
    pub fn faces_without(&self, embedder: &str) -> usize {
        self.people
            .iter()
            .flat_map(|p| &p.faces)
            .filter(|f| f.embedder != embedder)
            .count()
    }

    fn write(&self, people: &[Person]) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let file = GalleryFile {
            version: FORMAT_VERSION,
            people: people.to_vec(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| self.error(e.to_string()))?;
        let mut staged = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
        staged
            .write_all(&json)
            .map_err(|e| Error::io(staged.path(), e))?;
        staged
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(staged.path(), e))?;
        staged
            .persist(&self.path)
            .map_err(|e| Error::io(&self.path, e.error))?;
        Ok(())
    }

    fn error(&self, message: String) -> Error {
        Error::Gallery {
            path: self.path.clone(),
            message,
        }
    }
}

fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Person>> {
    let error = |message: String| Error::Gallery {
        path: path.to_path_buf(),
        message,
    };
    let file: GalleryFile = serde_json::from_slice(bytes).map_err(|e| {
        error(format!(
            "not a whoisit gallery ({e}); move it aside to start an empty gallery, nothing was changed"
        ))
    })?;
    if file.version > FORMAT_VERSION {
        return Err(error(format!(
            "written by a newer whoisit (format {}, this one reads {FORMAT_VERSION}); upgrade whoisit",
            file.version
        )));
    }
    Ok(file.people)
}

/// A name is trimmed, non-empty, at most `MAX_NAME_CHARS`, and has no control characters.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    let invalid = |why: String| Err(Error::InvalidArgument(format!("invalid name: {why}")));
    if name.is_empty() {
        return invalid("it is empty".into());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return invalid(format!(
            "it has {chars} characters, at most {MAX_NAME_CHARS} are allowed"
        ));
    }
    if name.chars().any(char::is_control) {
        return invalid("it contains control characters".into());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(v: f32) -> (Embedding, String) {
        (Embedding(vec![v; DIM]), "test".into())
    }

    #[test]
    fn survives_reopening_and_keeps_embedders_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::open(dir.path()).unwrap();
        g.add("Ann", "dlib", vec![face(0.1), face(0.2)]).unwrap();
        g.add(" Ann ", "openface", vec![face(0.3)]).unwrap();
        g.add("Bob", "dlib", vec![face(0.4)]).unwrap();
        let g = Gallery::open(dir.path()).unwrap();
        assert_eq!(g.people().len(), 2);
        assert_eq!(g.embeddings("dlib").count(), 3);
        assert_eq!(
            g.embeddings("openface").map(|(n, _)| n).collect::<Vec<_>>(),
            ["Ann"]
        );
        assert_eq!(g.faces_without("dlib"), 1);
    }

    #[test]
    fn bad_names_and_embeddings_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::open(dir.path()).unwrap();
        g.add("Ann", "dlib", vec![face(0.1)]).unwrap();
        for bad in ["", "   ", &"x".repeat(10_000), "a\nb"] {
            assert!(g.add(bad, "dlib", vec![face(0.2)]).is_err());
        }
        assert!(
            g.add("Ann", "dlib", vec![(Embedding(vec![0.0; 5]), "x".into())])
                .is_err()
        );
        let g = Gallery::open(dir.path()).unwrap();
        assert_eq!(g.embeddings("dlib").count(), 1);
    }

    #[test]
    fn a_file_that_is_not_a_gallery_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, b"SQLite format 3\0garbage").unwrap();
        let err = Gallery::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("not a whoisit gallery"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"SQLite format 3\0garbage");
        fs::write(&path, br#"{"version": 99, "people": []}"#).unwrap();
        assert!(
            Gallery::open(dir.path())
                .err()
                .unwrap()
                .to_string()
                .contains("newer whoisit")
        );
    }
}
