"""Run the slow provider: `python -m slow_provider --smtp-port 8025 --control-port 8026 ...`."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from slow_provider.behaviour import DISTRIBUTIONS, ProviderBehaviour
from slow_provider.server import SlowSmtpProvider


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m slow_provider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--control-port", type=int, default=8026)
    parser.add_argument("--db", type=Path, default=Path("var/provider.sqlite3"))
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before answering DATA")
    parser.add_argument("--distribution", choices=DISTRIBUTIONS, default="fixed")
    parser.add_argument("--transient-failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    args.db.parent.mkdir(parents=True, exist_ok=True)
    behaviour = ProviderBehaviour(
        delay_s=args.delay,
        distribution=args.distribution,
        transient_failure_rate=args.transient_failure_rate,
        seed=args.seed,
    )
    provider = SlowSmtpProvider(args.host, args.smtp_port, args.control_port, args.db, behaviour)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return, so it must not run on the same thread.
        threading.Thread(target=provider.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"slow provider: smtp://{args.host}:{args.smtp_port}, "
        f"control http://{args.host}:{args.control_port}, delay {args.delay}s",
        flush=True,
    )
    provider.serve_forever()


if __name__ == "__main__":
    main()
