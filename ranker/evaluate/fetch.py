"""Where a model's files come from: a local folder, or the hub through its one door.

Hub ids and local paths never meet: a model argument is a local folder only when it says so
(`is_local`: a `./`, `../`, `/` or `~` prefix); anything else is a hub id, even when the working
directory holds a folder of that name (a checkout has `data/legacy`, `bench/results`).
`ranker update` and the nightly pass hub ids only, which never carry such a prefix.

From the hub only what a probe needs is fetched: the tree at the pinned sha says which files
exist (with their hashes and sizes), `loading.select_files` picks the root-level config,
tokenizer and weights (never subfolder checkpoints, ONNX, TF or Flax), the size cap is applied
to the listed sizes before a byte is downloaded, and every file is checked against its hash.
"""

from __future__ import annotations

from pathlib import Path

from ranker import protocol
from ranker.errors import Reason
from ranker.evaluate import loading
from ranker.hub import Hub
from ranker.records import is_valid_repo_id

WEIGHT_SUFFIXES = (".safetensors", ".bin")
LOCAL_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")


def is_local(model: str) -> bool:
    """Whether a model argument names a local folder: only by its form, never by what exists
    on disk (a valid hub id never starts with one of `LOCAL_PREFIXES`)."""
    return model.startswith(LOCAL_PREFIXES) or model in (".", "..")


def resolve(
    model: str,
    revision: str | None,
    hub: Hub,
    cache_dir: Path | None,
    max_params: int,
) -> tuple[Path, str, str]:
    """(folder, store id, revision) of a local folder or of a hub repo at `revision`."""
    if is_local(model):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise loading.ModelRefused(f"{model!r}: no such folder", Reason.NOT_FOUND)
        return path, loading._local_id(path), "local-" + loading.content_hash(path)
    if not is_valid_repo_id(model):
        raise loading.ModelRefused(
            f"{model!r} is not a valid hub repo id (a local folder starts with ./ or /)",
            Reason.INVALID,
        )
    sha = revision or hub.ref(model).sha
    files = hub.files(model, sha)
    names, _ = loading.select_files(f.path for f in files)
    chosen = [f for f in files if f.path in set(names)]
    weight_bytes = sum(f.size for f in chosen if f.path.endswith(WEIGHT_SUFFIXES))
    cap = protocol.max_weight_bytes(max_params)
    if weight_bytes > cap:
        raise loading.ModelRefused(
            f"{model}: weight files of {weight_bytes:,} bytes exceed the cap of {cap:,} bytes "
            f"({max_params:,} parameters)",
            Reason.TOO_LARGE,
        )
    folder = hub.download(model, sha, chosen, cache_dir)
    return folder, model, sha
