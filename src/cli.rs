//! The command line, with ansible-playbook's flag names so habits carry over. Definitions only.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
EXIT CODES:
  0   every host ok
  1   internal error
  2   a task failed on at least one host
  3   (report merge) the run is incomplete: a shard's stream is missing or cut short
  4   at least one host was unreachable (and none failed)
  5   bad input: options, inventory, playbook, role, template or variable error,
      reported before any host is touched
  99  interrupted (Ctrl-C): the running tasks finished, no further task started and the
      recap was printed; a second Ctrl-C exits at once";

/// Agentless push automation: runs Ansible inventories, roles and playbooks over SSH.
#[derive(Parser, Debug)]
#[command(name = "drover", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run playbooks (like ansible-playbook).
    #[command(after_help = EXIT_CODES)]
    Play(PlayArgs),
    /// Show the inventory (like ansible-inventory).
    #[command(after_help = EXIT_CODES)]
    Inventory(InventoryArgs),
    /// Run one module on hosts (like `ansible PATTERN -m MODULE -a ARGS`).
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Encrypt, decrypt and view Ansible Vault files and strings (like ansible-vault).
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Combine the `--output json` streams of a sharded run (`play --shard I/N`).
    #[command(subcommand)]
    Report(ReportCommand),
    /// List the modules drover implements, or show one module's arguments (like ansible-doc).
    Doc(DocArgs),
    /// Print a shell completion script (e.g. `drover completions bash > /etc/bash_completion.d/drover`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff), generated from these options: `drover man | man -l -` for
    /// drover's, `drover man play` for a subcommand's.
    Man {
        /// The subcommand whose page to print (play, inventory, run, vault, doc, completions).
        subcommand: Option<String>,
    },
}

/// `drover doc`.
#[derive(Args, Debug, Clone, Default)]
pub struct DocArgs {
    /// List the modules (names also accepted with `ansible.builtin.`).
    #[arg(short = 'l', long)]
    pub list: bool,
    /// With `--list`: the modules grouped, as Markdown (the README's module list).
    #[arg(long, requires = "list")]
    pub markdown: bool,
    /// A module whose arguments to show.
    pub module: Option<String>,
}

/// Where vault passwords come from (ansible-playbook's flags).
#[derive(Args, Debug, Clone, Default)]
pub struct VaultSecretArgs {
    /// Vault password file; an executable file is run and its output is the password
    /// (repeatable; also ANSIBLE_VAULT_PASSWORD_FILE).
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        value_name = "FILE"
    )]
    pub vault_password_files: Vec<PathBuf>,
    /// Ask for the vault password on the terminal.
    #[arg(
        short = 'J',
        long = "ask-vault-pass",
        visible_alias = "ask-vault-password"
    )]
    pub ask_vault_pass: bool,
    /// A vault password with its id: LABEL@FILE, LABEL@prompt, or FILE (repeatable).
    #[arg(long = "vault-id", value_name = "LABEL@SOURCE")]
    pub vault_ids: Vec<String>,
}

impl VaultSecretArgs {
    pub fn options(&self) -> crate::vault::SecretOptions {
        crate::vault::SecretOptions {
            vault_ids: self.vault_ids.clone(),
            password_files: self.vault_password_files.clone(),
            ask: self.ask_vault_pass,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// One recap of the shards of a run from their JSON streams, with the exit code the run
    /// would have had unsharded (3 when a shard's stream is missing or cut short).
    #[command(after_help = EXIT_CODES)]
    Merge(MergeArgs),
}

/// `drover report merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' streams (`drover play --shard I/N --output json > FILE`), in any order.
    #[arg(value_name = "STREAM", required = true)]
    pub streams: Vec<PathBuf>,
    /// How many shards the run had, when the streams cannot tell (all of them missing);
    /// otherwise it must agree with them.
    #[arg(long = "shards", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// `human`: the shards, then PLAY RECAP; `json`: one JSON object (docs/report-merge.md).
    #[arg(long = "output", value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Also write a JUnit XML report of every shard's results to FILE (one testsuite per play).
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Encrypt files in place (standard input to standard output without FILE).
    Encrypt(VaultFilesArgs),
    /// Decrypt files in place (standard input to standard output without FILE).
    Decrypt(VaultFilesArgs),
    /// Print a vault-encrypted file's plaintext.
    View(VaultViewArgs),
    /// Encrypt a string and print it as a `!vault |` YAML value.
    #[command(name = "encrypt_string", visible_alias = "encrypt-string")]
    EncryptString(VaultStringArgs),
    /// Create an encrypted file, written in an editor ($EDITOR, else vi).
    Create(VaultEditArgs),
    /// Edit an encrypted file in an editor; it is encrypted again (with the same vault id)
    /// when it changed.
    Edit(VaultEditArgs),
    /// Encrypt files again with a new password (or vault id).
    Rekey(VaultRekeyArgs),
}

#[derive(Args, Debug)]
pub struct VaultEditArgs {
    #[command(flatten)]
    pub secrets: VaultSecretArgs,
    #[command(flatten)]
    pub encrypt: VaultEncryptArgs,
    /// The file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct VaultRekeyArgs {
    #[command(flatten)]
    pub secrets: VaultSecretArgs,
    /// The new password's file (an executable file is run).
    #[arg(long = "new-vault-password-file", value_name = "FILE")]
    pub new_vault_password_file: Option<PathBuf>,
    /// The new vault id: LABEL@SOURCE, or a label (its password from
    /// --new-vault-password-file or asked).
    #[arg(long = "new-vault-id", value_name = "LABEL@SOURCE")]
    pub new_vault_id: Option<String>,
    /// Files to encrypt again in place.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Options of `drover vault` subcommands that encrypt: which secret to encrypt with.
#[derive(Args, Debug, Clone, Default)]
pub struct VaultEncryptArgs {
    /// The vault id to encrypt with (a label of --vault-id) when several are given.
    #[arg(long = "encrypt-vault-id", value_name = "LABEL")]
    pub encrypt_vault_id: Option<String>,
}

#[derive(Args, Debug)]
pub struct VaultFilesArgs {
    #[command(flatten)]
    pub secrets: VaultSecretArgs,
    #[command(flatten)]
    pub encrypt: VaultEncryptArgs,
    /// Write the result here instead of in place (`-` for standard output).
    #[arg(long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Files to change in place.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VaultViewArgs {
    #[command(flatten)]
    pub secrets: VaultSecretArgs,
    /// Files to print.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VaultStringArgs {
    #[command(flatten)]
    pub secrets: VaultSecretArgs,
    #[command(flatten)]
    pub encrypt: VaultEncryptArgs,
    /// Variable name for each string, in order (repeatable).
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub names: Vec<String>,
    /// Read the string from standard input and name it NAME.
    #[arg(long = "stdin-name", value_name = "NAME")]
    pub stdin_name: Option<String>,
    /// Prompt for the string to encrypt.
    #[arg(short = 'p', long = "prompt")]
    pub prompt: bool,
    /// Strings to encrypt (standard input when none is given).
    #[arg(value_name = "STRING")]
    pub strings: Vec<String>,
}

/// Options shared by every command that connects to hosts.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Inventory file, directory, or comma-separated host list (repeatable).
    #[arg(
        short = 'i',
        long = "inventory",
        alias = "inventory-file",
        value_name = "INVENTORY"
    )]
    pub inventory: Vec<String>,
    /// Limit to hosts matching this pattern (or @file with one pattern per line).
    #[arg(short = 'l', long = "limit", value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Hosts worked on in parallel.
    #[arg(short = 'f', long = "forks", value_name = "N")]
    pub forks: Option<usize>,
    /// Extra variables: k=v pairs, JSON/YAML, or @file (repeatable; highest precedence).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Connect as this user.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Run operations with become (sudo).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// The user to become.
    #[arg(long = "become-user", value_name = "USER")]
    pub become_user: Option<String>,
    /// The become method: sudo (the default), su or doas.
    #[arg(long = "become-method", value_name = "METHOD")]
    pub become_method: Option<String>,
    /// Ask for the become password (sudo's or su's) on the terminal.
    #[arg(
        short = 'K',
        long = "ask-become-pass",
        visible_alias = "ask-become-password"
    )]
    pub ask_become_pass: bool,
    /// Read the become password from this file (an executable file is run and its output is
    /// the password; `-` reads standard input).
    #[arg(
        long = "become-password-file",
        visible_alias = "become-pass-file",
        value_name = "FILE"
    )]
    pub become_password_file: Option<PathBuf>,
    /// Ask for the SSH login password on the terminal.
    #[arg(short = 'k', long = "ask-pass", visible_alias = "ask-password")]
    pub ask_pass: bool,
    /// Read the SSH login password from this file (as --become-password-file).
    #[arg(
        long = "connection-password-file",
        visible_alias = "conn-pass-file",
        value_name = "FILE"
    )]
    pub connection_password_file: Option<PathBuf>,
    /// SSH private key file.
    #[arg(long = "private-key", visible_alias = "key-file", value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// Connection type: ssh or local.
    #[arg(short = 'c', long = "connection", value_name = "TYPE")]
    pub connection: Option<String>,
    /// ssh options for every host, as `ansible_ssh_common_args` (`-o Key=Value`, `-J`,
    /// `-p`, `-i`, `-l`; read as ~/.ssh/config lines, over the file's).
    #[arg(
        long = "ssh-common-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub ssh_common_args: Option<String>,
    /// More ssh options, as `ansible_ssh_extra_args`.
    #[arg(
        long = "ssh-extra-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub ssh_extra_args: Option<String>,
    /// Accepted for ansible-playbook's sake and ignored with a warning: drover sends files
    /// over its shell session, not scp or sftp.
    #[arg(
        long = "scp-extra-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub scp_extra_args: Option<String>,
    /// As --scp-extra-args.
    #[arg(
        long = "sftp-extra-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub sftp_extra_args: Option<String>,
    /// Accepted for ansible-playbook's sake and ignored with a warning: drover runs no
    /// Python modules (its own are built in).
    #[arg(short = 'M', long = "module-path", value_name = "PATH")]
    pub module_path: Vec<String>,
    /// Connect timeout in seconds: connecting, the SSH handshake, opening a shell, and
    /// killing a task that ran past its time limit (default 10; ansible.cfg `timeout`).
    #[arg(short = 'T', long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Time limit of every task in seconds, unless the task, its block or play sets
    /// `timeout:`; a task still running then fails and its remote command is killed
    /// (default 0: none; ansible.cfg `task_timeout`).
    #[arg(long = "task-timeout", value_name = "SECONDS")]
    pub task_timeout: Option<u64>,
    /// Host key policy: strict (default, unless ~/.ssh/config's StrictHostKeyChecking says
    /// otherwise), accept-new, or off.
    #[arg(
        long = "host-key-checking",
        value_name = "POLICY",
        env = "DROVER_HOST_KEY_CHECKING"
    )]
    pub host_key_checking: Option<String>,
    /// known_hosts file (default: ~/.ssh/config's UserKnownHostsFile, else
    /// ~/.ssh/known_hosts). DROVER_SSH_CONFIG=FILE|none chooses the ssh config read.
    #[arg(long = "known-hosts", value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Don't change anything; predict what would change.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show the differences in files and templates that change.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// More output (-v shows results; repeatable).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub vault: VaultSecretArgs,
}

#[derive(Args, Debug)]
pub struct PlayArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// Run on shard I of N (0-based) of each play's hosts, after --limit: N runs with
    /// 0/N .. N-1/N cover the hosts exactly once (also DROVER_SHARD).
    #[arg(long = "shard", value_name = "I/N", env = "DROVER_SHARD")]
    pub shard: Option<String>,
    /// N shards, this run's index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
    #[arg(long = "shards", value_name = "N", conflicts_with = "shard")]
    pub shards: Option<u32>,
    /// With --shard: let `serial`, `max_fail_percentage`, `run_once` and `any_errors_fatal`
    /// act within each shard (refused otherwise: they mean the whole fleet).
    #[arg(long = "per-shard")]
    pub per_shard: bool,
    /// Playbook files to run in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,
    /// Only run tasks with these tags (comma-separated, repeatable).
    #[arg(short = 't', long = "tags")]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long = "skip-tags")]
    pub skip_tags: Vec<String>,
    /// Run handlers even on hosts that failed.
    #[arg(long = "force-handlers")]
    pub force_handlers: bool,
    /// Clear the fact cache (`fact_caching = jsonfile`) of every inventory host first.
    #[arg(long = "flush-cache")]
    pub flush_cache: bool,
    /// Extra role search directories (also ANSIBLE_ROLES_PATH).
    #[arg(long = "roles-path", value_name = "DIR")]
    pub roles_path: Vec<PathBuf>,
    /// List the hosts each play would run on, then exit.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// List the tasks each play would run, then exit.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// List the tags of each play's tasks, then exit.
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// Start the run at the first task with this name (earlier tasks are skipped).
    #[arg(long = "start-at-task", value_name = "NAME")]
    pub start_at_task: Option<String>,
    /// Ask before each task: (y)es runs it, (n)o skips it, (c)ontinue runs the rest without
    /// asking (answers are read from standard input).
    #[arg(long = "step")]
    pub step: bool,
    /// Load and validate everything, then exit without touching a host.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    #[command(flatten)]
    pub out: OutputArgs,
    /// After the recap, show the slowest tasks (summed over hosts, and the slowest host) and
    /// the slowest hosts.
    #[arg(long = "profile")]
    pub profile: bool,
}

/// How a run reports: shared by `drover play` and `drover run`.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// What goes to standard output: `human` (Ansible-like) or `json` (one event per line,
    /// described by docs/output-json.schema.json).
    #[arg(long = "output", value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Also write a JUnit XML report to FILE when the run ends (one testsuite per play, one
    /// testcase per task and host).
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// No live status line at the bottom of the terminal while a task runs (also
    /// DROVER_PROGRESS=0; it is only ever shown on a terminal with the human output).
    #[arg(long = "no-progress")]
    pub no_progress: bool,
}

/// The format of standard output.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// Inventory file, directory, or comma-separated host list (repeatable).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: Vec<String>,
    /// Print the whole inventory as JSON.
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    pub list: bool,
    /// Print the group tree (optionally from GROUP).
    #[arg(long, value_name = "GROUP", num_args = 0..=1, default_missing_value = "all")]
    pub graph: Option<String>,
    /// Print one host's variables as JSON.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// With --graph: also show variables (a host's own under it, a group's after its members).
    #[arg(long = "vars", requires = "graph")]
    pub vars: bool,
    #[command(flatten)]
    pub vault: VaultSecretArgs,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// Host pattern.
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
    /// Module name.
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    pub module: String,
    /// Module arguments (k=v or free-form).
    #[arg(short = 'a', long = "args", value_name = "ARGS")]
    pub args: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}
