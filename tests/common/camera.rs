//! A camera for the browser's tests: Chromium's fake capture device plays a Y4M clip made at
//! test time from real photos, as a webcam would show them (no webcam on these machines).

use std::io::Write as _;
use std::path::Path;

use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;
use whoisit::demo::synth::ClipSpec;

/// Writes `clip` as a YUV4MPEG2 file (4:2:0, the layout Chromium's fake camera reads): a
/// header, then each frame as `FRAME` and its Y, U and V planes.
pub(crate) fn write_y4m(clip: &ClipSpec, path: &Path) {
    assert!(
        clip.width % 2 == 0 && clip.height % 2 == 0,
        "4:2:0 needs even sides"
    );
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg",
        clip.width, clip.height, clip.fps as u32
    )
    .unwrap();
    for index in 0..clip.frames {
        let mut planes = Mat::default();
        imgproc::cvt_color(
            &clip.render(index).unwrap(),
            &mut planes,
            imgproc::COLOR_BGR2YUV_I420,
            0,
        )
        .unwrap();
        out.write_all(b"FRAME\n").unwrap();
        out.write_all(planes.data_bytes().unwrap()).unwrap();
    }
    out.flush().unwrap();
}

/// The browser's switches that make `clip` its camera, allowed without asking.
pub(crate) fn switches(clip: &Path) -> [String; 3] {
    [
        "--use-fake-device-for-media-stream".to_owned(),
        "--use-fake-ui-for-media-stream".to_owned(),
        format!("--use-file-for-fake-video-capture={}", clip.display()),
    ]
}
