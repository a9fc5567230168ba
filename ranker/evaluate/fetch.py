"""Where a model's files come from: a local folder, or the hub through its one door.

From the hub only what a probe needs is fetched: the tree at the pinned sha says which files
exist (with their hashes and sizes), `loading.select_files` picks the root-level config,
tokenizer and weights (never subfolder checkpoints, ONNX, TF or Flax), the size cap is applied
to the listed sizes before a byte is downloaded, and every file is checked against its hash.
"""

from __future__ import annotations

from pathlib import Path

from ranker.errors import Reason
from ranker.evaluate import loading, protocol
from ranker.hub import Hub
from ranker.records import is_valid_repo_id

WEIGHT_SUFFIXES = (".safetensors", ".bin")


def resolve(
    model: str,
    revision: str | None,
    hub: Hub,
    cache_dir: Path | None,
    max_params: int,
) -> tuple[Path, str, str]:
    """(folder, store id, revision) of a local folder or of a hub repo at `revision`."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path, loading._local_id(path), "local-" + loading.content_hash(path)
    if not is_valid_repo_id(model):
        if "/" in model and (model.startswith((".", "/", "~")) or not path.parent.exists()):
            raise loading.ModelRefused(f"{model!r}: no such folder", Reason.NOT_FOUND)
        raise loading.ModelRefused(
            f"{model!r} is neither a folder nor a valid hub repo id", Reason.INVALID
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
