//! Load with faults: one run over 100 test hosts, a quarter of which fail in one way or
//! another (a failing task, a failure rescued by a block, sshd killed mid-run, sshd never
//! there, sshd stopped before the run), the hosts picked by a seeded generator. The run must
//! end in bounded time with exactly the expected recap for every host, the exit code of a run
//! with failures, the right state on every host, bounded controller memory, and no drover
//! process left. And Ctrl-C over 100 hosts, twice as many as workers: the hosts running the
//! task finish it, the others do not start it, and nothing later starts.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::background::{drover_processes, wait_for, Background};
use support::hosts::TestHosts;
use support::{recap, s, write, Recap};

const HOSTS: usize = 100;

/// What happens to a host during the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    Healthy,
    /// The health check fails on it (`fail_task`).
    TaskFails,
    /// A task inside a block fails and the block's `rescue` succeeds (`rescue_me`).
    Rescued,
    /// Its sshd and sessions are killed while the `victim` task runs there.
    KilledMidRun,
    /// Its sshd is gone before the run: connections are refused.
    Refused,
    /// Its sshd is stopped (SIGSTOP) before the run: TCP connects, the handshake never
    /// answers, and the connect timeout ends the wait.
    Stopped,
}

/// xorshift64*, seeded: the same hosts fail the same way in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn fates() -> Vec<Fate> {
    let mut order: Vec<usize> = (0..HOSTS).collect();
    let mut rng = Rng(0x5eed_d20e_7e57_1234);
    for i in (1..order.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut fates = vec![Fate::Healthy; HOSTS];
    let faults = [
        (Fate::TaskFails, 7),
        (Fate::Rescued, 6),
        (Fate::KilledMidRun, 6),
        (Fate::Refused, 3),
        (Fate::Stopped, 3),
    ];
    let mut picked = order.into_iter();
    for (fate, n) in faults {
        for i in picked.by_ref().take(n) {
            fates[i] = fate;
        }
    }
    fates
}

const PLAYBOOK: &str = r#"
- hosts: test
  gather_facts: no
  tasks:
    - file: {path: /srv/app, state: directory, mode: "0755"}
    - copy: {content: "static {{ inventory_hostname }}\n", dest: /srv/app/static.txt}
      notify: restart app
    - template: {src: app.conf.j2, dest: /srv/app/app.conf, mode: "0640"}
      notify: restart app
    - name: health check
      command: "{{ 'false' if fail_task else 'true' }}"
      changed_when: false
    - name: victim waits to be killed
      shell: touch /tmp/victim-waiting; sleep 30
      when: victim
    - block:
        - command: "{{ 'false' if rescue_me else 'true' }}"
          changed_when: false
      rescue:
        - copy: {content: "rescued\n", dest: /srv/app/rescued}
    - lineinfile: {path: /srv/app/app.conf, line: "extra=1"}
    - command: cat /srv/app/app.conf
      register: conf
      changed_when: false
    - assert:
        that: "('port=' ~ app_port) in conf.stdout"
    - file: {path: /srv/app/done, state: touch}
  handlers:
    - name: restart app
      shell: cat /srv/app/app.conf > /srv/app/restarted
"#;

/// A boolean as an INI inventory writes it (`ast.literal_eval`: `false` would be a string).
fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

const TEMPLATE: &str = "# {{ inventory_hostname }}\nport={{ app_port }}\n";

/// The recap each fate must produce, counted by hand from the playbook (Ansible's rules: a
/// skipped task counts only as skipped, a rescued failure as rescued, a handler as a task).
fn expected(f: Fate) -> Recap {
    let r = |ok, changed, unreachable, failed, skipped, rescued| Recap {
        ok,
        changed,
        unreachable,
        failed,
        skipped,
        rescued,
        ignored: 0,
    };
    match f {
        // file, copy, template, check, block task, lineinfile, cat, assert, touch, handler.
        Fate::Healthy => r(10, 6, 0, 0, 1, 0),
        Fate::TaskFails => r(3, 3, 0, 1, 0, 0),
        // The failed block task is replaced by the rescue's copy (changed).
        Fate::Rescued => r(10, 7, 0, 0, 1, 1),
        Fate::KilledMidRun => r(4, 3, 1, 0, 0, 0),
        Fate::Refused | Fate::Stopped => r(0, 0, 1, 0, 0, 0),
    }
}

/// The two tests each bring up 100 hosts; they run one after the other so that neither
/// measures the other's load.
static ONE_HUNDRED: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_hundred_hosts_with_a_quarter_failing_end_with_exact_recaps_and_state() {
    let _one_at_a_time = ONE_HUNDRED.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let Some(hosts) = TestHosts::up(HOSTS) else {
        return;
    };
    let start_time = t0.elapsed();
    let fates = fates();
    let dir = hosts.dir.path();
    write(dir, "templates/app.conf.j2", TEMPLATE);
    let pb = write(dir, "pb.yml", PLAYBOOK);
    let mut inv = String::from("[test]\n");
    for (i, h) in hosts.hosts.iter().enumerate() {
        let f = fates[i];
        inv.push_str(&format!(
            "h{i} ansible_host=127.0.0.1 ansible_port={} ansible_user=root ansible_ssh_private_key_file={} app_port={} fail_task={} rescue_me={} victim={}\n",
            h.port,
            s(&hosts.key),
            8000 + i,
            py(f == Fate::TaskFails),
            py(f == Fate::Rescued),
            py(f == Fate::KilledMidRun),
        ));
    }
    let inv = write(dir, "inventory.ini", &inv);
    for (i, f) in fates.iter().enumerate() {
        match f {
            Fate::Refused => hosts.signal(i, "KILL"),
            Fate::Stopped => hosts.signal(i, "STOP"),
            _ => {}
        }
    }
    let mut cmd = support::drover();
    cmd.arg("play")
        .arg("-i")
        .arg(&inv)
        .arg(&pb)
        .arg("--known-hosts")
        .arg(hosts.known_hosts())
        // The connect timeout ends the stopped hosts' wait; 15 s, not less: with 50 handshakes
        // at once on a machine busy with other tests, a healthy host's can take over 5 s.
        .args(["--host-key-checking", "accept-new", "--timeout", "15"]);
    let run = Background::start(&mut cmd);
    // Each victim's sshd and sessions die once its `victim` task has started there.
    let victims: Vec<usize> = (0..HOSTS)
        .filter(|i| fates[*i] == Fate::KilledMidRun)
        .collect();
    let ended = std::sync::atomic::AtomicBool::new(false);
    let killed = std::thread::scope(|sc| {
        let killer = sc.spawn(|| {
            let mut left = victims.clone();
            while !left.is_empty() && !ended.load(std::sync::atomic::Ordering::SeqCst) {
                left.retain(|&i| {
                    if hosts.path(i, "/tmp/victim-waiting").exists() {
                        hosts.signal(i, "KILL");
                        false
                    } else {
                        true
                    }
                });
                std::thread::sleep(Duration::from_millis(20));
            }
            victims.len() - left.len()
        });
        let done = run.wait(Duration::from_secs(180));
        ended.store(true, std::sync::atomic::Ordering::SeqCst);
        (killer.join().expect("killer thread"), done)
    });
    let (killed, done) = killed;
    eprintln!(
        "load: {HOSTS} hosts started in {:.1} s; run took {:.1} s; peak controller RSS {} KiB",
        start_time.as_secs_f64(),
        done.wall.as_secs_f64(),
        done.peak_rss_kib
    );
    assert_eq!(
        killed,
        victims.len(),
        "not every victim was reached\n{}",
        done.stdout
    );
    assert_eq!(
        done.code, 2,
        "a run with failed hosts exits 2\n{}",
        done.stdout
    );
    assert!(
        done.wall < Duration::from_secs(60),
        "run took {:?}",
        done.wall
    );
    assert!(done.peak_rss_kib > 0, "no memory sample");
    assert!(
        done.peak_rss_kib < 150 * 1024,
        "peak RSS {} KiB",
        done.peak_rss_kib
    );
    let mut wrong = BTreeMap::new();
    for (i, f) in fates.iter().enumerate() {
        let got = recap(&done.stdout, &format!("h{i}"));
        if got != expected(*f) {
            wrong.insert(i, (*f, got, expected(*f)));
        }
    }
    assert!(
        wrong.is_empty(),
        "recaps differ (host: fate, got, expected): {wrong:#?}"
    );
    for (i, f) in fates.iter().enumerate() {
        check_state(&hosts, i, *f);
    }
    assert!(drover_processes(s(dir)).is_empty());
}

/// The files on host `i` after the run, for its fate.
fn check_state(hosts: &TestHosts, i: usize, f: Fate) {
    let read = |p: &str| std::fs::read_to_string(hosts.path(i, p)).ok();
    let exists = |p: &str| hosts.path(i, p).exists();
    let conf = format!("# h{i}\nport={}\n", 8000 + i);
    match f {
        Fate::Healthy | Fate::Rescued => {
            assert_eq!(read("/srv/app/static.txt"), Some(format!("static h{i}\n")));
            let full = format!("{conf}extra=1\n");
            assert_eq!(read("/srv/app/app.conf").as_deref(), Some(full.as_str()));
            let (_, mode) = hosts.sh(i, "stat -c %a /srv/app/app.conf");
            assert_eq!(mode.trim(), "640", "host {i}");
            // The handler ran after the section, so it saw the final file.
            assert_eq!(read("/srv/app/restarted").as_deref(), Some(full.as_str()));
            assert!(exists("/srv/app/done"), "host {i}");
            assert_eq!(exists("/srv/app/rescued"), f == Fate::Rescued, "host {i}");
        }
        Fate::TaskFails | Fate::KilledMidRun => {
            // Everything before the failure, nothing after it, and no handler.
            assert_eq!(read("/srv/app/app.conf"), Some(conf), "host {i}");
            for p in ["/srv/app/rescued", "/srv/app/done", "/srv/app/restarted"] {
                assert!(!exists(p), "host {i} ({f:?}) has {p}");
            }
            assert_eq!(exists("/tmp/victim-waiting"), f == Fate::KilledMidRun);
        }
        Fate::Refused | Fate::Stopped => {
            assert!(!exists("/srv/app"), "host {i} ({f:?}) was changed");
        }
    }
}

#[test]
fn ctrl_c_over_a_hundred_hosts_lets_started_hosts_finish_and_starts_nothing_more() {
    let _one_at_a_time = ONE_HUNDRED.lock().unwrap_or_else(|e| e.into_inner());
    let Some(hosts) = TestHosts::up(HOSTS) else {
        return;
    };
    let dir = hosts.dir.path();
    let pb = write(
        dir,
        "pb.yml",
        "
- hosts: test
  gather_facts: no
  tasks:
    - file: {path: /tmp/one, state: touch}
    - shell: touch /tmp/sleeping; sleep 3; touch /tmp/slept
    - file: {path: /tmp/later, state: touch}
",
    );
    let mut cmd = support::drover();
    cmd.arg("play")
        .arg("-i")
        .arg(hosts.inventory("root", ""))
        .arg(&pb)
        .arg("--known-hosts")
        .arg(hosts.known_hosts())
        // A generous connect timeout: on a loaded machine 100 handshakes may queue.
        .args([
            "--host-key-checking",
            "accept-new",
            "--forks",
            "50",
            "--timeout",
            "30",
        ]);
    let run = Background::start(&mut cmd);
    let sleeping = |i: usize| hosts.path(i, "/tmp/sleeping").exists();
    assert!(wait_for(Duration::from_secs(60), || (0..HOSTS)
        .filter(|i| sleeping(*i))
        .count()
        >= 10));
    run.sigint();
    let done = run.wait(Duration::from_secs(60));
    eprintln!(
        "interrupted load: run took {:.1} s; peak controller RSS {} KiB; {} hosts started the task",
        done.wall.as_secs_f64(),
        done.peak_rss_kib,
        (0..HOSTS).filter(|i| sleeping(*i)).count()
    );
    assert_eq!(done.code, 99, "{}", done.stdout);
    let mut started = 0;
    for i in 0..HOSTS {
        let ran = sleeping(i);
        started += usize::from(ran);
        // A host that started the task finished it; none started the next one.
        assert_eq!(hosts.path(i, "/tmp/slept").exists(), ran, "host {i}");
        assert!(!hosts.path(i, "/tmp/later").exists(), "host {i}");
        let r = recap(&done.stdout, &format!("h{i}"));
        let n = if ran { 2 } else { 1 };
        assert_eq!(
            (r.ok, r.changed, r.failed, r.unreachable),
            (n, n, 0, 0),
            "host {i}"
        );
    }
    // 50 workers for 100 hosts: the hosts still waiting for one did not start the task.
    assert!(
        (10..=HOSTS / 2 + 10).contains(&started),
        "{started} hosts started it"
    );
    assert!(done.peak_rss_kib < 150 * 1024);
    assert!(drover_processes(s(dir)).is_empty());
}

/// A large file copied to ten hosts at `--forks 10` (ten transfers at once) is streamed: the
/// controller's memory stays flat (under 64 MiB, whatever the file's size), every host gets it
/// byte for byte, a second run changes nothing and `--check` predicts nothing; a source that is
/// a device (read forever) fails at once.
#[test]
fn copying_a_large_file_keeps_controller_memory_flat() {
    const SIZE: usize = 40 << 20;
    const N: usize = 10;
    let Some(hosts) = TestHosts::up(N) else {
        return;
    };
    let dir = hosts.dir.path();
    // Not compressible, not the same chunk twice: a counter in every 16 bytes.
    let mut data = Vec::with_capacity(SIZE);
    let mut i: u64 = 0;
    while data.len() < SIZE {
        data.extend_from_slice(&i.to_le_bytes());
        data.extend_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
        i += 1;
    }
    let big = dir.join("big.bin");
    std::fs::write(&big, &data).expect("write big.bin");
    let sum = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        data.hash(&mut h);
        h.finish()
    };
    drop(data);
    let pb = write(
        dir,
        "copy.yml",
        &format!(
            "- hosts: test\n  gather_facts: false\n  become: true\n  tasks:\n    - copy: src={} dest=/srv/big.bin mode=0640\n",
            big.display()
        ),
    );
    let inv = hosts.inventory("deploy", "");
    let kh = hosts.known_hosts();
    let play = |extra: &[&str]| {
        let mut cmd = support::drover();
        cmd.args([
            "play",
            "-f",
            "10",
            "-i",
            s(&inv),
            s(&pb),
            "--known-hosts",
            s(&kh),
        ])
        .args(["--host-key-checking", "accept-new"])
        .args(extra);
        Background::start(&mut cmd).wait(Duration::from_secs(300))
    };
    let first = play(&[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(
        first.peak_rss_kib < 64 * 1024,
        "controller peak {} KiB for a {} MiB file to {N} hosts",
        first.peak_rss_kib,
        SIZE >> 20
    );
    eprintln!("controller peak {} KiB", first.peak_rss_kib);
    for i in 0..N {
        let got = std::fs::read(hosts.path(i, "/srv/big.bin")).expect("copied");
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        got.hash(&mut h);
        assert!(
            got.len() == SIZE && h.finish() == sum,
            "h{i}: content differs"
        );
        assert_eq!(hosts.sh(i, "stat -c %a /srv/big.bin").1, "640\n");
        assert_eq!(recap(&first.stdout, &format!("h{i}")).changed, 1);
    }
    for extra in [&[][..], &["--check", "--diff"][..]] {
        let again = play(extra);
        assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
        for i in 0..2 {
            assert_eq!(
                recap(&again.stdout, &format!("h{i}")).changed,
                0,
                "{extra:?}"
            );
        }
    }
    // A device as the source: refused, not read forever.
    let dev = write(
        dir,
        "dev.yml",
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - copy: src=/dev/zero dest=/tmp/zero\n",
    );
    let mut cmd = support::drover();
    cmd.args(["play", "-i", s(&inv), s(&dev), "--known-hosts", s(&kh)])
        .args(["--host-key-checking", "accept-new"]);
    let done = Background::start(&mut cmd).wait(Duration::from_secs(60));
    assert_eq!(done.code, 2, "{}{}", done.stdout, done.stderr);
    assert!(
        done.stdout.contains("not a regular file"),
        "{}",
        done.stdout
    );
}
