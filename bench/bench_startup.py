"""Start-up: the commands a person types to try socbot, each timed as a whole process.

- ``help``: ``socbot --help``;
- ``replay-one``: ``socbot replay --source secure`` of one log line (rules loaded, a throw-away
  embedded Redis started and stopped, one event through detection);
- ``parse-small``: ``socbot parse --source secure`` of a small real log (the sshd lines of
  ``../shared/data/authlog/wazuh/log-entries_sshd``, 345 lines).

Each run is the command's whole wall time, from fork to exit, as ``hyperfine -N`` measures it.
Python's bytecode caches are written by one warm-up run of each command (as ``pip install``
compiles them for an installed package), so the figures are those of an installed socbot:
with ``PYTHONDONTWRITEBYTECODE`` set and no caches, every run compiles every module again.

``--baseline DIR`` measures a second source tree (a checkout of an earlier commit) in the same
run, alternating with this one run by run; medians, and the ratio. Every variant imports
``socbot`` from its own tree (not whatever is installed).

    .venv/bin/python bench/bench_startup.py [--runs 15] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tree_layout import lay_out

ROOT = Path(__file__).resolve().parents[1]
SMALL_LOG = ROOT.parent / "shared" / "data" / "authlog" / "wazuh" / "log-entries_sshd"
ONE_LINE = ("Nov 23 03:14:15 web01 sshd[4242]: Failed password for root from 203.0.113.9 "
            "port 52113 ssh2\n")
TARGET_S = 1.0


def commands(one: Path) -> dict[str, list[str]]:
    cli = ["-m", "socbot.bot.cli"]
    return {
        "help": [*cli, "--help"],
        "replay-one": [*cli, "replay", "--source", "secure", str(one)],
        "parse-small": [*cli, "parse", "--source", "secure", str(SMALL_LOG)],
    }


def environment(path: Path, home: Path) -> dict[str, str]:
    # No configuration, Redis or credentials: the first-run case. The state folder is scratch.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"
           and not k.startswith(("SOCBOT_", "REDIS_", "SLACK_", "AWS_"))}
    env.update(PYTHONPATH=str(path), SOCBOT_STATE_DIR=str(home), HOME=str(home))
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n"
                         f"{done.stderr.decode(errors='replace')}")
    return elapsed


def imported_from(env: dict[str, str], cwd: Path) -> str:
    probe = "import socbot.bot.cli as m; print(m.__file__)"
    return subprocess.run([sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True,
                          text=True, check=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", default="",
                        help="a source tree (checkout of an earlier commit) to measure too")
    args = parser.parse_args()
    if not SMALL_LOG.is_file():
        raise SystemExit(f"{SMALL_LOG} is missing: this benchmark reads the shared samples")
    trees = {"this tree": ROOT}
    if args.baseline:
        trees = {"baseline": Path(args.baseline).resolve(), "this tree": ROOT}
    with tempfile.TemporaryDirectory(prefix="socbot-startup-") as tmp:
        scratch = Path(tmp)
        one = scratch / "one.log"
        one.write_text(ONE_LINE)
        envs = {}
        for n, (label, tree) in enumerate(trees.items()):
            home = scratch / f"home{n}"
            home.mkdir()
            envs[label] = environment(lay_out(tree, scratch / f"tree{n}"), home)
            where = imported_from(envs[label], scratch)
            if not where.startswith(str(scratch / f"tree{n}")):
                raise SystemExit(f"{label}: socbot imported from {where}, not from its tree")
        todo = commands(one)
        for env in envs.values():  # warm-up: bytecode caches written, as installed
            for argv in todo.values():
                timed(argv, env, scratch)
        times: dict[tuple[str, str], list[float]] = {}
        print(f"{args.runs} runs of each command, variants alternating: {', '.join(trees)}")
        for _ in range(args.runs):
            for name, argv in todo.items():
                for label, env in envs.items():
                    times.setdefault((label, name), []).append(timed(argv, env, scratch))
    print("medians (whole process, wall), with the fastest and slowest run:")
    for name in todo:
        for label in trees:
            runs = times[(label, name)]
            median = statistics.median(runs)
            verdict = "under" if median < TARGET_S else "over"
            print(f"  {name:<12} {label:<9} {median * 1000:6.0f} ms  "
                  f"({min(runs) * 1000:.0f} .. {max(runs) * 1000:.0f}; {verdict} "
                  f"{TARGET_S:.0f} s)")
        if args.baseline:
            ratio = (statistics.median(times[("this tree", name)])
                     / statistics.median(times[("baseline", name)]))
            print(f"  {name:<12} this tree / baseline {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
