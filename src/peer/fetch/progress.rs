//! The progress bar of a download: drawn on a terminal when asked for,
//! hidden otherwise, its rate counting only what this run fetched.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(super) fn progress_bar(size: u64, wanted: bool, resumed: u64) -> ProgressBar {
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
            "{msg:11} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::progress_bar;
    use std::time::Duration;

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
