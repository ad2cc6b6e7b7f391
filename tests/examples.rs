//! The shipped examples work as documented without any special machine: the README's first
//! command (`drover play -i inventory/local.ini playbooks/site.yml --check --diff`) changes
//! nothing and exits 0, a real local run converges under a root of our own and a second run
//! changes nothing, and the production and staging inventories give every playbook the hosts
//! it is meant to have. The `deploy/` job-engine examples agree on their shard counts, and
//! their worker script shards and merges. (`tests/e2e_examples.rs` runs the playbooks on test
//! hosts.)

mod support;

use std::path::Path;
use support::{drover, recap, run, s, snapshot};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn drover_in_repo(args: &[&str]) -> (i32, String, String) {
    run(drover().current_dir(repo()).args(args))
}

fn local_site(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["play", "-i", "inventory/local.ini", "playbooks/site.yml"];
    all.extend_from_slice(args);
    drover_in_repo(&all)
}

/// What a real run of the local example creates under its `example_root`.
const EXAMPLE_TOP: &[&str] = &["app/", "log/", "nginx/"];

#[test]
fn readme_first_command_previews_without_changing_anything() {
    // Left over from a real run of the example with the default root: safe to remove.
    let default_root = Path::new("/tmp/drover-example");
    let existing = snapshot(default_root);
    let only_ours = existing
        .iter()
        .all(|(p, _)| EXAMPLE_TOP.iter().any(|t| p.starts_with(t)));
    if default_root.exists() && only_ours {
        std::fs::remove_dir_all(default_root).unwrap();
    }

    // The README's command, verbatim.
    let (code, out, err) = local_site(&["--check", "--diff"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    if only_ours {
        assert!(
            !default_root.exists(),
            "--check created {}\n{out}",
            default_root.display()
        );
    } else {
        assert_eq!(snapshot(default_root), existing, "--check changed files");
    }
    for shown in [
        "+port = 8080",
        "+colour = blue",
        "+env = local",
        "+    server localhost:8080 max_fails=3 fail_timeout=10s;",
    ] {
        assert!(out.contains(shown), "--diff shows `{shown}`\n{out}");
    }
    let r = recap(&out, "localhost");
    assert!(r.changed > 0, "{out}");
    assert_eq!((r.failed, r.unreachable), (0, 0), "{out}");
}

#[test]
fn local_example_deploys_under_its_root_and_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("example");
    let ev = format!("example_root={}", s(&root));

    let (code, out, err) = local_site(&["-e", &ev, "--check"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!root.exists(), "--check created {}", root.display());

    let (code, out, err) = local_site(&["-e", &ev]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let first = recap(&out, "localhost");
    assert!(first.changed >= 8, "{out}");
    assert_eq!((first.failed, first.unreachable), (0, 0), "{out}");

    let release = root.join("app/releases/1.4.2");
    assert_eq!(
        std::fs::read_link(root.join("app/current")).unwrap(),
        release
    );
    assert_eq!(
        std::fs::read_to_string(release.join("VERSION")).unwrap(),
        "1.4.2\n"
    );
    use std::os::unix::fs::PermissionsExt;
    for prog in ["server", "healthcheck"] {
        let p = release.join("bin").join(prog);
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(repo().join("roles/app/files/release/bin").join(prog)).unwrap()
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755, "{prog}");
    }
    let conf = std::fs::read_to_string(root.join("app/shared/app.conf")).unwrap();
    assert_eq!(
        conf.split_once('\n').unwrap().1,
        format!(
            "name = web\nenv = local\nversion = 1.4.2\ncolour = blue\nport = 8080\nworkers = 2\n\
             log_level = info\nlog_dir = {}/log\n",
            s(&root)
        )
    );
    assert!(root.join("log").is_dir());
    let site = std::fs::read_to_string(root.join("nginx/sites-enabled/app.conf")).unwrap();
    assert!(
        site.contains(
            "upstream app_backend {\n    server localhost:8080 max_fails=3 fail_timeout=10s;\n}\n"
        ),
        "{site}"
    );

    // The release's own programs work: the server refuses a bad config and reports health.
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let bad = tmp.path().join("bad.conf");
    std::fs::write(&bad, "port = 0\n").unwrap();
    let server = root.join("app/current/bin/server");
    let (code, _, err) = run(std::process::Command::new(&server).arg(&bad).arg(&state));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("port 0 is out of range"), "{err}");
    let (code, _, _) =
        run(std::process::Command::new(root.join("app/current/bin/healthcheck")).arg(&state));
    assert_eq!(code, 1, "no server: unhealthy");

    // Converged: a second run and a check run change nothing.
    let deployed = snapshot(&root);
    for args in [vec!["-e", ev.as_str()], vec!["-e", ev.as_str(), "--check"]] {
        let (code, out, err) = local_site(&args);
        assert_eq!(code, 0, "{args:?}: stdout:\n{out}\nstderr:\n{err}");
        assert_eq!(recap(&out, "localhost").changed, 0, "{args:?}:\n{out}");
        assert_eq!(snapshot(&root), deployed, "{args:?}");
    }
}

/// `--list-hosts`: the hosts of each play, in order.
fn listed_hosts(args: &[&str]) -> Vec<Vec<String>> {
    let mut all = vec!["play", "--list-hosts"];
    all.extend_from_slice(args);
    let (code, out, err) = drover_in_repo(&all);
    assert_eq!(code, 0, "{args:?}:\n{out}{err}");
    let mut plays = Vec::new();
    let mut lines = out.lines().peekable();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with("hosts (") {
            let mut hosts = Vec::new();
            while let Some(h) = lines.next_if(|h| h.starts_with("      ")) {
                hosts.push(h.trim().to_string());
            }
            plays.push(hosts);
        }
    }
    plays
}

fn names(env: &str, short: &[&str]) -> Vec<String> {
    short
        .iter()
        .map(|h| format!("{h}.{env}.example.com"))
        .collect()
}

#[test]
fn production_and_staging_inventories_give_each_playbook_its_hosts() {
    for (inv, env) in [
        ("inventory/production.ini", "prod"),
        ("inventory/staging.yml", "staging"),
    ] {
        let prod = env == "prod";
        let n = |short: &[&str]| names(env, short);
        let web = if prod {
            n(&["web1", "web2", "web3", "web4"])
        } else {
            n(&["web1", "web2"])
        };
        let app: Vec<String> = if prod {
            n(&[
                "web1", "web2", "web3", "web4", "api1", "api2", "worker1", "worker2",
            ])
        } else {
            n(&["web1", "web2", "api1", "worker1"])
        };
        let mut every = app.clone();
        every.extend(n(&["db1", "lb1"]));
        let site = listed_hosts(&["-i", inv, "playbooks/site.yml"]);
        let mut sorted = site[0].clone();
        sorted.sort();
        let mut want = every.clone();
        want.sort();
        assert_eq!(sorted, want, "{inv}: base on every machine");
        assert_eq!(site[1], n(&["db1"]), "{inv}");
        assert_eq!(site[2], app, "{inv}");
        assert_eq!(site[3], n(&["lb1"]), "{inv}");
        assert_eq!(
            listed_hosts(&["-i", inv, "playbooks/rolling.yml"]),
            vec![app.clone()],
            "{inv}"
        );
        let green: Vec<String> = web[web.len() / 2..].to_vec();
        assert_eq!(
            listed_hosts(&[
                "-i",
                inv,
                "playbooks/blue-green.yml",
                "-e",
                "new_colour=green"
            ]),
            vec![green, n(&["lb1"])],
            "{inv}"
        );
    }
    assert_eq!(
        listed_hosts(&["-i", "inventory/image.ini", "playbooks/bake-image.yml"]),
        vec![vec!["web-image".to_string()]]
    );
    assert_eq!(
        listed_hosts(&["-i", "inventory/local.ini", "playbooks/site.yml"]),
        [
            vec!["localhost"],
            vec![],
            vec!["localhost"],
            vec!["localhost"]
        ]
    );

    // group_vars/ and host_vars/ beside the inventories: role group, colour, environment, host.
    let host = |inv: &str, h: &str| {
        let (code, out, err) = drover_in_repo(&["inventory", "-i", inv, "--host", h]);
        assert_eq!(code, 0, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v
    };
    let v = host("inventory/production.ini", "web3.prod.example.com");
    assert_eq!(v["app_name"], "web");
    assert_eq!(v["app_colour"], "green");
    assert_eq!(v["app_env"], "production");
    assert_eq!(v["ansible_user"], "deploy");
    assert_eq!(v["lb_live_colour"], "blue");
    let v = host("inventory/production.ini", "lb1.prod.example.com");
    assert_eq!(v["lb_listen_port"], 8000, "host_vars beats group_vars");
    let v = host("inventory/staging.yml", "worker1.staging.example.com");
    assert_eq!(v["app_workers"], 8);
    assert_eq!(v["app_log_level"], "debug");
    assert_eq!(v["ansible_host"], "10.1.3.11");
}

#[test]
fn readme_module_list_is_the_one_drover_doc_prints() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["doc", "--list", "--markdown"])
        .output()
        .expect("run drover doc");
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("<!-- generated by `drover doc --list --markdown`")
        .expect("the README marks its generated module list");
    let body = &readme[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let end = body
        .find("<!-- end of the generated list -->")
        .expect("the generated list ends with its marker");
    assert_eq!(
        &body[..end],
        generated,
        "README.md's module list differs from `drover doc --list --markdown`: paste its output"
    );
}

/// A YAML file of the repository as a value.
fn yaml_file(rel: &str) -> minijinja::Value {
    let docs = drover::yaml::load_file(&repo().join(rel)).unwrap();
    drover::yaml::node_to_value(&docs[0])
}

fn at(v: &minijinja::Value, path: &str) -> minijinja::Value {
    path.split('.')
        .fold(v.clone(), |v, k| match k.parse::<usize>() {
            Ok(i) => v.get_item(&minijinja::Value::from(i)).unwrap(),
            Err(_) => v.get_attr(k).unwrap(),
        })
}

/// The job-engine examples of `deploy/`: their shard counts agree (Kubernetes completions,
/// SHARDS and the merge's --shards; the GitHub matrix and SHARDS; GitLab's parallel and
/// --shards), and `deploy/shard.sh`, which all of them run, covers a fleet once under each
/// engine's way of naming the worker, leaves a stream per shard that `drover report merge`
/// turns into the unsharded recap and exit code, and fails a worker only for drover's own
/// errors.
#[test]
fn deploy_examples_shard_and_merge() {
    let job = yaml_file("deploy/kubernetes/shards-job.yaml");
    let n = at(&job, "spec.completions").as_i64().unwrap();
    assert_eq!(at(&job, "spec.completionMode").as_str(), Some("Indexed"));
    assert!(at(&job, "spec.backoffLimitPerIndex").as_i64().unwrap() > 0);
    let env = at(&job, "spec.template.spec.containers.0.env.0");
    assert_eq!(at(&env, "name").as_str(), Some("SHARDS"));
    assert_eq!(at(&env, "value").as_str(), Some(n.to_string().as_str()));
    let merge = yaml_file("deploy/kubernetes/merge-job.yaml");
    let cmd = at(&merge, "spec.template.spec.containers.0.args.0").to_string();
    assert!(cmd.contains(&format!("--shards {n} ")), "{cmd}");
    let gh = yaml_file("deploy/github-actions/drover.yml");
    let matrix = at(&gh, "jobs.shard.strategy.matrix.shard");
    assert_eq!(
        at(&gh, "env.SHARDS").as_i64(),
        Some(matrix.len().unwrap() as i64)
    );
    let gl = yaml_file("deploy/gitlab/.gitlab-ci.yml");
    let parallel = at(&gl, "drover-shard.parallel").as_i64().unwrap();
    let script = at(&gl, "drover-merge.script.0").to_string();
    assert!(
        script.contains(&format!("--shards {parallel} ")),
        "{script}"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut inv = String::from("[all]\n");
    for i in 0..12 {
        inv.push_str(&format!("n{i:02} ansible_connection=local\n"));
    }
    std::fs::write(d.join("hosts.ini"), inv).unwrap();
    let pb = format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo ran >> {}/{{{{ inventory_hostname }}}}.ran\n    - fail: msg=planned\n      when: inventory_hostname == 'n07'\n",
        d.display()
    );
    std::fs::write(d.join("site.yml"), pb).unwrap();
    let shard_sh = repo().join("deploy/shard.sh");
    let bin = std::env::var_os("DROVER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_drover").into());
    let worker = |env: &[(&str, String)], streams: &str, playbook: &str| {
        let mut c = std::process::Command::new(&shard_sh);
        c.current_dir(d)
            .env("DROVER", &bin)
            .env("STREAMS", streams)
            .env("NO_COLOR", "1")
            .args(["-i", "hosts.ini", playbook]);
        for k in [
            "DROVER_SHARD",
            "JOB_COMPLETION_INDEX",
            "SHARDS",
            "SHARD_INDEX",
        ] {
            c.env_remove(k);
        }
        c.env_remove("CI_NODE_INDEX").env_remove("CI_NODE_TOTAL");
        for (k, v) in env {
            c.env(k, v);
        }
        run(&mut c)
    };
    type Env = Vec<(&'static str, String)>;
    type Way = (&'static str, fn(u32) -> Env);
    let ways: [Way; 3] = [
        ("kubernetes", |i| {
            vec![
                ("JOB_COMPLETION_INDEX", i.to_string()),
                ("SHARDS", "3".into()),
            ]
        }),
        ("gitlab", |i| {
            vec![
                ("CI_NODE_INDEX", (i + 1).to_string()),
                ("CI_NODE_TOTAL", "3".into()),
            ]
        }),
        ("github", |i| {
            vec![("SHARD_INDEX", i.to_string()), ("SHARDS", "3".into())]
        }),
    ];
    let mut unsharded = None;
    for (engine, env_of) in &ways {
        for i in 0..12 {
            let _ = std::fs::remove_file(d.join(format!("n{i:02}.ran")));
        }
        for i in 0..3 {
            let (code, out, err) = worker(&env_of(i), engine, "site.yml");
            assert_eq!(
                code, 0,
                "{engine} worker {i}: a failed host is the merge's to report\n{out}{err}"
            );
        }
        for i in 0..12 {
            let ran = std::fs::read_to_string(d.join(format!("n{i:02}.ran"))).unwrap();
            assert_eq!(ran, "ran\n", "{engine}: n{i:02}");
        }
        let streams: Vec<String> = (0..3)
            .map(|i| format!("{engine}/shard-{i}.jsonl"))
            .collect();
        let (code, out, err) = run(drover()
            .current_dir(d)
            .args(["report", "merge", "--shards", "3", "--output", "json"])
            .args(&streams));
        assert_eq!(code, 2, "n07 failed: {out}{err}");
        let merged: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(merged["complete"], true);
        assert_eq!(merged["hosts"].as_object().unwrap().len(), 12);
        let whole = unsharded.get_or_insert_with(|| {
            let (code, out, _) = run(drover().current_dir(d).args([
                "play",
                "-i",
                "hosts.ini",
                "site.yml",
                "--output",
                "json",
            ]));
            assert_eq!(code, 2);
            let recap = out
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|e| e["event"] == "recap")
                .unwrap();
            recap["hosts"].clone()
        });
        assert_eq!(&merged["hosts"], whole, "{engine}");
    }
    // A worker fails for drover's own errors (here bad input, 5), and without a shard at all.
    std::fs::write(
        d.join("bad.yml"),
        "- hosts: all\n  tasks:\n    - nope_no_module: {}\n",
    )
    .unwrap();
    let (code, _, err) = worker(&[("DROVER_SHARD", "0/3".into())], "bad", "bad.yml");
    assert_eq!(code, 5, "{err}");
    let (code, _, err) = worker(&[], "none", "site.yml");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("which shard?"), "{err}");
}

/// The `deploy/` manifests are valid for their engines: the Kubernetes ones against the
/// OpenAPI schemas of Kubernetes 1.29 (the first with backoffLimitPerIndex on by default) and of
/// the newest release, strictly (no unknown field); the workflow and the pipeline against the
/// GitHub Actions and GitLab CI schemas.
#[test]
fn deploy_manifests_validate_for_their_engines() {
    let bin = match support::ansible::validators() {
        Ok(b) => b,
        Err(why) => {
            support::skip(&format!("no validators: {why}"));
            return;
        }
    };
    let k8s = ["shards-job.yaml", "merge-job.yaml", "streams-pvc.yaml"]
        .map(|f| repo().join("deploy/kubernetes").join(f));
    for version in ["1.29.0", "1.37.0"] {
        let (code, out, err) = run(std::process::Command::new(bin.join("kubernetes-validate"))
            .args(["--strict", "-k", version])
            .args(&k8s));
        assert_eq!(code, 0, "Kubernetes {version}:\n{out}{err}");
        assert_eq!(
            out.matches(" passed for resource ").count(),
            3,
            "{out}{err}"
        );
    }
    for (schema, file) in [
        (
            "vendor.github-workflows",
            "deploy/github-actions/drover.yml",
        ),
        ("vendor.gitlab-ci", "deploy/gitlab/.gitlab-ci.yml"),
    ] {
        let (code, out, err) = run(std::process::Command::new(bin.join("check-jsonschema"))
            .args(["--builtin-schema", schema])
            .arg(repo().join(file)));
        assert_eq!(code, 0, "{file}:\n{out}{err}");
        assert!(out.contains("ok -- validation done"), "{out}{err}");
    }
}
