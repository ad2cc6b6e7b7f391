//! The workers a task's hosts run on: up to `n` threads at once, started for the task and
//! gone when it ends. Each takes the next host from a shared queue, so a slow host holds one
//! worker, never a batch. A pool of threads kept between tasks (rayon's) spins and yields the
//! CPU thousands of times while waiting for the next task: on a small controller that CPU is
//! the hosts' own (local test hosts) or the SSH sessions', and starting ten threads costs less.

use std::sync::Mutex;

/// How many hosts run a task at the same time.
#[derive(Clone, Copy, Debug)]
pub struct Workers {
    n: usize,
}

impl Workers {
    pub fn new(n: usize) -> Workers {
        Workers { n: n.max(1) }
    }

    pub fn count(&self) -> usize {
        self.n
    }

    /// `f` of every item, in the items' order, run on up to `n` threads (on the calling
    /// thread when only one would run). A panic in `f` is raised here once all have ended.
    pub fn map<T, R, F>(&self, items: &mut [T], f: F) -> Vec<R>
    where
        T: Send,
        R: Send,
        F: Fn(&mut T) -> R + Sync,
    {
        let threads = self.n.min(items.len());
        if threads <= 1 {
            return items.iter_mut().map(f).collect();
        }
        let len = items.len();
        let queue = Mutex::new(items.iter_mut().enumerate());
        let f = &f;
        let shared = &queue;
        let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    std::thread::Builder::new()
                        .name(format!("drover-worker-{w}"))
                        .spawn_scoped(s, move || {
                            let mut done = Vec::new();
                            loop {
                                let next = shared.lock().unwrap_or_else(|e| e.into_inner()).next();
                                let Some((i, item)) = next else { break };
                                done.push((i, f(item)));
                            }
                            done
                        })
                })
                .collect();
            let mut parts = Vec::with_capacity(threads);
            let mut panic = None;
            for h in handles {
                match h {
                    // The thread could not start: the others take its share.
                    Err(_) => {}
                    Ok(h) => match h.join() {
                        Ok(p) => parts.push(p),
                        Err(p) => panic = Some(p),
                    },
                }
            }
            if let Some(p) = panic {
                std::panic::resume_unwind(p);
            }
            parts
        });
        let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(len).collect();
        for (i, r) in parts.into_iter().flatten() {
            slots[i] = Some(r);
        }
        // No thread could start: what is left runs here.
        for (i, item) in queue.into_inner().unwrap_or_else(|e| e.into_inner()) {
            slots[i] = Some(f(item));
        }
        slots.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Results keep the items' order; no more than `n` run at once, and all of them do.
    #[test]
    fn maps_in_order_with_at_most_n_at_once() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let mut items: Vec<usize> = (0..40).collect();
        let out = Workers::new(4).map(&mut items, |x| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            *x += 1;
            *x * 2
        });
        assert_eq!(out, (1..=40).map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(items, (1..=40).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 4);
        assert!(most.load(Ordering::SeqCst) > 1, "ran one at a time");
        assert!(Workers::new(3).map(&mut Vec::<u8>::new(), |_| 0).is_empty());
    }

    #[test]
    fn a_panic_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| {
            Workers::new(2).map(&mut [1, 2, 3], |x| {
                assert!(*x != 2, "boom");
                *x
            })
        });
        assert!(r.is_err());
    }
}
