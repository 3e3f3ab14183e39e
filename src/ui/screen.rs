//! Full screen: asked of the window manager, and done by hand where none grants it.

/// Whether the window covers the monitor, and its size before it did.
#[derive(Default)]
pub struct Screen {
    /// Full screen is on.
    pub fullscreen: bool,
    /// The window's size before it was stretched over the monitor by hand.
    windowed_size: Option<egui::Vec2>,
}

impl Screen {
    /// Turns full screen on or off.
    pub fn set_fullscreen(&mut self, ctx: &egui::Context, on: bool) {
        self.fullscreen = on;
        ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(on));
        if !on && let Some(size) = self.windowed_size.take() {
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        }
    }

    /// Full screen on if off, off if on.
    pub fn toggle(&mut self, ctx: &egui::Context) {
        self.set_fullscreen(ctx, !self.fullscreen);
    }

    /// Without a window manager (a kiosk, a bare X server) full screen is not granted: cover
    /// the monitor by hand instead.
    ///
    /// Asked again on each frame until the window does cover it: the commands of a frame whose
    /// pass is discarded (the booth screen re-lays out a frame whose height changed) are lost.
    /// Only on frames that come anyway (the countdown's, a resize's): a window manager that
    /// never grants the size must not cause a repaint loop.
    pub fn cover_monitor_if_needed(&mut self, ctx: &egui::Context) {
        if !self.fullscreen {
            return;
        }
        let (monitor, inner) = ctx.input(|i| (i.viewport().monitor_size, i.viewport().inner_rect));
        if let (Some(monitor), Some(inner)) = (monitor, inner)
            && (inner.width() < monitor.x - 2.0 || inner.height() < monitor.y - 2.0)
        {
            self.windowed_size.get_or_insert(inner.size());
            ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(egui::pos2(0.0, 0.0)));
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(monitor));
        }
    }
}
