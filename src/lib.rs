//! drover: run Ansible inventories, roles and playbooks over SSH, without Python on targets.

pub mod shell;
pub mod yaml;
