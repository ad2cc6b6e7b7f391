//! The fact cache (Ansible's `jsonfile` cache plugin): the facts a host gathered and the
//! `set_fact ... cacheable: true` values persist between runs, one file per host,
//! `<fact_caching_connection>/<fact_caching_prefix>s1_<host>`, holding
//! `{"__payload__": "<the facts as a JSON string>"}` as ansible-core 2.19 writes it (its
//! tagged strings are read back as plain strings). A file older than `fact_caching_timeout`
//! seconds (default 86400; 0: never) is not read. `--flush-cache` deletes the files of every
//! inventory host before the run. The `memory` plugin (Ansible's default) keeps nothing.

use crate::vars::VarMap;
use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct FactCache {
    dir: PathBuf,
    prefix: String,
    timeout: u64,
}

impl FactCache {
    /// The cache the configuration asks for: `None` for `memory` (or nothing configured).
    pub fn from_config(
        plugin: Option<&str>,
        connection: Option<&str>,
        prefix: Option<&str>,
        timeout: Option<u64>,
    ) -> Result<Option<FactCache>> {
        match plugin.map(|p| p.rsplit('.').next().unwrap_or(p)) {
            None | Some("memory") => Ok(None),
            Some("jsonfile") => {
                let dir = connection.filter(|c| !c.is_empty()).ok_or_else(|| {
                    anyhow!("the jsonfile fact cache needs a directory: set `fact_caching_connection` (ANSIBLE_CACHE_PLUGIN_CONNECTION)")
                })?;
                Ok(Some(FactCache {
                    dir: PathBuf::from(dir),
                    prefix: prefix.unwrap_or("").to_string(),
                    timeout: timeout.unwrap_or(86400),
                }))
            }
            Some(other) => bail!(
                "fact cache plugin `{other}` is not supported (drover has `jsonfile` and `memory`)"
            ),
        }
    }

    fn path(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{}s1_{host}", self.prefix))
    }

    /// A host's cached facts, unless missing, expired or unreadable.
    pub fn load(&self, host: &str) -> Option<VarMap> {
        let path = self.path(host);
        let meta = std::fs::metadata(&path).ok()?;
        if self.timeout > 0 {
            let age = meta
                .modified()
                .ok()?
                .elapsed()
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if age > self.timeout {
                return None;
            }
        }
        let text = std::fs::read_to_string(&path).ok()?;
        let outer: serde_json::Value = serde_json::from_str(&text).ok()?;
        let facts: serde_json::Value = match outer.get("__payload__") {
            Some(serde_json::Value::String(p)) => serde_json::from_str(p).ok()?,
            _ => outer,
        };
        let serde_json::Value::Object(map) = untag(facts) else {
            return None;
        };
        Some(
            map.into_iter()
                .map(|(k, v)| (k, crate::template::filters::json_to_value(v)))
                .collect(),
        )
    }

    /// Writes a host's facts (atomically: a temp file renamed over the old one).
    pub fn store(&self, host: &str, facts: &VarMap) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| anyhow!("creating the fact cache `{}`: {e}", self.dir.display()))?;
        let payload = serde_json::to_string(&crate::vars::map_value(facts.clone()))?;
        let text = serde_json::to_string(&serde_json::json!({ "__payload__": payload }))?;
        let path = self.path(host);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| anyhow!("writing the fact cache `{}`: {e}", path.display()))
    }

    /// Deletes a host's cached facts (`--flush-cache`).
    pub fn flush(&self, host: &str) {
        let _ = std::fs::remove_file(self.path(host));
    }
}

/// ansible-core's tagged values (`{"value": ..., "tags": [...], "__ansible_type": ...}`) as
/// their plain value, at any depth.
fn untag(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Object(mut m) if m.contains_key("__ansible_type") && m.contains_key("value") => {
            untag(m.remove("value").unwrap_or(J::Null))
        }
        J::Object(m) => J::Object(m.into_iter().map(|(k, v)| (k, untag(v))).collect()),
        J::Array(a) => J::Array(a.into_iter().map(untag).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Value;

    #[test]
    fn round_trips_and_reads_ansibles_tagged_strings() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let c = FactCache::from_config(Some("jsonfile"), Some(d), Some("p_"), None)
            .unwrap()
            .unwrap();
        let written = "{\"__payload__\": \"{\\\"ansible_foobar\\\": {\\\"value\\\": \\\"x\\\", \\\"tags\\\": [], \\\"__ansible_type\\\": \\\"_AnsibleTaggedStr\\\"}}\"}";
        std::fs::write(dir.path().join("p_s1_h"), written).unwrap();
        let f = c.load("h").unwrap();
        assert_eq!(f.get("ansible_foobar").unwrap().as_str(), Some("x"));
        let mut more = f.clone();
        more.insert("n".into(), Value::from(3));
        c.store("h", &more).unwrap();
        assert_eq!(c.load("h").unwrap().get("n").unwrap(), &Value::from(3));
        c.flush("h");
        assert!(c.load("h").is_none());
        assert!(FactCache::from_config(Some("memory"), None, None, None)
            .unwrap()
            .is_none());
        assert!(FactCache::from_config(Some("redis"), None, None, None).is_err());
    }
}
