//! The `drover` binary: parse the command line, run, render errors, map exit codes.

use clap::Parser;
use drover::cli::{Cli, Command};
use drover::commands::{
    error_exit_code, run_adhoc, run_doc, run_inventory, run_play, run_report, run_vault, InputError,
};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 5 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    drover::interrupt::install();
    let result = match &cli.command {
        Command::Play(a) => run_play(a),
        Command::Inventory(a) => run_inventory(a),
        Command::Run(a) => run_adhoc(a),
        Command::Vault(a) => run_vault(a),
        Command::Report(a) => run_report(a),
        Command::Doc(a) => run_doc(a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut text = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "drover", &mut text);
            print_quietly(&text)
        }
        Command::Man { subcommand } => man_page(subcommand.as_deref()),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("{}", render_error(&e));
            ExitCode::from(error_exit_code(&e) as u8)
        }
    }
}

/// Writes `text` to standard output; a reader that stops early (`| head`) ends it quietly.
fn print_quietly(text: &[u8]) -> anyhow::Result<i32> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(0),
    }
}

/// `drover man [SUBCOMMAND]`: the page of drover or of one subcommand (`drover-play`).
fn man_page(subcommand: Option<&str>) -> anyhow::Result<i32> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name).cloned() else {
                let names: Vec<String> = cmd
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
                anyhow::bail!(
                    "no subcommand `{name}`\nhint: pages exist for {}",
                    names.join(", ")
                );
            };
            sub.name(Box::leak(format!("drover-{name}").into_boxed_str()) as &str)
        }
    };
    let mut text = Vec::new();
    clap_mangen::Man::new(page).render(&mut text)?;
    print_quietly(&text)
}

/// `error: …` then `Caused by:` lines; a `hint:` stays on its own line.
fn render_error(e: &anyhow::Error) -> String {
    // An error ansible-core gives in the same words reads as Ansible's.
    let inner = e.downcast_ref::<InputError>().map(|i| &i.0).unwrap_or(e);
    if let Some(a) = inner
        .chain()
        .find_map(|c| c.downcast_ref::<drover::playbook::AnsibleError>())
    {
        return format!("[ERROR]: {}\nOrigin: {}", a.msg, a.origin);
    }
    let mut out = String::new();
    let mut chain = e.chain().map(|c| c.to_string()).collect::<Vec<_>>();
    chain.dedup();
    for (i, msg) in chain.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("error: {msg}"));
        } else if !chain[0].contains(msg.as_str()) {
            out.push_str(&format!("\n  Caused by: {msg}"));
        }
    }
    out
}
