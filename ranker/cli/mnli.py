"""The MNLI pin: the commit of MNLI every run reads, and `ranker pin-mnli`."""

from __future__ import annotations

import argparse

from ranker.cli.options import Adder, add_endpoint


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "pin-mnli",
        help="pin the MNLI commit every run reads (once, from the hub's main)",
    )
    add_endpoint(p, "hub URL (default: $HF_ENDPOINT, else the hub)")
    p.set_defaults(func=pin_mnli_command)


def pin_mnli_command(args: argparse.Namespace) -> int:
    from ranker.hub import Hub
    from ranker.store import Store

    pinned_mnli_revision(Store(args.data), Hub(endpoint=args.endpoint))
    return 0


def pinned_mnli_revision(store, hub) -> str:
    """The MNLI commit every run reads: the store's pin, set once from the hub's `main`.

    Pinning on first use (and committing the pin with `data/`) keeps every later run, on any
    machine, on the same commit; a new MNLI commit is taken only by editing the pin, which is
    a protocol change.
    """
    from ranker import protocol
    from ranker.errors import HubFailure, StoreError

    pin = store.mnli_revision()
    if pin is None:
        try:
            pin = hub.ref(protocol.MNLI_REPO, "dataset").sha
        except HubFailure as exc:
            raise StoreError(protocol.MNLI_REPO, f"cannot download MNLI: {exc}") from None
        store.write_mnli_revision(pin)
        print(f"pinned {protocol.MNLI_REPO} at {pin} ({store.path(store.PROBE_PIN)})", flush=True)
    return pin
