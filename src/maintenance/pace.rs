//! How much of the machine a maintenance command takes.
//!
//! `airlock backup` and `airlock fsck` run beside a live server on the same
//! cores. Unpaced, they take every core for as long as they hash or walk,
//! and the server's requests wait behind them. Priorities (`nice`) do not
//! help reliably: with the kernel's autogroup scheduling, or a systemd
//! service in its own cgroup, the server and a command started from a
//! shell are weighed as equals whatever their nice values. So a paced
//! command limits itself: a number of worker threads, each of which, after
//! every slice of work, sleeps long enough that its work takes at most a
//! given share of the wall time.
//!
//! The work time is measured as wall time between steps (sleeps
//! excluded), so a worker that the scheduler preempted counts the wait as
//! work and sleeps more, never less: the share is an upper bound of the
//! CPU it takes.

use std::time::{Duration, Instant};

/// Worker threads, and the share of one core each may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    threads: usize,
    /// `None`: unpaced.
    share: Option<f64>,
}

/// Work is accounted in slices of this much before the matching sleep:
/// long enough that a sleep's own overhead does not matter, short enough
/// that a request arriving meanwhile waits at most this long for a core.
const SLICE: Duration = Duration::from_millis(5);

impl Pace {
    /// One thread per core (at most 8), never sleeping.
    pub fn full() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self {
            threads: cores.clamp(1, 8),
            share: None,
        }
    }

    /// At most `percent` of one core in all (150: one full thread and one
    /// at half). `percent` >= 100 × the cores, or 0, means [`Pace::full`].
    pub fn limited(percent: u32) -> Self {
        let full = Self::full();
        if percent == 0 || percent as usize >= 100 * full.threads {
            return full;
        }
        let threads = (percent as usize).div_ceil(100);
        Self {
            threads,
            share: Some(f64::from(percent) / 100.0 / threads as f64),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Whether the threads sleep to keep within a share.
    pub fn is_limited(&self) -> bool {
        self.share.is_some()
    }

    /// A per-thread [`Pacer`].
    pub fn pacer(&self) -> Pacer {
        Pacer {
            share: self.share,
            worked: Duration::ZERO,
            mark: Instant::now(),
        }
    }
}

impl Default for Pace {
    fn default() -> Self {
        Self::full()
    }
}

/// One thread's account: call [`Pacer::step`] after each item of work.
pub struct Pacer {
    share: Option<f64>,
    worked: Duration,
    mark: Instant,
}

impl Pacer {
    /// Account the work since the last step; sleep when a slice is full.
    pub fn step(&mut self) {
        let Some(share) = self.share else {
            return;
        };
        let now = Instant::now();
        self.worked += now - self.mark;
        if self.worked >= SLICE {
            std::thread::sleep(self.worked.mul_f64((1.0 - share) / share));
            self.worked = Duration::ZERO;
            self.mark = Instant::now();
        } else {
            self.mark = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_splits_the_percentage_over_threads() {
        let cores = Pace::full().threads();
        assert_eq!(Pace::limited(0), Pace::full());
        assert_eq!(Pace::limited(100 * cores as u32), Pace::full());
        let quarter = Pace::limited(25);
        assert_eq!((quarter.threads, quarter.share), (1, Some(0.25)));
        if cores >= 2 {
            let p = Pace::limited(150);
            assert_eq!((p.threads, p.share), (2, Some(0.75)));
        }
    }

    #[test]
    fn a_paced_worker_takes_at_most_its_share_of_the_wall_time() {
        let mut pacer = Pace::limited(25).pacer();
        let start = Instant::now();
        let mut busy = Duration::ZERO;
        while busy < Duration::from_millis(60) {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(200) {
                std::hint::black_box(0u64);
            }
            busy += t.elapsed();
            pacer.step();
        }
        let wall = start.elapsed();
        // 60 ms of work at a quarter share: at least 240 ms in all (less
        // one slice not yet slept for).
        assert!(
            wall >= Duration::from_millis(60 * 4) - SLICE * 4,
            "60 ms of work took only {wall:?} of wall time"
        );
    }

    #[test]
    fn an_unpaced_worker_never_sleeps() {
        let mut pacer = Pace::full().pacer();
        let start = Instant::now();
        for _ in 0..10_000 {
            pacer.step();
        }
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
