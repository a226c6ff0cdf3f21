"""``python -m audit verify-bundle FILE [--key PUBKEY]``: check an evidence bundle.

Needs only this package (and ``cryptography``): no database, no vault. Exit 0 when the
bundle holds, 1 when it is refused, 2 on a usage error (a missing file, a bad key).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audit.bundle import load_public_key, verify_bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify-bundle", help="check an evidence bundle of the audit log")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--key",
        type=Path,
        action="append",
        default=[],
        help="a trusted Ed25519 public key of the signer (PEM or hex); repeat for two",
    )
    args = parser.parse_args(argv)
    try:
        data = args.file.read_bytes()
        keys = [load_public_key(path.read_bytes()) for path in args.key]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = verify_bundle(data, keys)
    for line in result.lines:
        print(line)
    if not result.ok:
        print(f"REFUSED ({result.problem}): {result.message}", file=sys.stderr)
        return 1
    print("bundle verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
