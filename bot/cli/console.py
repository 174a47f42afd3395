"""``socbot console`` (and ``socbot run --demo --console``): the bot in a local Slack page."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from socbot.core.config import Secrets, Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``console`` to the subcommands."""
    console = commands.add_parser(
        "console", help="try the bot in a local web page that plays Slack (no workspace needed)",
        description="Run the bot on the bundled samples with a local page that plays Slack: "
                    "alerts with their buttons, modals, App Home, /soc, and a switch for who "
                    "you are. With the demo extra, moto plays AWS, so an approved playbook "
                    "changes a resource you can see.")
    console.set_defaults(handler=cmd_console)
    add_options(console)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The console's options (also on ``socbot run`` for ``--demo --console``)."""
    parser.add_argument("--console-listen", default="127.0.0.1:8089", metavar="HOST:PORT",
                        help="the console page's loopback address (default %(default)s)")
    parser.add_argument("--no-aws", action="store_true",
                        help="do not start moto (playbooks then have no AWS to act on)")


def cmd_console(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """Start the console and the bot, feed the samples, serve until Ctrl-C."""
    from socbot.bot.console import demo
    from socbot.core.config import host_port
    from socbot.core.process import stop_on_signals

    host, port = host_port(args.console_listen, "--console-listen")
    try:
        console = demo.start(host, port, aws=not args.no_aws)
    except (RuntimeError, ValueError) as exc:
        print(f"socbot console: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"socbot console: cannot listen on {args.console_listen}: "
              f"{exc.strerror or exc}; choose another with --console-listen", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    try:
        records = demo.trail_records(console.aws) if console.aws else []
        sent = console.feed(records)
        aws = (f"moto holds security group {console.aws.group}, instance "
               f"{console.aws.instance} and access key {console.aws.access_key}"
               if console.aws else "no AWS (--no-aws)")
        print(f"socbot console: open {console.url}/ in a browser ({sent} events fed; {aws}). "
              "Ctrl-C stops.", file=sys.stderr, flush=True)
        shown: dict[str, str] = {}
        while not stop.wait(0.5):
            for ts, text in sorted(console.server.workspace.thread_texts().items()):
                if shown.get(ts) != text:
                    shown[ts] = text
                    print(f"socbot console: thread: {terminal_text(text)}", file=sys.stderr,
                          flush=True)
    finally:
        console.close()
    return 0


def terminal_text(text: str) -> str:
    """A Slack fallback text for a terminal: entities decoded, one line, and no control
    character (an escape sequence in an event must not drive the terminal)."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return "".join(c if c.isprintable() else " " for c in text)[:500]
