//! drover: run Ansible inventories, roles and playbooks over SSH, without Python on targets.

pub mod connection;
pub mod inventory;
pub mod modules;
pub mod shell;
pub mod template;
pub mod vars;
pub mod yaml;
