//! A coarse head pose from a face's landmarks: enough to ask for a turn of the head and to
//! tell whether it was made, not an angle in degrees.
//!
//! The nose is measured from the midpoint of the eyes, in units of the distance between the
//! eyes and along the eyes' own axis, so neither the face's size nor a tilt of the head
//! (roll) changes the figures. Turning the head moves the nose sideways along that axis;
//! raising the chin brings it up towards the eyes' line.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};

/// Sideways nose offset, in eye distances, beyond which the head counts as turned. Measured
/// with dlib's 5 points (`cargo test --test pose -- --nocapture` prints the figures): the
/// johns set's frontal photos stay within 0.12 of 0, a photo and its mirror image differ by
/// up to 0.06 (landmark noise), and obama2.jpg (-0.095 as a photo, a face turned a shade)
/// reads up to -0.14 in the frames of a clip; the set's three turned photos give 0.14 to
/// 0.20. 0.16 asks for a turn no frontal face reaches by noise, and a person asked for "a
/// little" turn makes.
pub const TURNED_BEYOND: f32 = 0.16;
/// Downward nose offset, in eye distances, below which the chin counts as up. The base of the
/// nose (dlib's 5-point model; point 33 of the 68) sits 0.64 to 0.99 below the eyes' line in
/// the johns set's level heads (faces differ); raising the chin foreshortens that, so 0.55 is
/// a raise no level head in the set reaches.
pub const CHIN_UP_BELOW: f32 = 0.55;
/// Downward nose offset beyond which the head counts as bowed (a pose nobody is asked for,
/// kept apart so a bowed capture does not count as frontal); above the set's 0.99.
pub const CHIN_DOWN_BEYOND: f32 = 1.05;

/// Where the nose is, relative to the eyes: the measure of a head's pose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadPose {
    /// Along the eyes' axis, in eye distances; positive when the head turns to the person's
    /// own left (towards the image's right, in an unmirrored picture).
    pub yaw: f32,
    /// Across the eyes' axis, downwards, in eye distances; smaller when the chin goes up.
    pub pitch: f32,
}

/// The poses enrollment asks for and reports, from the person's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pose {
    Front,
    Left,
    Right,
    Up,
    Down,
}

impl Pose {
    /// The poses a person is asked for, in the order asked; `Down` is never asked (a face
    /// looking down at a desk is what a camera above a door seldom sees).
    pub const GUIDED: [Pose; 4] = [Pose::Front, Pose::Left, Pose::Right, Pose::Up];

    pub fn as_str(self) -> &'static str {
        match self {
            Pose::Front => "front",
            Pose::Left => "left",
            Pose::Right => "right",
            Pose::Up => "up",
            Pose::Down => "down",
        }
    }

    /// What to ask a person in front of the camera.
    pub fn request(self) -> &'static str {
        match self {
            Pose::Front => "Look straight at the camera",
            Pose::Left => "Turn your head a little to your left",
            Pose::Right => "Turn your head a little to your right",
            Pose::Up => "Raise your chin a little",
            Pose::Down => "Lower your chin a little",
        }
    }
}

impl fmt::Display for Pose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pose {
    type Err = Error;

    fn from_str(s: &str) -> Result<Pose> {
        [Pose::Front, Pose::Left, Pose::Right, Pose::Up, Pose::Down]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{s:?} is no pose; the poses are front, left, right, up and down"
                ))
            })
    }
}

impl HeadPose {
    /// The pose of a face from its landmarks in image pixels: dlib's 5 points (two corners
    /// of each eye, then the base of the nose) or its 68. `None` for another count, or eyes
    /// on one spot.
    pub fn from_landmarks(points: &[(f32, f32)]) -> Option<HeadPose> {
        let mean = |idx: &[usize]| {
            let n = idx.len() as f32;
            let (x, y) = idx
                .iter()
                .fold((0.0, 0.0), |(x, y), &i| (x + points[i].0, y + points[i].1));
            (x / n, y / n)
        };
        let (image_left_eye, image_right_eye, nose) = match points.len() {
            // Points 0-1 are the eye on the image's right, 2-3 the other, 4 below the nose.
            5 => (mean(&[2, 3]), mean(&[0, 1]), points[4]),
            68 => (mean(&[36, 39]), mean(&[42, 45]), points[33]),
            _ => return None,
        };
        HeadPose::from_points(image_left_eye, image_right_eye, nose)
    }

    /// The pose from the centres of the eyes (the one on the image's left first) and the
    /// base of the nose.
    pub fn from_points(
        image_left_eye: (f32, f32),
        image_right_eye: (f32, f32),
        nose: (f32, f32),
    ) -> Option<HeadPose> {
        let axis = (
            image_right_eye.0 - image_left_eye.0,
            image_right_eye.1 - image_left_eye.1,
        );
        let distance = axis.0.hypot(axis.1);
        if !distance.is_finite() || distance < 1.0 {
            return None;
        }
        let along = (axis.0 / distance, axis.1 / distance);
        // The eyes' axis turned a quarter clockwise: downwards for a level head (y grows down).
        let across = (-along.1, along.0);
        let mid = (
            (image_left_eye.0 + image_right_eye.0) / 2.0,
            (image_left_eye.1 + image_right_eye.1) / 2.0,
        );
        let nose = (nose.0 - mid.0, nose.1 - mid.1);
        Some(HeadPose {
            yaw: (nose.0 * along.0 + nose.1 * along.1) / distance,
            pitch: (nose.0 * across.0 + nose.1 * across.1) / distance,
        })
    }

    /// The pose this is. A turn wins over a raised chin: the turn is what the nose shows
    /// most clearly, and a turned head often lifts a little.
    pub fn pose(self) -> Pose {
        if self.yaw >= TURNED_BEYOND {
            Pose::Left
        } else if self.yaw <= -TURNED_BEYOND {
            Pose::Right
        } else if self.pitch < CHIN_UP_BELOW {
            Pose::Up
        } else if self.pitch > CHIN_DOWN_BEYOND {
            Pose::Down
        } else {
            Pose::Front
        }
    }

    /// The same head seen in a mirror.
    pub fn mirrored(self) -> HeadPose {
        HeadPose {
            yaw: -self.yaw,
            pitch: self.pitch,
        }
    }

    /// What to tell a person asked for `wanted` whose head shows this pose.
    pub fn hint(self, wanted: Pose) -> Hint {
        let seen = self.pose();
        if seen == wanted {
            return Hint {
                reached: true,
                text: "Good, hold still and press space".into(),
            };
        }
        let text = match (wanted, seen) {
            (Pose::Left, Pose::Right) | (Pose::Right, Pose::Left) => {
                format!("That is your {seen}; turn the other way, to your {wanted}")
            }
            (Pose::Left | Pose::Right, _) => format!("Turn a bit more to your {wanted}"),
            (Pose::Up, Pose::Down | Pose::Front) => "Raise your chin a bit more".into(),
            (Pose::Down, _) => "Lower your chin a bit more".into(),
            (_, Pose::Left | Pose::Right) => {
                let back = if seen == Pose::Left { "right" } else { "left" };
                format!("Turn back a little to your {back}")
            }
            (_, Pose::Up) => "Lower your chin a little".into(),
            (_, _) => "Raise your chin a little".into(),
        };
        Hint {
            reached: false,
            text,
        }
    }
}

/// Whether the asked pose is reached, and what to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub reached: bool,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level face with eyes 60 px apart and the nose `dx` px to the image's right of their
    /// midpoint and `dy` px below it, rotated by `roll` radians about the eyes' midpoint.
    fn face(dx: f32, dy: f32, roll: f32) -> HeadPose {
        let turn = |(x, y): (f32, f32)| {
            let (s, c) = roll.sin_cos();
            (100.0 + x * c - y * s, 100.0 + x * s + y * c)
        };
        HeadPose::from_points(turn((-30.0, 0.0)), turn((30.0, 0.0)), turn((dx, dy))).unwrap()
    }

    #[test]
    fn a_level_frontal_face_is_front() {
        let pose = face(0.0, 39.0, 0.0);
        assert!(pose.yaw.abs() < 1e-5 && (pose.pitch - 0.65).abs() < 1e-5);
        assert_eq!(pose.pose(), Pose::Front);
    }

    #[test]
    fn the_nose_towards_the_images_right_is_a_turn_to_the_persons_left() {
        assert_eq!(face(10.0, 39.0, 0.0).pose(), Pose::Left);
        assert_eq!(face(-10.0, 39.0, 0.0).pose(), Pose::Right);
        assert_eq!(face(12.0, 39.0, 0.0).mirrored().pose(), Pose::Right);
        // Just short of the threshold: still frontal.
        assert_eq!(face(6.0, 39.0, 0.0).pose(), Pose::Front);
    }

    #[test]
    fn a_nose_near_the_eyes_line_is_a_raised_chin_and_far_below_a_bowed_head() {
        assert_eq!(face(0.0, 20.0, 0.0).pose(), Pose::Up);
        assert_eq!(face(0.0, 70.0, 0.0).pose(), Pose::Down);
        // A turn wins over a raised chin.
        assert_eq!(face(15.0, 20.0, 0.0).pose(), Pose::Left);
    }

    #[test]
    fn a_tilted_head_keeps_its_pose() {
        for roll in [-0.4_f32, 0.3] {
            let level = face(12.0, 39.0, 0.0);
            let tilted = face(12.0, 39.0, roll);
            assert!((level.yaw - tilted.yaw).abs() < 1e-4, "{roll}");
            assert!((level.pitch - tilted.pitch).abs() < 1e-4, "{roll}");
        }
    }

    #[test]
    fn landmarks_of_either_model_give_the_same_pose() {
        // dlib's 5 points: image-right eye corners, image-left eye corners, base of the nose.
        let five = [
            (140.0, 100.0),
            (120.0, 100.0),
            (60.0, 100.0),
            (80.0, 100.0),
            (112.0, 139.0),
        ];
        let mut sixty_eight = [(0.0_f32, 0.0_f32); 68];
        sixty_eight[36] = (60.0, 100.0);
        sixty_eight[39] = (80.0, 100.0);
        sixty_eight[42] = (120.0, 100.0);
        sixty_eight[45] = (140.0, 100.0);
        sixty_eight[33] = (112.0, 139.0);
        let a = HeadPose::from_landmarks(&five).unwrap();
        let b = HeadPose::from_landmarks(&sixty_eight).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.pose(), Pose::Left);
        assert!(HeadPose::from_landmarks(&five[..4]).is_none());
        assert!(HeadPose::from_points((5.0, 5.0), (5.0, 5.0), (5.0, 9.0)).is_none());
    }

    #[test]
    fn hints_say_which_way_to_go_and_when_the_pose_is_reached() {
        let front = face(0.0, 39.0, 0.0);
        assert!(front.hint(Pose::Front).reached);
        let hint = front.hint(Pose::Left);
        assert!(!hint.reached);
        assert_eq!(hint.text, "Turn a bit more to your left");
        assert!(
            face(-12.0, 39.0, 0.0)
                .hint(Pose::Left)
                .text
                .contains("other way")
        );
        assert_eq!(
            face(12.0, 39.0, 0.0).hint(Pose::Front).text,
            "Turn back a little to your right"
        );
        assert_eq!(front.hint(Pose::Up).text, "Raise your chin a bit more");
    }

    #[test]
    fn poses_read_back_from_their_names() {
        for pose in [Pose::Front, Pose::Left, Pose::Right, Pose::Up, Pose::Down] {
            assert_eq!(pose.as_str().parse::<Pose>().unwrap(), pose);
        }
        assert!("sideways".parse::<Pose>().is_err());
    }
}
