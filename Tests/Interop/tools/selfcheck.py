"""Runs every conformance case twice directly against each third-party backend and compares.

Proves the harness is deterministic (direct vs direct must be identical) without the gateway:
    python3 Tests/Interop/tools/selfcheck.py [--only 6.] [--runs 2]
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance_cases import CASES, run_case  # noqa: E402
from harness import Backend  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--backend", action="append")
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    cases = [c for c in CASES if c.id.startswith(args.only)]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.backend or ["python", "node"]:
            backend = Backend(kind, Path(tmp))
            try:
                t0 = time.monotonic()
                for c in cases:
                    results = [asyncio.run(run_case(c, "127.0.0.1", backend.port, "/echo")) for _ in range(args.runs)]
                    same = all(r == results[0] for r in results)
                    if args.show:
                        print(kind, c.id, results[0][-4:])
                    if not same:
                        failures += 1
                        print(f"NONDETERMINISTIC {kind} {c.id}: {c.description}")
                        for r in results:
                            print("   ", r[:3], "...", r[-3:])
                    for r in results:
                        if any(e[0] == "stalled" for e in r) or r[-1] == ("end", "timeout"):
                            print(f"TIMEOUT {kind} {c.id}: {r[-3:]}")
                            break
                print(f"{kind}: {len(cases)} cases x {args.runs} in {time.monotonic() - t0:.1f}s; backend alive={backend.process.alive()}")
            finally:
                backend.stop()
    print("selfcheck:", "FAILED" if failures else "ok", failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
