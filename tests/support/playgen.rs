//! A seeded generator of random valid playbooks for the differential tests: plays over up to
//! three local hosts, with blocks (rescue, always), loops, conditions on variables and on
//! registered results, `set_fact`, `ignore_errors`, `changed_when`/`failed_when`, handlers,
//! and cheap modules whose effects are files under `DIR`. The same seed gives the same
//! playbook. A playbook is a tree of items so that a diverging one can be shrunk (`shrink`).

/// xorshift64*: small, deterministic, good enough to pick structure.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One entry of a task list.
#[derive(Clone, Debug)]
pub enum Item {
    /// A task: its YAML lines (the first starts with `- `), unindented.
    Task(Vec<String>),
    /// A block with its rescue and always sections and keyword lines.
    Block {
        block: Vec<Item>,
        rescue: Vec<Item>,
        always: Vec<Item>,
        keywords: Vec<String>,
    },
}

/// A generated playbook: plays of items, and how many hosts the inventory has.
#[derive(Clone, Debug)]
pub struct Generated {
    pub hosts: usize,
    pub plays: Vec<Vec<Item>>,
    /// Play-level lines (after `hosts:`) of each play.
    pub play_lines: Vec<Vec<String>>,
}

const HOSTS: [&str; 3] = ["h1", "h2", "h3"];

fn condition(rng: &mut Rng, registered: &[String]) -> String {
    let host = HOSTS[rng.below(3)];
    match rng.below(5) {
        0 => format!("inventory_hostname == '{host}'"),
        1 => format!("inventory_hostname != '{host}'"),
        2 => "v1 == 'a'".into(),
        3 if !registered.is_empty() => {
            let r = &registered[rng.below(registered.len())];
            let test = ["is changed", "is defined", "is skipped", "is failed"][rng.below(4)];
            format!("{r} {test}")
        }
        _ => "v2 | default('none') != 'none'".into(),
    }
}

fn task(rng: &mut Rng, n: &mut usize, registered: &mut Vec<String>) -> Item {
    *n += 1;
    let id = *n;
    let mut lines = match rng.below(9) {
        0 => vec![
            format!("- name: t{id} echo"),
            format!("  shell: echo t{id} {{{{ inventory_hostname }}}} {{{{ v1 }}}} >> DIR/log"),
        ],
        1 => vec![
            format!("- name: t{id} set_fact"),
            format!("  set_fact: {{v1: \"{}\"}}", ["a", "b", "{{ v1 }}x"][rng.below(3)]),
        ],
        2 => vec![
            format!("- name: t{id} maybe fail"),
            format!(
                "  shell: \"[ {{{{ inventory_hostname }}}} != {} ]\"",
                HOSTS[rng.below(3)]
            ),
        ],
        3 => vec![
            format!("- name: t{id} debug"),
            "  debug: {msg: \"{{ v1 }}\"}".into(),
        ],
        4 => vec![
            format!("- name: t{id} file"),
            format!("  file: {{path: \"DIR/f{id}-{{{{ inventory_hostname }}}}\", state: touch}}"),
        ],
        5 => vec![
            format!("- name: t{id} copy"),
            format!(
                "  copy: {{content: \"{{{{ v1 }}}}\\n\", dest: \"DIR/c{}-{{{{ inventory_hostname }}}}\"}}",
                rng.below(2)
            ),
        ],
        6 => vec![
            format!("- name: t{id} assert"),
            "  assert: {that: [v1 is defined]}".into(),
        ],
        7 => vec![
            format!("- name: t{id} fail"),
            "  fail: {msg: planned}".into(),
        ],
        _ => vec![
            format!("- name: t{id} lineinfile"),
            format!("  lineinfile: {{path: \"DIR/lines-{{{{ inventory_hostname }}}}\", line: \"t{id}\", create: true}}"),
        ],
    };
    if rng.chance(30) {
        lines.push(format!("  when: {}", condition(rng, registered)));
    }
    if rng.chance(15) && lines[1].contains("echo") {
        lines.push("  loop: [x, y]".into());
    }
    if rng.chance(30) {
        let r = format!("r{id}");
        lines.push(format!("  register: {r}"));
        registered.push(r);
    }
    match rng.below(10) {
        0 => lines.push("  ignore_errors: true".into()),
        1 => lines.push("  changed_when: false".into()),
        2 => lines.push(format!("  failed_when: {}", condition(rng, registered))),
        3 => lines.push("  notify: hd".into()),
        _ => {}
    }
    Item::Task(lines)
}

fn items(rng: &mut Rng, n: &mut usize, registered: &mut Vec<String>, depth: usize) -> Vec<Item> {
    let count = 1 + rng.below(4);
    (0..count)
        .map(|_| {
            if depth < 2 && rng.chance(20) {
                let block = items(rng, n, registered, depth + 1);
                let rescue = if rng.chance(60) {
                    items(rng, n, registered, depth + 1)
                } else {
                    Vec::new()
                };
                let always = if rng.chance(40) {
                    items(rng, n, registered, depth + 1)
                } else {
                    Vec::new()
                };
                let mut keywords = Vec::new();
                if rng.chance(25) {
                    keywords.push(format!("when: {}", condition(rng, registered)));
                }
                Item::Block {
                    block,
                    rescue,
                    always,
                    keywords,
                }
            } else {
                task(rng, n, registered)
            }
        })
        .collect()
}

/// The playbook of a seed.
pub fn generate(seed: u64) -> Generated {
    let mut rng = Rng::new(seed);
    let hosts = 1 + rng.below(3);
    let mut n = 0;
    let mut plays = Vec::new();
    let mut play_lines = Vec::new();
    for _ in 0..1 + rng.below(2) {
        let mut registered = Vec::new();
        plays.push(items(&mut rng, &mut n, &mut registered, 0));
        let mut lines = vec!["gather_facts: false".to_string(), "vars: {v1: a}".into()];
        if hosts > 1 && rng.chance(25) {
            lines.push("serial: 1".into());
        }
        if rng.chance(10) {
            lines.push("any_errors_fatal: true".into());
        }
        play_lines.push(lines);
    }
    Generated {
        hosts,
        plays,
        play_lines,
    }
}

fn render_items(out: &mut String, items: &[Item], indent: usize) {
    let pad = " ".repeat(indent);
    for it in items {
        match it {
            Item::Task(lines) => {
                for l in lines {
                    out.push_str(&format!("{pad}{l}\n"));
                }
            }
            Item::Block {
                block,
                rescue,
                always,
                keywords,
            } => {
                // An empty section would be no block: a `meta: noop` keeps it valid.
                let noop = vec![Item::Task(vec!["- meta: noop".into()])];
                out.push_str(&format!("{pad}- block:\n"));
                render_items(
                    out,
                    if block.is_empty() { &noop } else { block },
                    indent + 4,
                );
                if !rescue.is_empty() {
                    out.push_str(&format!("{pad}  rescue:\n"));
                    render_items(out, rescue, indent + 4);
                }
                if !always.is_empty() {
                    out.push_str(&format!("{pad}  always:\n"));
                    render_items(out, always, indent + 4);
                }
                for k in keywords {
                    out.push_str(&format!("{pad}  {k}\n"));
                }
            }
        }
    }
}

impl Generated {
    pub fn playbook(&self) -> String {
        let mut out = String::new();
        for (items, lines) in self.plays.iter().zip(&self.play_lines) {
            out.push_str("- hosts: all\n");
            for l in lines {
                out.push_str(&format!("  {l}\n"));
            }
            out.push_str("  tasks:\n");
            let noop = vec![Item::Task(vec!["- meta: noop".into()])];
            render_items(&mut out, if items.is_empty() { &noop } else { items }, 4);
            out.push_str("  handlers:\n    - name: hd\n      shell: echo handler {{ inventory_hostname }} >> DIR/log\n");
        }
        out
    }

    pub fn inventory(&self) -> String {
        HOSTS[..self.hosts]
            .iter()
            .map(|h| format!("{h} ansible_connection=local\n"))
            .collect()
    }

    /// Every playbook one step smaller: a task or block removed, or a block replaced by its
    /// `block` section.
    pub fn smaller(&self) -> Vec<Generated> {
        fn variants(items: &[Item]) -> Vec<Vec<Item>> {
            let mut out = Vec::new();
            for i in 0..items.len() {
                let mut without = items.to_vec();
                without.remove(i);
                out.push(without);
                if let Item::Block {
                    block,
                    rescue,
                    always,
                    keywords,
                } = &items[i]
                {
                    let mut flat = items.to_vec();
                    flat.splice(i..=i, block.iter().cloned());
                    out.push(flat);
                    for (which, section) in [block, rescue, always].into_iter().enumerate() {
                        for v in variants(section) {
                            let mut parts = [block.clone(), rescue.clone(), always.clone()];
                            parts[which] = v;
                            let [b, r, a] = parts;
                            let mut changed = items.to_vec();
                            changed[i] = Item::Block {
                                block: b,
                                rescue: r,
                                always: a,
                                keywords: keywords.clone(),
                            };
                            out.push(changed);
                        }
                    }
                }
            }
            out
        }
        let mut out = Vec::new();
        for (p, items) in self.plays.iter().enumerate() {
            if self.plays.len() > 1 {
                let mut g = self.clone();
                g.plays.remove(p);
                g.play_lines.remove(p);
                out.push(g);
            }
            for v in variants(items) {
                let mut g = self.clone();
                g.plays[p] = v;
                out.push(g);
            }
        }
        out
    }
}
