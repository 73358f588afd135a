//! The progress bar of a download: drawn on a terminal when asked for,
//! hidden otherwise, its rate counting only what this run fetched.

use std::fmt::Write;
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// `ETA 5m` while bytes arrive; nothing while the download waits in
/// sources' queues (no rate to go by), or once it has stopped.
fn eta(state: &ProgressState, out: &mut dyn Write) {
    let left = state.len().unwrap_or(0).saturating_sub(state.pos());
    if let Some(time) = eta_of(left, state.per_sec(), state.is_finished()) {
        let _ = write!(out, "ETA {:#}", HumanDuration(time));
    }
}

/// The time `left` bytes take at `rate` bytes per second, when there is
/// something to wait for and a rate to go by.
fn eta_of(left: u64, rate: f64, finished: bool) -> Option<Duration> {
    if finished || left == 0 || !rate.is_finite() || rate < 1.0 {
        return None;
    }
    Some(Duration::from_secs_f64(left as f64 / rate)).filter(|d| !d.is_zero())
}

pub(crate) fn progress_bar(size: u64, wanted: bool, resumed: u64) -> ProgressBar {
    let target = match wanted {
        // indicatif draws nothing when stderr is not a terminal.
        true => ProgressDrawTarget::stderr(),
        false => ProgressDrawTarget::hidden(),
    };
    let bar = ProgressBar::with_draw_target(Some(size), target);
    bar.set_position(resumed);
    // What a resume found is no speed: the rate and ETA count from here.
    bar.reset_eta();
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:11} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta_known}",
        )
        .expect("valid progress template")
        .with_key("eta_known", eta)
        .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::{eta_of, progress_bar};
    use std::time::Duration;

    #[test]
    fn no_eta_while_nothing_arrives_or_once_stopped() {
        // Queued (no rate yet), stopped, or done: no "ETA 0s".
        assert_eq!(eta_of(1 << 20, 0.0, false), None);
        assert_eq!(eta_of(1 << 20, f64::NAN, false), None);
        assert_eq!(eta_of(1 << 20, 1e6, true), None);
        assert_eq!(eta_of(0, 1e6, false), None);
        assert_eq!(eta_of(4_000_000, 1e6, false), Some(Duration::from_secs(4)));
    }

    #[test]
    fn a_resumed_download_shows_the_rate_of_this_run() {
        let bar = progress_bar(2 << 30, false, 1 << 30);
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(20));
            bar.inc(20_000);
        }
        // About 1 MB/s here; the 1 GiB found on disk is not counted.
        assert!(bar.per_sec() < 10e6, "{} bytes/s", bar.per_sec());
        assert_eq!(bar.position(), (1 << 30) + 100_000);
    }
}
