//! The `free` strategy: every host of a batch goes through the play's sections and handlers
//! on its own, without waiting for the other hosts between tasks. Each host runs in a
//! one-host runner on a worker thread (at most `forks` at once); run events travel to the
//! calling thread, which prints them as they come (a task's banner once per run of hosts
//! reaching it). `hostvars` of the other hosts read their state as of the batch's start.

use super::context::{self, PlayCtx};
use super::host::HostState;
use super::result::HostResult;
use super::tags::TagFilter;
use super::workers::Workers;
use super::Runner;
use crate::executor::Stats;
use crate::output::Reporter;
use crate::playbook::Play;
use crate::yaml::Span;
use anyhow::{anyhow, Result};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

/// A run event, sent from a host's worker to the printing thread.
enum Event {
    TaskStart(String, bool, Span),
    Result(Box<HostResult>, u8),
    Included(String, Vec<String>, Option<String>),
    Warning(String),
    Meta(String, u8),
}

/// The reporter a one-host runner writes to.
struct Forward {
    tx: Sender<(usize, Event)>,
    worker: usize,
}

impl Forward {
    fn send(&self, e: Event) {
        // The receiver lives until every worker is done; a send cannot fail before that.
        let _ = self.tx.send((self.worker, e));
    }
}

impl Reporter for Forward {
    fn play_start(&mut self, _name: &str, _hosts: &[String]) {}
    fn task_start(&mut self, name: &str, handler: bool, at: &Span) {
        self.send(Event::TaskStart(name.to_string(), handler, at.clone()));
    }
    fn host_result(&mut self, result: &HostResult, verbosity: u8) {
        self.send(Event::Result(Box::new(result.clone()), verbosity));
    }
    fn warning(&mut self, msg: &str) {
        self.send(Event::Warning(msg.to_string()));
    }
    fn meta(&mut self, line: &str, verbosity: u8) {
        self.send(Event::Meta(line.to_string(), verbosity));
    }
    fn included(&mut self, file: &str, hosts: &[&str], label: Option<&str>) {
        self.send(Event::Included(
            file.to_string(),
            hosts.iter().map(|h| h.to_string()).collect(),
            label.map(str::to_string),
        ));
    }
    fn recap(&mut self, _stats: &[(String, Stats)]) {}
}

/// What a host's worker hands back: the host, and whether the play was ended or interrupted.
struct Done {
    index: usize,
    host: HostState,
    end_play: bool,
    interrupted: bool,
    error: Option<anyhow::Error>,
}

impl<'a> Runner<'a> {
    /// Runs one batch under `strategy: free`; returns true when interrupted.
    pub(super) fn run_batch_free(
        &mut self,
        play: &Play,
        batch: &[usize],
        tags: &TagFilter,
        reporter: &mut dyn Reporter,
        pc: &PlayCtx,
    ) -> Result<bool> {
        let peers = Arc::new(context::hostvars_over(&self.hosts, &pc.extra, None));
        let shape = &self.shape;
        // Take the live hosts out; each goes to a worker and comes back when it is done.
        let mut queue: Vec<(usize, HostState)> = Vec::new();
        for &i in batch.iter().rev() {
            if self.hosts[i].active() {
                // Its connection leaves the batch's budget while it runs on its own.
                let held = std::mem::take(&mut self.hosts[i].held_fds);
                self.held
                    .fetch_sub(held, std::sync::atomic::Ordering::SeqCst);
                let placeholder =
                    HostState::new(self.hosts[i].name.clone(), Default::default(), &[]);
                queue.push((i, std::mem::replace(&mut self.hosts[i], placeholder)));
            }
        }
        let workers = self.workers.count().clamp(1, queue.len().max(1));
        // The status line counts hosts through the whole play here, not tasks.
        let live = self.live.as_deref();
        if let Some(c) = live {
            c.begin_hosts(
                &format!("PLAY [{}] (strategy free)", play.name),
                queue.len(),
            );
        }
        let queue = Mutex::new(queue);
        let done: Mutex<Vec<Done>> = Mutex::new(Vec::new());
        let (tx, rx) = channel::<(usize, Event)>();
        let (inventory, settings, omit, start_at) = (
            self.inventory.clone(),
            self.settings,
            self.omit.clone(),
            self.start_at.clone(),
        );
        std::thread::scope(|s| {
            for w in 0..workers {
                let tx = tx.clone();
                let (queue, done, peers, omit, start_at) =
                    (&queue, &done, peers.clone(), omit.clone(), start_at.clone());
                let inventory = inventory.clone();
                s.spawn(move || {
                    loop {
                        let next = queue.lock().ok().and_then(|mut q| q.pop());
                        let Some((index, host)) = next else { break };
                        if let Some(c) = live {
                            c.host_started();
                        }
                        let mut one = Runner {
                            inventory: inventory.clone(),
                            settings,
                            hosts: vec![host],
                            workers: Workers::new(1),
                            omit: omit.clone(),
                            end_play: false,
                            start_at: start_at.clone(),
                            include_depth: 0,
                            in_handler: false,
                            batch_down: Vec::new(),
                            peers: Some(peers.clone()),
                            step: false,
                            stopped: false,
                            prompted: pc.prompted.clone(),
                            live: None,
                            shape: shape.clone(),
                            batch: Vec::new(),
                            play_all: Vec::new(),
                            rescue_depth: 0,
                            cleared: 0,
                            reload_inventory: None,
                            dynamic: Vec::new(),
                            fatal: None,
                            // One host through the whole play: it keeps its connection until
                            // it is done (the workers bound how many run at once); the batch's
                            // budget decides after.
                            held: std::sync::atomic::AtomicUsize::new(0),
                            held_cap: usize::MAX,
                        };
                        let mut out = Forward {
                            tx: tx.clone(),
                            worker: w,
                        };
                        let mut pc = pc.clone();
                        let res = one.run_sections(play, &[0], tags, &mut out, &mut pc);
                        let (interrupted, error) = match res {
                            Ok(i) => (i, None),
                            Err(e) => (false, Some(e)),
                        };
                        let end_play = one.end_play;
                        let host = one.hosts.swap_remove(0);
                        if let Some(c) = live {
                            c.host_done(host.failed || host.unreachable);
                        }
                        if let Ok(mut d) = done.lock() {
                            d.push(Done {
                                index,
                                host,
                                end_play,
                                interrupted,
                                error,
                            });
                        }
                    }
                });
            }
            drop(tx);
            // Print events as they arrive; a banner again only when another task's results
            // follow.
            let mut printed: Option<(String, bool, Span)> = None;
            let mut current: Vec<Option<(String, bool, Span)>> = vec![None; workers];
            let mut warned: Vec<String> = Vec::new();
            for (w, ev) in rx {
                match ev {
                    Event::TaskStart(name, handler, at) => current[w] = Some((name, handler, at)),
                    Event::Result(r, verbosity) => {
                        if current[w].is_some() && current[w] != printed {
                            if let Some((name, handler, at)) = &current[w] {
                                reporter.task_start(name, *handler, at);
                            }
                            printed = current[w].clone();
                        }
                        reporter.host_result(&r, verbosity);
                    }
                    Event::Included(file, hosts, label) => {
                        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
                        reporter.included(&file, &names, label.as_deref());
                    }
                    // The same warning from every host's runner is printed once.
                    Event::Warning(m) => {
                        if !warned.contains(&m) {
                            reporter.warning(&m);
                            warned.push(m);
                        }
                    }
                    Event::Meta(line, verbosity) => reporter.meta(&line, verbosity),
                }
            }
        });
        if let Some(c) = live {
            c.end();
        }
        // Hosts no worker took (none could start) come back untouched.
        for (i, h) in queue.into_inner().unwrap_or_default() {
            self.hosts[i] = h;
        }
        let done = done
            .into_inner()
            .map_err(|_| anyhow!("a free-strategy worker panicked"))?;
        let mut interrupted = false;
        let mut first_error = None;
        for d in done {
            self.hosts[d.index] = d.host;
            let h = &mut self.hosts[d.index];
            // Counted by its one-host runner until now; the batch's budget decides.
            h.held_fds = 0;
            super::descriptors::keep_or_close(h, &self.held, self.held_cap);
            self.end_play |= d.end_play;
            interrupted |= d.interrupted;
            if first_error.is_none() {
                first_error = d.error;
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(interrupted)
    }
}
