# The pyinfra equivalent of site.yml (role `bench`), for the side-by-side benchmark.
# Run from this directory (benches/run.sh passes --chdir): paths below are relative to it.
from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server
from pyinfra.operations.util import any_changed

FILES = "roles/bench/files"
TEMPLATES = "roles/bench/templates"

bench_user = "benchapp"
bench_uid = 2500
bench_settings = {"listen": "127.0.0.1", "port": 8080, "workers": 4, "log_level": "info"}
bench_keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGsO9vK+S3KYJT8lhce+7vMbjGm0Xh8fYMXg7Cg6R8lh bench-one",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINSRJFLGmJaLlTIOzeWEBlRjMyJ6sdJJt0t/BL8Cdgrk bench-two",
]

server.group(name="Group for the service", group=bench_user, gid=bench_uid)

server.user(
    name="Service account",
    user=bench_user,
    uid=bench_uid,
    group=bench_user,
    home=f"/home/{bench_user}",
    shell="/bin/bash",
    create_home=True,
)

files.directory(name="Application directory", path="/opt/drover-bench",
                user="root", group="root", mode="0755")
files.directory(name="Configuration directory", path="/etc/drover-bench",
                user="root", group=bench_user, mode="0750")
files.directory(name="Data directory", path="/srv/drover-bench",
                user=bench_user, group=bench_user, mode="0750")

# files.put of an in-memory file (Ansible: copy content=).
from io import StringIO  # noqa: E402

files.put(
    name="Message of the day",
    src=StringIO(f"Provisioned for the drover benchmark ({host.name})\n"),
    dest="/etc/drover-bench/motd",
    user="root", group="root", mode="0644",
)

files.put(name="Helper program", src=f"{FILES}/bench-tool.sh", dest="/usr/local/bin/bench-tool",
          user="root", group="root", mode="0755")

config_ops = [
    files.template(
        name=f"Configuration files ({item})",
        src=f"{TEMPLATES}/settings.conf.j2",
        dest=f"/etc/drover-bench/{item}.conf",
        user="root", group=bench_user, mode="0640",
        jinja_env_kwargs={"trim_blocks": True},  # as Ansible's template module
        item=item, inventory_hostname=host.name,
        bench_settings=bench_settings, bench_user=bench_user,
    )
    for item in ("app", "worker")
]

files.line(name="Environment variable", path="/etc/environment",
           line="^DROVER_BENCH_HOME=.*$", replace="DROVER_BENCH_HOME=/opt/drover-bench")
files.line(name="Service defaults", path="/etc/default/drover-bench",
           line="^DAEMON_OPTS=.*$", replace="DAEMON_OPTS=--workers=4")
files.file(name="Service defaults mode", path="/etc/default/drover-bench",
           user="root", group="root", mode="0644")

# Ansible: authorized_key. (server.user_authorized_keys would do, but it leaves an empty first
# line in a new authorized_keys file, which the state comparison would report.)
files.directory(name="Deploy keys directory", path=f"/home/{bench_user}/.ssh",
                user=bench_user, group=bench_user, mode="0700")
for i, key in enumerate(bench_keys):
    # (escape_regex_characters=True re-appends a key containing "+" on every run: match the
    # line by its comment instead.)
    files.line(name=f"Deploy key {i + 1}", path=f"/home/{bench_user}/.ssh/authorized_keys",
               line=f"^ssh-ed25519 [^ ]+ {key.split()[-1]}$", replace=key)
files.file(name="Deploy keys file", path=f"/home/{bench_user}/.ssh/authorized_keys",
           user=bench_user, group=bench_user, mode="0600")

apt.packages(name="Benchmark package from the local repository", packages=["drover-bench-pkg"],
             update=True, cache_time=3600)

# Ansible: command ... creates=
if not host.get_fact(File, path="/srv/drover-bench/initialized"):
    server.shell(name="One-time initialisation",
                 commands=["/usr/bin/drover-bench-init /srv/drover-bench/initialized"])

files.file(name="Initialisation marker is owned by the service",
           path="/srv/drover-bench/initialized",
           user=bench_user, group=bench_user, mode="0640")

files.link(name="Current release link", path="/opt/drover-bench-current",
           target="/opt/drover-bench")

files.put(name="Log rotation policy", src=f"{FILES}/logrotate.conf",
          dest="/etc/drover-bench/logrotate.conf", user="root", group="root", mode="0644")

files.put(name="Init script", src=f"{FILES}/drover-bench.init", dest="/etc/init.d/drover-bench",
          user="root", group="root", mode="0755")

server.service(name="Service running and enabled", service="drover-bench",
               running=True, enabled=True)

# Ansible: the handler `restart drover-bench`, notified by the configuration files.
server.service(name="restart drover-bench (handler)", service="drover-bench",
               restarted=True, _if=any_changed(*config_ops))
