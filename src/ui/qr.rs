//! The QR code of the verification link, as a texture drawn with crisp module edges.

use egui::{Color32, ColorImage, TextureHandle, TextureOptions, Ui, Vec2};
use qrcode::{Color, EcLevel, QrCode};

/// Modules of white border around the code; the QR spec asks for at least 4.
const QUIET_ZONE: usize = 4;

/// A QR texture for one link, built once and reused every frame.
pub struct QrImage {
    link: String,
    /// The accessible name (what a screen reader says, and what tests look for).
    alt: String,
    texture: TextureHandle,
    modules: usize,
    frames_shown: u32,
    /// The frame it was last drawn in (a frame can have passes that are never shown).
    last_frame: Option<u64>,
    /// The window size, in pixels, it was counted at: a resized window presents it anew.
    counted_at: Option<[u32; 2]>,
}

impl QrImage {
    /// Encodes `link`; `None` only if the link is too long for any QR code.
    pub fn new(ctx: &egui::Context, link: &str) -> Option<Self> {
        Self::labelled(ctx, link, format!("QR code for {link}"))
    }

    /// Encodes `payload` under the accessible name `alt` (for payloads that must not be read
    /// out, such as a Wi-Fi password).
    pub fn labelled(ctx: &egui::Context, payload: &str, alt: String) -> Option<Self> {
        let link = payload;
        // Level M survives a smudged or glaring screen and still gives large modules.
        let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).ok()?;
        let image = to_image(&code);
        let modules = image.size[0];
        let texture = ctx.load_texture("verification-qr", image, TextureOptions::NEAREST);
        Some(Self {
            link: link.to_owned(),
            alt,
            texture,
            modules,
            frames_shown: 0,
            last_frame: None,
            counted_at: None,
        })
    }

    /// The link this QR carries.
    pub fn link(&self) -> &str {
        &self.link
    }

    /// Draws the code at most `max_side` points wide, snapped to whole pixels per module so
    /// that every module has the same size on screen.
    pub fn show(&mut self, ui: &mut Ui, max_side: f32) -> egui::Response {
        // On the second frame with this code, the first one has been presented: say so, for
        // screenshot tests and for support logs.
        let ctx = ui.ctx();
        let window = ctx.content_rect().size() * ctx.pixels_per_point();
        // Whole pixels: float sizes of the same window compare equal after rounding.
        let window = [window.x.round() as u32, window.y.round() as u32];
        if self.counted_at != Some(window) {
            self.counted_at = Some(window);
            self.frames_shown = 0;
        }
        let frame = ctx.cumulative_frame_nr();
        if self.last_frame != Some(frame) {
            self.last_frame = Some(frame);
            self.frames_shown = self.frames_shown.saturating_add(1);
        }
        if self.frames_shown == 2 {
            let window = format!("{}x{}", window[0], window[1]);
            if self.alt.starts_with("QR code for ") {
                tracing::info!(%window, link = %self.link, "verification QR presented");
            } else {
                tracing::info!(%window, name = %self.alt, "QR presented");
            }
        }
        let pixels_per_point = ui.ctx().pixels_per_point();
        let max_pixels = (max_side * pixels_per_point).max(self.modules as f32);
        let pixels_per_module = (max_pixels / self.modules as f32).floor().max(1.0);
        let side = pixels_per_module * self.modules as f32 / pixels_per_point;
        ui.add(
            egui::Image::new(&self.texture)
                .fit_to_exact_size(Vec2::splat(side))
                .alt_text(self.alt.clone()),
        )
    }
}

/// One pixel per module, dark on white, with the quiet zone.
fn to_image(code: &QrCode) -> ColorImage {
    let width = code.width();
    let side = width + 2 * QUIET_ZONE;
    let mut pixels = vec![Color32::WHITE; side * side];
    for (index, color) in code.to_colors().into_iter().enumerate() {
        if color == Color::Dark {
            let (row, col) = (index / width, index % width);
            pixels[(row + QUIET_ZONE) * side + col + QUIET_ZONE] = Color32::BLACK;
        }
    }
    ColorImage::new([side, side], pixels)
}

/// The QR code as text for a terminal: two modules per character cell, with a quiet zone.
pub fn to_terminal(link: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_has_a_quiet_zone_and_dark_modules() {
        let code = QrCode::new(b"http://127.0.0.1:4000/pair/204518").unwrap();
        let image = to_image(&code);
        let side = code.width() + 2 * QUIET_ZONE;
        assert_eq!(image.size, [side, side]);
        // Border rows are all white; the top-left finder pattern starts dark.
        assert!(
            image.pixels[..side * QUIET_ZONE]
                .iter()
                .all(|p| *p == Color32::WHITE)
        );
        assert_eq!(image.pixels[QUIET_ZONE * side + QUIET_ZONE], Color32::BLACK);
    }

    #[test]
    fn terminal_rendering_is_square_enough_to_scan() {
        let text = to_terminal("https://next.frame.io/pair/204518").unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert_eq!(lines.len(), width.div_ceil(2));
    }
}
