"""`ranker evaluate`: evaluate models one after another; the CLI stores every record, errors
included (the evaluator only returns them)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ranker.cli.options import Adder
from ranker.cli.probe_options import add_run_arguments
from ranker.errors import RankerError


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "evaluate",
        help="score models with the MNLI linear probe; store the records",
    )
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="hub repo ids; a local folder only with a ./, ../, / or ~ prefix (or --path)",
    )
    p.add_argument(
        "--path",
        type=Path,
        action="append",
        metavar="DIR",
        help="a local model folder to evaluate (repeatable)",
    )
    p.add_argument("--revision", help="hub commit to evaluate (default: the latest)")
    add_run_arguments(p)
    p.add_argument(
        "--architecture", help="tracked architecture (id, alias or slug); default: from the config"
    )
    p.add_argument("--base", help="base model for the gain (hub id or folder); default: the arch's")
    p.add_argument("--model-id", help="id to store a local folder's result under")
    p.add_argument("--json", action="store_true", help="print each record as JSON")
    p.set_defaults(func=evaluate_command)


def _architectures(store) -> list:
    from ranker.errors import StoreError

    try:
        return store.architectures()
    except StoreError:
        return []  # a store without its architectures: models are untracked


def check_local(model: str) -> None:
    """Refuse, before any work, a model argument that names a local path which is not a model
    folder: a path that does not exist ("no such folder", not "invalid hub repo id"), a file,
    or a folder without config.json. Hub ids pass untouched, whatever the disk holds."""
    from ranker.evaluate.fetch import is_local

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


def _models(args: argparse.Namespace) -> list[str]:
    """The MODEL arguments and the --path folders, each checked before any work."""
    from ranker.evaluate.fetch import model_key

    models = [*args.models, *(_as_path(p) for p in getattr(args, "path", None) or [])]
    if not models:
        raise RankerError("give a MODEL (a hub id) or --path DIR (a local folder)")
    if args.model_id and len(models) > 1:
        raise RankerError("--model-id names one model; give one MODEL with it")
    for model in models:  # refuse a bad folder or an invalid id before any work
        check_local(model)
        model_key(model)
    return models


def evaluate_command(args: argparse.Namespace) -> int:
    from ranker.cli.cache import cache_dir
    from ranker.evaluate import features as F
    from ranker.evaluate.data import load_probe_data
    from ranker.evaluate.evaluator import Evaluator
    from ranker.evaluate.run import Options, evaluate_model
    from ranker.hub import Hub
    from ranker.pipeline import storable
    from ranker.store import Store

    store = Store(args.data)
    archs = _architectures(store)
    architecture = store.architecture(args.architecture) if args.architecture else None
    models = _models(args)
    F.pick_device(args.device)  # once, before any work: a missing device is the run's fault
    catalog = {e.model_id: e.architecture for e in store.catalog()}  # missing file: empty
    data = load_probe_data(
        args.probe_data, args.train_size, args.eval_size, args.seed, eval_file=args.eval_data
    )
    options = Options(
        device=args.device,
        cache_dir=cache_dir(args.cache_dir),
        max_params=args.max_params,
        progress=not args.no_progress,
        hub=Hub(token=False) if getattr(args, "no_token", False) else Hub(),
    )
    evaluator = Evaluator(data, options)  # one door and one set of caches for every model
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
            evaluator=evaluator,
        )
        before = _stored(store, result.key) if result.failure == "resource" else None
        kept = storable(result, before)
        if kept is None:
            print(f"ranker evaluate: {model}: rate limited by the hub, not stored; try again",
                  file=sys.stderr)  # fmt: skip
        else:
            store.save_result(kept)
        failed += _report(kept or result, as_json=args.json)
    return 1 if failed else 0


def _stored(store: Any, key: tuple[str, str, str]) -> Any:
    """The stored result at `key`, if any (for a resource failure's count of nights)."""
    return next((r for r in store.results() if r.key == key), None)


def _report(result, *, as_json: bool) -> int:
    """Print one record (an error to stderr); 1 when it failed."""
    if result.status != "ok":
        print(f"ranker evaluate: {result.model_id}: error: {result.error}", file=sys.stderr)
    if as_json:
        print(json.dumps(result.to_dict(), sort_keys=True))
    elif result.status == "ok":
        gain = "" if result.gain is None else f", gain {result.gain:+.4f}"
        print(f"{result.model_id}: accuracy {result.accuracy:.4f}{gain}")
    return 0 if result.status == "ok" else 1


def _as_path(folder: Path) -> str:
    """A `--path` folder as a model argument that says it is local (`fetch.is_local`)."""
    from ranker.evaluate.fetch import is_local

    text = str(folder)
    return text if is_local(text) else "./" + text
