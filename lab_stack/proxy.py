"""The buffering reverse proxy production puts in front of gunicorn: nginx.

It reads each request whole (headers within a deadline, the body into its buffer) before the
app sees any of it, and it answers slow clients itself: a visitor on a bad connection, or an
attacker sending a byte every few seconds, holds one of its cheap connections, never one of
the few web workers. It sends the client's address in X-Forwarded-For, which the apps read when
TRUSTED_PROXIES=1, on connections from FORWARDED_ALLOW_IPS only.

The same server block runs natively in front of a stack (`Stack(..., proxy=True)`, the tests)
and in `docker-compose.yml` (`deploy/nginx.conf`, written by `python -m lab_stack.proxy`).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import sys
from pathlib import Path

from bakery_site.pages import MAX_BODY_BYTES
from lab_hand_offs import APPS
from lab_settings import Settings

# A half-sent head holds one of nginx's connections until client_header_timeout, a proxied
# request two (the client's and the app's): 1024 ran out under 3,000 half-sent heads, resetting
# visitors and logging an alert for each. The file limit (raised by nginx itself) fits both.
WORKER_CONNECTIONS = 8192
COMPOSE_CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
# Debian puts nginx in /usr/sbin, which is not on an ordinary user's PATH; Homebrew's is on it.
EXTRA_PLACES = ("/usr/sbin", "/usr/local/sbin")
INSTALL_HINT = (
    "nginx not found: install it (Debian/Ubuntu: `sudo apt-get install nginx-light`, "
    "macOS: `brew install nginx`)"
)


class NginxNotFound(RuntimeError):
    pass


def find_nginx() -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_PLACES])
    found = shutil.which("nginx", path=path)
    if found is None:
        raise NginxNotFound(INSTALL_HINT)
    return found


def server_block(listen: str, upstream: str, settings: Settings, *, push: bool = False) -> str:
    """One site: `listen` (nginx's syntax) in front of the app at `upstream` (host:port); with
    `push`, the push service, whose websockets nginx passes through (see UPGRADE_MAP) for as
    long as the service keeps them."""
    deadline = f"{settings.request_body_timeout_s:g}s"
    if push:
        connection = "$connection_upgrade;\n        proxy_set_header Upgrade $http_upgrade"
        read_timeout_s = settings.push_max_connection_s + 5
    else:
        connection, read_timeout_s = '""', settings.web_timeout_s
    return f"""server {{
    listen {listen};
    # The whole header within the deadline, each part of the body within it; nginx answers 408
    # itself. Until the body is all here, the app knows nothing of the request.
    client_header_timeout {deadline};
    client_body_timeout {deadline};
    client_max_body_size {MAX_BODY_BYTES // 1024}k;
    proxy_request_buffering on;
    proxy_buffering on;
    access_log off;

    location / {{
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Connection {connection};
        proxy_set_header Host $http_host;
        # The client's own header, if any, then the address nginx saw: with TRUSTED_PROXIES=1
        # the app believes only that last one.
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout {read_timeout_s:g}s;
    }}
}}
"""


# A websocket handshake asks to upgrade the connection; a long poll to keep it (HTTP/1.1's
# default, hence the empty value).
UPGRADE_MAP = """map $http_upgrade $connection_upgrade {
    default upgrade;
    "" "";
}

"""


def native_config(run_dir: Path, settings: Settings, app: Settings) -> str:
    """A whole nginx.conf for one stack, in front of the web app that runs with `app`: everything
    it writes stays under `run_dir`."""
    temp = "\n".join(
        f'    {kind}_temp_path "{run_dir / f"{kind}_temp"}";'
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    site = server_block(
        f"{settings.web_host}:{settings.proxy_port}", f"{app.web_host}:{app.web_port}", settings
    )
    return (
        f'{worker_user()}worker_processes 1;\npid "{run_dir / "nginx.pid"}";\n'
        f'error_log "{run_dir / "error.log"}" warn;\n'
        f"worker_rlimit_nofile {2 * WORKER_CONNECTIONS + 64};\n"
        f"events {{ worker_connections {WORKER_CONNECTIONS}; }}\n"
        f"http {{\n{temp}\n" + "\n".join("    " + line for line in site.splitlines()) + "\n}\n"
    )


def worker_user() -> str:
    """nginx's `user` line: started as root, its workers run as nobody (in nobody's own group,
    whatever it is called here), which the master makes owner of the temp folders."""
    if os.geteuid() != 0:
        return ""  # the workers are whoever started it
    nobody = pwd.getpwnam("nobody")
    return f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};\n"


def compose_config(settings: Settings | None = None) -> str:
    """The server blocks for `docker-compose.yml`: ports 8001-8003 in front of the three apps,
    PUSH_PORT in front of the Celery app's push service."""
    settings = settings or Settings()
    blocks = [
        server_block(str(8000 + n), f"{app}:8000", settings) for n, app in enumerate(APPS, start=1)
    ]
    push = f"celery-push:{settings.push_port}"
    blocks.append(server_block(str(settings.push_port), push, settings, push=True))
    return (
        "# Written by `python -m lab_stack.proxy` from lab_stack/proxy.py; do not edit.\n"
        + UPGRADE_MAP
        + "\n".join(blocks)
    )


def main() -> int:
    COMPOSE_CONF.parent.mkdir(exist_ok=True)
    COMPOSE_CONF.write_text(compose_config())
    print(f"wrote {COMPOSE_CONF}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
