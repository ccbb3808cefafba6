"""The ``anyrecon`` command. Each sub-command lives in its own module of this package and
exposes ``register(subparsers)`` which adds its parser and sets ``func(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

# Static list of sub-command modules (engine/cli/<name>.py); missing ones are skipped.
COMMANDS = ("demo", "generate", "track", "register", "render", "export", "splat", "batch", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anyrecon", description="AnyRecon Studio engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"engine.cli.{name.replace('-', '_')}")
        except ModuleNotFoundError as exc:
            if exc.name == f"engine.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def print_json_summary(summary: dict) -> None:
    """The one-line JSON summary printed last with --json."""
    print(json.dumps(summary, default=float), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"anyrecon {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
