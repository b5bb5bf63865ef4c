#!/usr/bin/env python3
"""Subscribe to DeltaStream's enriched chains and summaries from Python.

Generates the protobuf classes from schemas/ with the standard tooling
(grpcio-tools' protoc), subscribes with nats-py, and decodes each message by its
Ds-Schema header. Connects with a read-only subscriber credential (an nkey seed
file from `deltastream creds add`, or `.deltastream/creds/subscriber.nk` of
`deltastream up`); its replies use the subscriber's inbox prefix.

    pip install grpcio-tools protobuf nats-py nkeys
    python examples/python/subscribe.py --server nats://127.0.0.1:4222 \
        --creds .deltastream/creds/subscriber.nk --count 10
"""

import argparse
import asyncio
import importlib
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "schemas", "proto")


def generate_classes():
    """Runs protoc on schemas/ into a temp dir and imports the modules."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="deltastream-pb-")
    files = [
        os.path.join("deltastream", "v1", f)
        for f in ("market.proto", "enriched.proto", "dlq.proto")
    ]
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", *files])
    if rc != 0:
        sys.exit(f"protoc failed with {rc}")
    sys.path.insert(0, out)
    return importlib.import_module("deltastream.v1.enriched_pb2")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default=os.environ.get("DS_NATS_URL", "nats://127.0.0.1:4222"))
    ap.add_argument(
        "--creds",
        default=os.environ.get("DS_NATS_CREDS"),
        help="nkey seed file (SU...) or .creds file of a subscriber credential",
    )
    ap.add_argument("--count", type=int, default=10, help="stop after this many messages")
    ap.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    args = ap.parse_args()

    enriched = generate_classes()
    decoders = {
        "deltastream.v1.EnrichedChain": enriched.EnrichedChain,
        "deltastream.v1.ChainSummary": enriched.ChainSummary,
    }

    import nats

    auth = {}
    if args.creds:
        with open(args.creds, encoding="ascii") as f:
            text = f.read()
        if "BEGIN NATS USER JWT" in text:
            auth = {"user_credentials": args.creds}
        else:
            auth = {"nkeys_seed_str": text.strip()}
    # The subscriber may receive replies only under its own inbox prefix.
    nc = await nats.connect(args.server, inbox_prefix=b"_INBOX_subscriber", **auth)
    done = asyncio.Event()
    seen = {"n": 0}

    async def on_message(msg):
        schema = (msg.headers or {}).get("Ds-Schema")
        cls = decoders.get(schema)
        if cls is None:
            return
        m = cls.FromString(msg.data)
        if schema.endswith("EnrichedChain"):
            with_iv = sum(1 for q in m.calls if q.HasField("iv"))
            print(
                f"EnrichedChain {m.product} {m.expiry} spot={m.spot:.2f} strikes={len(m.strikes)} "
                f"pcr_oi={m.pcr_oi:.3f} max_pain={m.max_pain_strike:g} calls_with_iv={with_iv}",
                flush=True,
            )
        else:
            atm_iv = f"{m.atm_iv:.4f}" if m.HasField("atm_iv") else "-"
            print(
                f"ChainSummary {m.product} {m.expiry} pcr_oi={m.pcr_oi:.3f} "
                f"atm={m.atm_strike:g} straddle={m.atm_straddle:.2f} atm_iv={atm_iv}",
                flush=True,
            )
        seen["n"] += 1
        if seen["n"] >= args.count:
            done.set()

    await nc.subscribe("md.enriched.*.chain.*", cb=on_message)
    await nc.subscribe("md.enriched.*.summary", cb=on_message)
    try:
        await asyncio.wait_for(done.wait(), timeout=args.timeout)
    except asyncio.TimeoutError:
        sys.exit(f"timed out after {seen['n']} messages")
    finally:
        await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
