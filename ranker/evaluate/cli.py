"""`ranker evaluate`: evaluate models one after another, storing every record, errors included."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ranker.errors import RankerError, StoreError
from ranker.evaluate.data import load_probe_data
from ranker.evaluate.fetch import is_local
from ranker.evaluate.run import DEFAULT_CACHE, Options, evaluate_model, model_key
from ranker.hub import Hub
from ranker.records import Architecture
from ranker.store import Store


def _architectures(store: Store) -> list[Architecture]:
    try:
        return store.architectures()
    except StoreError:
        return []  # a store without architectures.toml: models are untracked


def check_local(model: str) -> None:
    """Refuse, before any work, a model argument that names a local path which is not a model
    folder: a path that does not exist ("no such folder", not "invalid hub repo id"), a file,
    or a folder without config.json. Hub ids pass untouched, whatever the disk holds."""
    path = Path(model).expanduser()
    if not is_local(model):  # a hub id (validated by model_key), whatever the disk holds
        if path.is_dir():
            print(f"ranker evaluate: note: {model} is read as a hub id; for the folder of that "
                  f"name write ./{model} or --path {model}", file=sys.stderr)  # fmt: skip
        return
    if not path.exists():
        raise RankerError(f"no such folder: {model}")
    if not path.is_dir():
        raise RankerError(f"{model}: not a folder (a model is a folder with config.json)")
    if not (path / "config.json").is_file():
        raise RankerError(f"{model}: not a model folder: it has no config.json")


def evaluate_command(args: argparse.Namespace) -> int:
    store = Store(args.data)
    archs = _architectures(store)
    architecture = store.architecture(args.architecture) if args.architecture else None
    models = [*args.models, *(_as_path(p) for p in getattr(args, "path", None) or [])]
    if not models:
        raise RankerError("give a MODEL (a hub id) or --path DIR (a local folder)")
    if args.model_id and len(models) > 1:
        raise RankerError("--model-id names one model; give one MODEL with it")
    for model in models:  # refuse a bad folder or an invalid id before any work
        check_local(model)
        model_key(model)
    from ranker.evaluate import features as F

    F.pick_device(args.device)  # once, before any work: a missing device is the run's fault
    catalog = {e.model_id: e.architecture for e in store.catalog()}  # missing file: empty
    data = load_probe_data(
        args.probe_data, args.train_size, args.eval_size, args.seed, eval_file=args.eval_data
    )
    options = Options(
        device=args.device,
        cache_dir=args.cache_dir or DEFAULT_CACHE,
        max_params=args.max_params,
        progress=not args.no_progress,
        hub=Hub(token=False) if getattr(args, "no_token", False) else None,
    )
    failed = 0
    for model in models:
        arch = architecture
        if arch is None and model in catalog:
            arch = next((a for a in archs if a.id == catalog[model]), None)
        result = evaluate_model(
            model,
            data,
            revision=args.revision,
            architecture=arch,
            base=args.base,
            model_id=args.model_id,
            architectures=archs,
            options=options,
        )
        store.save_result(result)
        if result.status != "ok":
            failed += 1
            print(f"ranker evaluate: {result.model_id}: error: {result.error}", file=sys.stderr)
        if args.json:
            print(json.dumps(result.to_dict(), sort_keys=True))
        elif result.status == "ok":
            gain = "" if result.gain is None else f", gain {result.gain:+.4f}"
            print(f"{result.model_id}: accuracy {result.accuracy:.4f}{gain}")
    return 1 if failed else 0


def _as_path(folder: Path) -> str:
    """A `--path` folder as a model argument that says it is local (`fetch.is_local`)."""
    text = str(folder)
    return text if is_local(text) else "./" + text
