"""Runs chosen conformance cases directly and through a freshly started wsgate, printing both
transcripts (for debugging a difference):
    python3 Tests/Interop/tools/gwcase.py [--wsgate PATH] [--backend node] 3.1 7.1.6
"""
import argparse
import asyncio
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import conftest  # noqa: E402
from conformance_cases import CASES, run_case  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from harness import Backend, Gateway, free_port, resolve_wsgate  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wsgate")
    ap.add_argument("--backend", default="python")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        secret = secrets.token_urlsafe(48).encode()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = work / "rsa.pub.pem"
        from cryptography.hazmat.primitives import serialization
        pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
        b = Backend(args.backend, work)
        config = conftest.base_config(free_port(), free_port(), pem, work, "dbg")
        config["routes"] = [{"path": "/c", "upstream": f"ws://127.0.0.1:{b.port}/echo", "auth": "required"}]
        gw = Gateway(resolve_wsgate(args.wsgate), config, work, {conftest.SECRET_ENV: secret.decode()})
        token = conftest.Minter(secret, key).hs256()
        try:
            for cid in args.cases:
                c = next(c for c in CASES if c.id == cid)
                for _ in range(args.repeat):
                    d = asyncio.run(run_case(c, "127.0.0.1", b.port, "/echo"))
                    v = asyncio.run(run_case(c, gw.host, gw.port, "/c", [("Authorization", f"Bearer {token}")]))
                    print(cid, "SAME" if d == v else "DIFF")
                    print("  direct:", d)
                    print("  via   :", v)
        finally:
            gw.stop()
            b.stop()
            print("--- wsgate stderr ---\n" + gw.process.stderr_tail())


if __name__ == "__main__":
    main()
