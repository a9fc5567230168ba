"""Where a model's files come from: a local folder, or the hub through its one door.

Hub ids and local paths never meet: a model argument is a local folder only when it says so
(`is_local`: a `./`, `../`, `/` or `~` prefix); anything else is a hub id, even when the working
directory holds a folder of that name (a checkout has two-level folders like `bench/results`).
`ranker update` and the nightly pass hub ids only, which never carry such a prefix.

From the hub only what a probe needs is fetched: the tree at the pinned sha says which files
exist (with their hashes and sizes), `files.select_files` picks the root-level config,
tokenizer and weights (never subfolder checkpoints, ONNX, TF or Flax), the size cap is applied
to the listed sizes before a byte is downloaded, and every file is checked against its hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ranker import protocol
from ranker.errors import InvalidRepoIdError, ModelRefused, Reason
from ranker.evaluate.files import (
    CHOSEN_WEIGHT_SUFFIXES,
    Selection,
    content_hash,
    local_id,
    select_files,
)
from ranker.hub import Hub
from ranker.records import is_valid_repo_id

LOCAL_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")


class Fetched(NamedTuple):
    """A model's files on disk: the folder, its store id, its revision, and the files
    `select_files` chose (None for a local folder: `loading.inspect` chooses them there)."""

    folder: Path
    model_id: str
    revision: str
    selection: Selection | None = None


def is_local(model: str) -> bool:
    """Whether a model argument names a local folder: only by its form, never by what exists
    on disk (a valid hub id never starts with one of `LOCAL_PREFIXES`)."""
    return model.startswith(LOCAL_PREFIXES) or model in (".", "..")


def model_key(model: str) -> str:
    """The store id of a model argument: a hub id as given (validated: `InvalidRepoIdError`),
    or, for an explicit local path (`is_local`), the folder's cleaned name. A folder in the
    working directory named like a hub id is never taken for the hub repo."""
    if is_local(model):
        return local_id(Path(model).expanduser())
    if not is_valid_repo_id(model):
        raise InvalidRepoIdError(model)
    return model


def checked_repo_id(model: str) -> str:
    """`model` if it is a valid hub repo id, else the model's refusal (`Reason.INVALID`)."""
    if not is_valid_repo_id(model):
        raise ModelRefused(
            f"{model!r} is not a valid hub repo id (a local folder starts with ./ or /)",
            Reason.INVALID,
        )
    return model


def resolve(
    model: str,
    revision: str | None,
    hub: Hub,
    cache_dir: Path | None,
    max_params: int,
) -> Fetched:
    """The files of a local folder, or of a hub repo at `revision` (its latest when None).

    A hub id must be valid already (`model_key` or `checked_repo_id`, once per call path)."""
    if is_local(model):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ModelRefused(f"{model!r}: no such folder", Reason.NOT_FOUND)
        return Fetched(path, local_id(path), "local-" + content_hash(path))
    sha = revision or hub.ref(model).sha
    files = hub.files(model, sha)
    selection = select_files(f.path for f in files)
    chosen = [f for f in files if f.path in set(selection[0])]
    weight_bytes = sum(f.size for f in chosen if f.path.endswith(CHOSEN_WEIGHT_SUFFIXES))
    cap = protocol.max_weight_bytes(max_params)
    if weight_bytes > cap:
        raise ModelRefused(
            f"{model}: weight files of {weight_bytes:,} bytes exceed the cap of {cap:,} bytes "
            f"({max_params:,} parameters)",
            Reason.TOO_LARGE,
        )
    folder = hub.download(model, sha, chosen, cache_dir)
    return Fetched(folder, model, sha, selection)
