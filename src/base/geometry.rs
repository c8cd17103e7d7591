//! Where a face is in a frame.

use opencv::core::Rect;
use serde::{Deserialize, Serialize};

/// A face's box in pixels: left, top, width, height. In JSON it is `[x, y, width, height]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "[i32; 4]", into = "[i32; 4]")]
pub struct FaceBox {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl FaceBox {
    pub fn new(x: i32, y: i32, width: i32, height: i32) -> FaceBox {
        FaceBox {
            x,
            y,
            width,
            height,
        }
    }

    pub fn right(&self) -> i32 {
        self.x + self.width
    }

    pub fn bottom(&self) -> i32 {
        self.y + self.height
    }

    /// Area in pixels; an empty or inverted box has none.
    pub fn area(&self) -> i32 {
        self.width.max(0) * self.height.max(0)
    }

    /// The shorter side: how big a face is, whatever its shape.
    pub fn shorter_side(&self) -> i32 {
        self.width.min(self.height)
    }

    /// Intersection over union, 0 (apart) to 1 (the same box).
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let width = (self.right().min(other.right()) - self.x.max(other.x)).max(0);
        let height = (self.bottom().min(other.bottom()) - self.y.max(other.y)).max(0);
        let inter = width * height;
        let union = self.area() + other.area() - inter;
        if union > 0 {
            inter as f32 / union as f32
        } else {
            0.0
        }
    }

    /// The part of the box inside a `width` x `height` image, if any.
    pub fn within(&self, width: i32, height: i32) -> Option<FaceBox> {
        let (left, top) = (self.x.clamp(0, width), self.y.clamp(0, height));
        let (right, bottom) = (self.right().clamp(0, width), self.bottom().clamp(0, height));
        (right > left && bottom > top).then(|| FaceBox::new(left, top, right - left, bottom - top))
    }

    pub fn to_rect(self) -> Rect {
        Rect::new(self.x, self.y, self.width, self.height)
    }
}

impl From<[i32; 4]> for FaceBox {
    fn from([x, y, width, height]: [i32; 4]) -> FaceBox {
        FaceBox::new(x, y, width, height)
    }
}

impl From<FaceBox> for [i32; 4] {
    fn from(b: FaceBox) -> [i32; 4] {
        [b.x, b.y, b.width, b.height]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_iou_and_clipping() {
        let a = FaceBox::new(0, 0, 10, 10);
        assert_eq!(a.area(), 100);
        assert_eq!(FaceBox::new(0, 0, -3, 10).area(), 0);
        assert_eq!(FaceBox::new(0, 0, 4, 9).shorter_side(), 4);
        assert!((a.iou(&FaceBox::new(5, 0, 10, 10)) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&FaceBox::new(20, 20, 5, 5)), 0.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(
            FaceBox::new(-5, 5, 10, 10).within(8, 8),
            Some(FaceBox::new(0, 5, 5, 3))
        );
        assert_eq!(FaceBox::new(9, 9, 5, 5).within(8, 8), None);
    }

    #[test]
    fn json_is_an_array() {
        let json = serde_json::to_string(&FaceBox::new(1, 2, 3, 4)).unwrap();
        assert_eq!(json, "[1,2,3,4]");
        assert_eq!(
            serde_json::from_str::<FaceBox>(&json).unwrap(),
            FaceBox::new(1, 2, 3, 4)
        );
    }
}
