//! `hostvars`: every host's variables, readable from any host's templates. Built by the
//! executor as a snapshot between tasks, so reads never lock another host's state.

use super::Scope;
use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::Value;
use std::sync::Arc;

/// A map from host name to that host's scope.
#[derive(Clone, Debug, Default)]
pub struct HostVars {
    pub hosts: IndexMap<String, Arc<Scope>>,
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let scope = self.hosts.get(key.as_str()?)?;
        Some(Value::from_dyn_object(scope.clone()))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.hosts.keys().map(|k| Value::from(k.as_str())).collect())
    }
}
