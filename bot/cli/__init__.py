"""The ``socbot`` command line.

Each area's subcommands live in one module of this package (``collect``, ``detection``,
``playbooks``, ``audit``; ``doctor`` in ``bot/doctor.py``; ``run`` and ``config`` here), so
adding a command touches one module. The CLI sits on top of the layers: it may import any part
of socbot, and nothing below imports it. ``socbot --help`` and README.md list the commands.

Start-up stays short because a module imports what its command needs when the command runs:
building the parser loads argparse and the registration modules only (no pydantic, Redis,
Slack or boto3), and the configuration is read after the arguments are parsed.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from socbot.core.config import Secrets, Settings

log = logging.getLogger("socbot")

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

EPILOG = """\
environment:
  SOCBOT_CONFIG         YAML configuration file (see README: Configuration reference)
  REDIS_URL             Redis: redis://, rediss://, redis+sentinel://, redis+cluster://;
                        unset: an embedded Redis under the state directory
  SLACK_BOT_TOKEN       xoxb-... bot token; unset: alerts are written to the terminal
  SLACK_APP_TOKEN       xapp-... app-level token: Socket Mode (no public URL needed)
  SLACK_SIGNING_SECRET  HTTP mode: verifies that requests come from Slack
  JIRA_API_TOKEN        Jira Cloud API token for Create ticket (tickets.jira)
  SOCBOT_AWS_EXTERNAL_ID  ExternalId for the remediation role (aws.role_name)
  SOCBOT_DOOR_SECRET    shared secret of the door webhook receiver
  FLUENTD_HOST, FLUENTD_PORT  send the audit trail to fluentd (tag socbot.audit)
  SOCBOT_METRICS_LISTEN HOST:PORT for /metrics and /healthz (off: none)
  SOCBOT_STATE_DIR      local state (embedded Redis, spools); default ~/.local/state/socbot

first run:  socbot run --demo   (or socbot console: the same in a local Slack-like page)
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with every area's subcommands."""
    from socbot.bot.cli.audit import register as audit
    from socbot.bot.cli.collect import register as collectors
    from socbot.bot.cli.console import add_options as console_options
    from socbot.bot.cli.console import register as console
    from socbot.bot.cli.detection import register as detections
    from socbot.bot.cli.intel import register as intel
    from socbot.bot.cli.playbooks import register as playbooks
    from socbot.bot.doctor import register as doctor

    parser = argparse.ArgumentParser(
        prog="socbot", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Security operations bot: collect events, detect, alert in Slack, "
                    "remediate on AWS with approval.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: $SOCBOT_CONFIG; none: defaults)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser("run", help="run the bot (all stages, or one with --role)",
                              description="Run the bot's stages in this process.")
    run.set_defaults(handler=cmd_run)
    run.add_argument("--role", action="append",
                     choices=("detect", "notify", "respond", "index", "escalate", "slack"),
                     help="run only this stage (repeatable); default: all")
    run.add_argument("--listen", default="0.0.0.0:3000", metavar="HOST:PORT",
                     help="HTTP mode address for Slack requests (default %(default)s)")
    run.add_argument("--demo", action="store_true",
                     help="feed the bundled sample log and CloudTrail file through a fresh "
                          "embedded Redis, print the alerts, and exit")
    run.add_argument("--console", action="store_true",
                     help="with --demo: show the alerts in a local page that plays Slack "
                          "(buttons, approvals, playbooks on moto) instead; see socbot console")
    console_options(run)
    collectors(commands)
    detections(commands)
    intel(commands)
    playbooks(commands)
    audit(commands)
    console(commands)
    doctor(commands)
    config = commands.add_parser("config", help="validate the configuration file")
    config.set_defaults(handler=cmd_config)
    config.add_argument("action", choices=("check",))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``socbot`` console script."""
    args = build_parser().parse_args(argv)
    from socbot.core.errors import ConfigError

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if getattr(args, "needs_config", True):
            from socbot.core.config import Secrets, load

            settings = load(args.config)
            secrets = Secrets.from_env()
            if args.command != "doctor":  # doctor reports incomplete credentials itself
                secrets.check_slack()
            code = int(args.handler(args, settings, secrets) or 0)
        else:
            # A command that loads the configuration only if it needs it (parse of a log).
            code = int(args.handler(args, None, None) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except BrokenPipeError:
        # `socbot rules list | head -1`: the reader has gone; say nothing more. (Before
        # ConnectionError, its base class.) Point stdout at /dev/null so the interpreter's own
        # final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except ConfigError as exc:
        print(f"socbot: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except ConnectionError as exc:
        print(f"socbot: {exc}", file=sys.stderr)
        return 3
    except FileNotFoundError as exc:
        print(f"socbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def cmd_run(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot run``."""
    from socbot.bot.runtime import ROLES, Runtime
    from socbot.core.config import host_port
    from socbot.core.process import stop_on_signals, tune_gc, tune_threads
    from socbot.core.redisconn import connect, release

    roles = tuple(args.role) if args.role else ROLES
    if args.console and not args.demo:
        print("socbot: --console goes with --demo (or run `socbot console`)", file=sys.stderr)
        return 2
    if args.demo and args.console:
        from socbot.bot.cli.console import cmd_console

        return cmd_console(args, settings, secrets)
    if args.demo:
        return _demo(settings)
    listen = host_port(args.listen, "--listen")
    client = connect()
    try:
        runtime = Runtime(client, settings, secrets, roles=roles, listen=listen)
        runtime.stop = stop_on_signals()
        # A port in use or not allowed: one line that says what to change, not a traceback.
        try:
            runtime.build()
        except OSError as exc:
            runtime.close()
            print(f"socbot: {_listen_error(exc, args.listen, '--listen')}", file=sys.stderr)
            return 2
        tune_gc()  # start-up is done: the stages' objects are all that is left to collect
        tune_threads()
        try:
            runtime.start()
        except OSError as exc:  # the /metrics and /healthz listener
            runtime.close()
            where = os.environ.get("SOCBOT_METRICS_LISTEN", "")
            print(f"socbot: {_listen_error(exc, where, 'SOCBOT_METRICS_LISTEN')}",
                  file=sys.stderr)
            return 2
        print(f"socbot: running {', '.join(roles)}; {runtime.describe()}. Ctrl-C stops.",
              file=sys.stderr)
        # Wait in short steps: the kernel may deliver SIGTERM to any thread, and a main thread
        # blocked without a timeout would not run the Python handler until something else
        # woke it (the Socket Mode threads made that happen now and then).
        while not runtime.stop.wait(0.5):
            pass
        runtime.close()
        return 0
    finally:
        release(client)  # the embedded Redis stops with the bot unless others still use it


def _listen_error(exc: OSError, listen: str, setting: str) -> str:
    """One line for a listening socket that could not be opened."""
    if exc.errno == errno.EADDRINUSE:
        return (f"cannot listen on {listen}: the address is already in use (another socbot?); "
                f"stop that process or set another HOST:PORT with {setting}")
    if exc.errno == errno.EACCES:
        return (f"cannot listen on {listen}: permission denied (ports below 1024 need "
                f"privileges); set another HOST:PORT with {setting}")
    return f"cannot listen on {listen} ({setting}): {exc.strerror or exc}"


def _demo(settings: Settings) -> int:
    """The bundled samples through every stage but Slack; alerts on the terminal."""
    from socbot.bot.runtime import Runtime
    from socbot.collectors.pipeline import collect_cloudtrail, collect_secure
    from socbot.core.alerts import AlertStore
    from socbot.core.config import Secrets
    from socbot.core.redisconn import discard, embedded

    with tempfile.TemporaryDirectory(prefix="socbot-demo-") as tmp:
        client = embedded(Path(tmp) / "redis.db")
        # The demo talks to a person: everything on stdout, in order.
        print("socbot demo: a fresh embedded Redis; the bundled samples "
              f"{SAMPLES / 'secure.log'} and {SAMPLES / 'cloudtrail.json'} go through the "
              "collectors, the detection rules and the terminal notifier.\n", flush=True)
        # AWS context needs credentials the demo does not have: GeoIP and labels only.
        runtime = Runtime(client, settings, Secrets(),
                          roles=("index", "detect", "notify", "respond"),
                          aws_enrichment=False)
        runtime.build().start()
        secure = collect_secure(client, SAMPLES / "secure.log", threading.Event(),
                                from_start=True, once=True)
        trail = collect_cloudtrail(client, SAMPLES / "cloudtrail.json")
        runtime.wait_idle(timeout=30)
        runtime.close()
        alerts = len(AlertStore(client).open_alerts())
        print(f"socbot demo: {secure.sent + trail.sent} events collected ({secure.sent} log "
              f"lines, {trail.sent} CloudTrail records), {alerts} alerts. With SLACK_BOT_TOKEN "
              "and SLACK_APP_TOKEN set, `socbot run` sends alerts to Slack with buttons; "
              "see README.md.",
              flush=True)
        discard(client)
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot config check``: validate the file and the rule ids it names; print the result."""
    from socbot.bot.doctor import FAIL, check_config
    from socbot.core.config import ConfigError

    finding = check_config(settings, args.config)
    if finding.status == FAIL:
        raise ConfigError(f"{finding.detail}; {finding.fix}")
    print(json.dumps(settings.model_dump(), indent=2))
    if secrets.slack_app_token:
        slack = "Socket Mode"
    elif secrets.slack_enabled:
        slack = "HTTP mode"
    else:
        slack = "off (alerts go to the terminal)"
    print(f"slack: {slack}", file=sys.stderr)
    return 0
