"""The loopback hub's file routes: `resolve` (LFS files: 302 to the CDN; small files: 307 to
the resolve cache) and the resolve cache's 200, under the same access rules as the API.
"""

from __future__ import annotations

import hashlib
import struct
from urllib.parse import unquote, urlencode

from ranker.testing.api import ApiRoutes
from ranker.testing.handler import DISABLED_MESSAGE, Reply, quote_path
from ranker.testing.repos import HubRepo, git_blob_sha, is_lfs, lfs_pointer, xet_hash


class FileRoutes(ApiRoutes):
    """A repo's files, as the hub's resolvers serve them."""

    def _resolve(
        self, repo: HubRepo | None, repo_id: str, revision: str, path: str, prefix: list[str]
    ) -> None:
        """LFS files: 302 to the CDN; small files: 307 to /api/resolve-cache/, there 200."""
        repo, files, commit = self._readable(repo, repo_id, unquote(revision), path)
        data = files[path]
        if repo_id in self.hub.corrupt and path.endswith(".safetensors"):
            data = struct.pack("<Q", 64) + b"{not json" + data[17:]
        if is_lfs(path):
            sha256 = hashlib.sha256(data).hexdigest()
            headers = {
                "Content-Type": "text/plain; charset=utf-8",
                # ETag is the git blob sha of the LFS pointer, not of the content: only
                # X-Linked-Etag names the bytes the CDN serves.
                "ETag": f'"{git_blob_sha(lfs_pointer(data))}"',
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(data)),
                "X-Repo-Commit": commit,
            }
            if repo.is_xet(path):
                # The hub also sends `Link: <...>; rel="xet-auth"`; with it (and hf_xet
                # installed) huggingface_hub downloads over the Xet protocol, which this fake
                # does not serve. Without it the client takes the plain GET, which the real
                # Xet bridge also answers with the whole file.
                key = self.hub.put_blob(data, xet_hash(data))
                headers["X-Xet-Hash"] = key
                location = self.hub.cdn_location(repo, key, path, xet=True)
            else:
                location = self.hub.cdn_location(repo, self.hub.put_blob(data), path)
            headers["Location"] = location
            self._send(302, f"Found. Redirecting to {location}".encode(), headers)
            return
        # Small files go through the resolve cache, at a pinned sha too (seen for `main`; the
        # same assumed for a sha: the stricter choice, two resolver hits either way).
        location = "/" + quote_path(["api", "resolve-cache", f"{repo.repo_type}s",
                                      *repo.id.split("/"), commit, *path.split("/")])  # fmt: skip
        origin = "/" + quote_path([*prefix, *repo.id.split("/"), "resolve", revision,
                                    *path.split("/")])  # fmt: skip
        location += "?" + urlencode({origin: "", "etag": f'"{git_blob_sha(data)}"'})
        body = f"Temporary Redirect. Redirecting to {location}".encode()
        self._send(307, body, {"Content-Type": "text/plain; charset=utf-8",
                               "Location": location, "X-Repo-Commit": commit})  # fmt: skip

    def _readable(
        self, repo: HubRepo | None, repo_id: str, revision: str, path: str
    ) -> tuple[HubRepo, dict[str, bytes], str]:
        """The access rules of a file: (repo, its files at `revision`, the commit sha)."""
        repo = self._visible(repo, repo_id)
        files = self._files_at(repo, revision)
        commit = repo.sha if revision == "main" else revision
        if repo.gated:
            status = 403 if self._authorized() else 401
            raise Reply(status, f"Access to model {repo_id} is restricted.", "GatedRepo",
                         X_Repo_Commit=commit)  # fmt: skip
        if repo.disabled:
            raise Reply(403, DISABLED_MESSAGE)
        if path not in files:
            raise Reply(404, f"Entry not found: {path}", "EntryNotFound", X_Repo_Commit=commit)
        return repo, files, commit

    def _cached(self, repo: HubRepo | None, repo_id: str, sha: str, path: str) -> None:
        """A small file through the resolve cache: 200, ETag (git blob sha), X-Repo-Commit.

        Only a commit sha is accepted here (a branch name is a 404: the stricter choice)."""
        visible = self._visible(repo, repo_id)
        if sha not in visible.revisions:
            raise Reply(404, f"Invalid rev id: {sha}", "RevisionNotFound")
        repo, files, commit = self._readable(visible, repo_id, sha, path)
        data = files[path]
        self._serve_bytes(path, data, {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{git_blob_sha(data)}"',
            "X-Repo-Commit": commit,
            "Accept-Ranges": "bytes",
        })  # fmt: skip
