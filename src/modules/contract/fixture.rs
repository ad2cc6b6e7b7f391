//! A host state in memory for the decide tables: files (content, mode, owner, links), users,
//! groups, section outputs and exit codes; what the driver would observe on it, and the data
//! steps applied to it.

use super::super::fileops::{self, FileState, Ident, Probe};
use super::super::SearchPaths;
use super::{Content, Observe, Observed, Resolve, Step};
use serde_json::Value as J;
use std::collections::BTreeMap;

/// One path of the state.
#[derive(Clone, Debug)]
enum Node {
    File(Vec<u8>),
    Dir,
    Link(String),
}

#[derive(Clone, Debug)]
struct Entry {
    node: Node,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// A host state in memory.
#[derive(Clone, Debug, Default)]
pub(super) struct Host {
    files: BTreeMap<String, Entry>,
    users: BTreeMap<String, u32>,
    groups: BTreeMap<String, u32>,
    sections: BTreeMap<String, String>,
    /// The run shows diffs (`diff:`, true unless given).
    diff: bool,
    /// The file a section names for a `Read::Var` (`read:` of the case).
    read_var: Option<String>,
    /// Each section's exit status (`codes:`; 0 when not given).
    codes: std::collections::HashMap<String, i32>,
    /// The task's variables and `-v` count (`vars:` and `verbosity:` of the case).
    vars: minijinja::Value,
    verbosity: u8,
    paths: SearchPaths,
}

fn s(v: &J) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl Host {
    pub(super) fn from_json(v: &J) -> Host {
        let ids = |key: &str| -> BTreeMap<String, u32> {
            let mut m: BTreeMap<String, u32> = [("root".to_string(), 0)].into();
            if let Some(o) = v.get(key).and_then(J::as_object) {
                m.extend(
                    o.iter()
                        .map(|(k, id)| (k.clone(), id.as_u64().unwrap_or(0) as u32)),
                );
            }
            m
        };
        let mut h = Host {
            users: ids("users"),
            groups: ids("groups"),
            ..Host::default()
        };
        for (path, f) in v.get("files").and_then(J::as_object).into_iter().flatten() {
            let node = if let Some(t) = f.get("link").and_then(J::as_str) {
                Node::Link(t.to_string())
            } else if f.get("dir").and_then(J::as_bool) == Some(true) {
                Node::Dir
            } else {
                Node::File(
                    f.get("content")
                        .and_then(s)
                        .unwrap_or_default()
                        .into_bytes(),
                )
            };
            let default = match node {
                Node::Dir => 0o755,
                Node::Link(_) => 0o777,
                Node::File(_) => 0o644,
            };
            let mode = f
                .get("mode")
                .and_then(J::as_str)
                .map(|m| u32::from_str_radix(m, 8).expect("mode in octal"))
                .unwrap_or(default);
            let id = |k: &str, m: &BTreeMap<String, u32>| {
                f.get(k).and_then(J::as_str).map_or(0, |n| m[n])
            };
            let e = Entry {
                node,
                mode,
                uid: id("owner", &h.users),
                gid: id("group", &h.groups),
            };
            h.files.insert(path.clone(), e);
        }
        for (k, t) in v
            .get("sections")
            .and_then(J::as_object)
            .into_iter()
            .flatten()
        {
            h.sections.insert(k.clone(), s(t).unwrap_or_default());
            h.codes.insert(k.clone(), 0);
        }
        for (k, c) in v.get("codes").and_then(J::as_object).into_iter().flatten() {
            h.codes.insert(k.clone(), c.as_i64().unwrap_or(0) as i32);
        }
        h.vars = minijinja::Value::from(minijinja::value::Serde(
            v.get("vars")
                .cloned()
                .unwrap_or(J::Object(Default::default())),
        ));
        h.verbosity = v.get("verbosity").and_then(J::as_u64).unwrap_or(0) as u8;
        h.read_var = v.get("read").and_then(s);
        h.diff = v.get("diff").and_then(J::as_bool).unwrap_or(true);
        // Controller files (templates, scripts, vars files) come from tests/modules/files.
        h.paths = SearchPaths {
            dirs: vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/modules/files")],
        };
        h
    }

    /// The path a link leads to (one level at a time, at most 8).
    fn follow(&self, path: &str) -> String {
        let mut p = path.to_string();
        for _ in 0..8 {
            match self.files.get(&p).map(|e| &e.node) {
                Some(Node::Link(t)) if t.starts_with('/') => p = t.clone(),
                Some(Node::Link(t)) => p = fileops::join(&fileops::dirname(&p), t),
                _ => break,
            }
        }
        p
    }

    fn name_of(m: &BTreeMap<String, u32>, id: u32) -> String {
        m.iter()
            .find(|(_, i)| **i == id)
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    }

    fn state(&self, path: &str, follow: bool) -> FileState {
        let at = if follow {
            self.follow(path)
        } else {
            path.to_string()
        };
        let Some(e) = self.files.get(&at) else {
            return FileState::default();
        };
        let (kind, size) = match &e.node {
            Node::File(c) => (fileops::S_IFREG, c.len() as u64),
            Node::Dir => (fileops::S_IFDIR, 4096),
            Node::Link(t) => (fileops::S_IFLNK, t.len() as u64),
        };
        let link = matches!(self.files.get(path).map(|e| &e.node), Some(Node::Link(_)));
        FileState {
            path: path.to_string(),
            exists: true,
            st_mode: kind | e.mode,
            uid: e.uid,
            gid: e.gid,
            size,
            nlink: 1,
            owner: Host::name_of(&self.users, e.uid),
            group: Host::name_of(&self.groups, e.gid),
            link_target: match self.files.get(path).map(|e| &e.node) {
                Some(Node::Link(t)) => Some(t.clone()),
                _ => None,
            },
            link_source: link.then(|| self.follow(path)),
            readable: true,
            writeable: true,
            ..FileState::default()
        }
    }

    fn ident(m: &BTreeMap<String, u32>, name: &str) -> Option<Ident> {
        match name.parse::<u32>() {
            Ok(id) => Some(Ident {
                id,
                name: Host::name_of(m, id),
            }),
            Err(_) => m.get(name).map(|id| Ident {
                id: *id,
                name: name.to_string(),
            }),
        }
    }

    /// What the driver would gather for `want`.
    pub(super) fn observe(&self, want: &Observe) -> Observed {
        let mut files = Probe {
            umask: 0o022,
            me_user: Some(Ident {
                id: 0,
                name: "root".into(),
            }),
            me_group: Some(Ident {
                id: 0,
                name: "root".into(),
            }),
            ..Probe::default()
        };
        if let Some(req) = &want.files {
            files.states = req
                .items
                .iter()
                .map(|i| {
                    // A path looked at only under a condition reads as absent otherwise.
                    let holds = match &i.when {
                        None => true,
                        Some(fileops::ProbeCond::IsDir(p)) => self.state(p, true).is_dir(),
                        Some(fileops::ProbeCond::RealDir(p)) => self.state(p, false).is_dir(),
                        Some(fileops::ProbeCond::Missing(p)) => !self.state(p, false).exists,
                    };
                    if !holds {
                        return FileState::default();
                    }
                    let mut st = self.state(&i.path, i.follow);
                    // The checksum a probe asks for (SHA-1, as the file modules do).
                    let at = if i.follow {
                        self.follow(&i.path)
                    } else {
                        i.path.clone()
                    };
                    if let (
                        Some(fileops::Alg::Sha1),
                        Some(Entry {
                            node: Node::File(c),
                            ..
                        }),
                    ) = (i.checksum, self.files.get(&at))
                    {
                        st.checksum = Some(fileops::sha1_hex(c));
                    }
                    st
                })
                .collect();
            files.owner = req
                .owner
                .as_deref()
                .and_then(|o| Host::ident(&self.users, o));
            files.group = req
                .group
                .as_deref()
                .and_then(|g| Host::ident(&self.groups, g));
        }
        let read = match &want.read {
            Some(super::Read::Path(p)) => Some(p.clone()),
            Some(super::Read::Var(_)) => self.read_var.clone(),
            None => None,
        };
        let content = match read.map(|p| self.files.get(&self.follow(&p))) {
            Some(Some(Entry {
                node: Node::File(c),
                ..
            })) => Content::Bytes(c.clone()),
            _ => Content::Absent,
        };
        // As a real run sees them: effects too.
        let sections = want
            .effects
            .iter()
            .chain(&want.sections)
            .filter_map(|(n, _)| Some((n.to_string(), self.sections.get(*n)?.clone())))
            .collect();
        Observed {
            files,
            content,
            sections,
            codes: self.codes.clone(),
            ..Observed::default()
        }
    }

    /// Applies data steps; `false` if a step is a script (which only a host can run).
    pub(super) fn apply(&mut self, steps: &[Step]) -> bool {
        for step in steps {
            match step {
                Step::Put {
                    payload: fileops::Payload::Remote { .. } | fileops::Payload::LocalFile { .. },
                    ..
                }
                | Step::Run { .. }
                | Step::Exec { .. }
                | Step::Observe(_)
                | Step::Fail(_)
                | Step::WriteLocal { .. }
                | Step::Change { .. } => return false,
                Step::Mkdir { path } => {
                    for p in fileops::ancestors(path).into_iter().chain([path.clone()]) {
                        self.files.entry(p).or_insert(Entry {
                            node: Node::Dir,
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                        });
                    }
                }
                Step::Put {
                    path,
                    payload: fileops::Payload::Bytes(data),
                    opts,
                } => {
                    let old = self.files.get(path).cloned();
                    let keep = |f: fn(&Entry) -> u32, d: u32| old.as_ref().map_or(d, f);
                    let e = Entry {
                        node: Node::File(data.clone()),
                        mode: opts.mode.unwrap_or_else(|| keep(|e| e.mode, 0o644)),
                        uid: opts.owner.unwrap_or_else(|| keep(|e| e.uid, 0)),
                        gid: opts.group.unwrap_or_else(|| keep(|e| e.gid, 0)),
                    };
                    self.files.insert(path.clone(), e);
                }
                Step::Attrs { path, change } => {
                    let e = self.files.get_mut(path).expect("attrs of an existing path");
                    if let Some((_, u)) = change.owner {
                        e.uid = u;
                    }
                    if let Some((_, g)) = change.group {
                        e.gid = g;
                    }
                    if let Some((_, m)) = change.mode {
                        e.mode = m;
                    }
                }
            }
        }
        true
    }
}

impl Resolve for Host {
    fn expand_path(&mut self, path: &str) -> anyhow::Result<String> {
        Ok(path.replacen('~', "/root", usize::from(path.starts_with('~'))))
    }
    fn vars(&self) -> &minijinja::Value {
        &self.vars
    }
    fn verbosity(&self) -> u8 {
        self.verbosity
    }
    fn paths(&self) -> &SearchPaths {
        &self.paths
    }
    fn diff_mode(&self) -> bool {
        self.diff
    }
}
