"""The loopback hub's API routes: listings, model_info, trees and paths-info, and the access
rules every route follows (private, gated, disabled, renamed repos; past revisions).

See `ranker.testing.hub` for what each answers; `ranker.testing.routes` maps paths here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ranker.testing.handler import DISABLED_MESSAGE, BaseHandler, Reply, quote_path
from ranker.testing.repos import EXPAND_NAMES, HubRepo, git_oid, is_lfs, lfs_pointer, xet_hash


def _sort_key(field_name: str) -> Any:
    def key(repo: HubRepo) -> Any:
        value = {
            "downloads": repo.downloads,
            "likes": repo.likes,
            "lastModified": repo.last_modified,
            "createdAt": repo.created_at,
            "trendingScore": repo.likes,
        }.get(field_name, repo.id)
        return value

    return key


class ApiRoutes(BaseHandler):
    """The hub's `/api/{models|datasets}` answers and its access rules."""

    # -- access --------------------------------------------------------------------------------

    def _not_found(self, repo_id: str) -> Reply:
        # As the hub: 401 to an anonymous request, 404 to an authenticated one.
        status = 404 if self._authorized() else 401
        return Reply(status, f"Repository Not Found for {repo_id}", "RepoNotFound")

    def _may_read(self, repo: HubRepo) -> bool:
        """Public, or private and the request's token is one of its readers'."""
        return not repo.private or self._token() in repo.readers

    def _visible(self, repo: HubRepo | None, repo_id: str) -> HubRepo:
        if repo is None or not self._may_read(repo):
            raise self._not_found(repo_id)
        return repo

    def _enabled(self, repo: HubRepo | None, repo_id: str) -> HubRepo:
        """A visible repo that is not disabled: a disabled one answers 403 on API and resolve
        routes alike, named only by its message (no X-Error-Code), as the hub does."""
        repo = self._visible(repo, repo_id)
        if repo.disabled:
            raise Reply(403, DISABLED_MESSAGE)
        return repo

    def _files_at(self, repo: HubRepo, revision: str) -> dict[str, bytes]:
        if revision in ("main", repo.sha):
            return repo.files
        if revision in repo.revisions:
            return repo.revisions[revision]
        raise Reply(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _moved(self, repo_type: str, new_id: str, prefix: list[str], rest: list[str]) -> None:
        """A renamed repo: 307 to the same path under its new id (same query)."""
        repo = self.hub.repos.get((repo_type, new_id))
        if repo is None or not self._may_read(repo):
            raise self._not_found(new_id)
        location = "/" + quote_path([*prefix, *new_id.split("/"), *rest])
        if self.raw_query:
            location += "?" + self.raw_query
        self._json(307, {"error": f"Repository moved to {new_id}"}, {"Location": location})

    def _overrides(self, repo: HubRepo) -> dict[str, Any] | None:
        return self.hub.listing_overrides.get((repo.repo_type, repo.id))

    # -- API ------------------------------------------------------------------------------------

    def _expand(self, repo_type: str) -> list[str]:
        """The `expand` / `expand[]` names asked for; an unknown one fails the request (400)."""
        names = self.query.get("expand") or self.query.get("expand[]") or []
        unknown = sorted(set(names) - EXPAND_NAMES[repo_type])
        if unknown:
            allowed = ", ".join(f'"{n}"' for n in sorted(EXPAND_NAMES[repo_type]))
            raise Reply(400, f'"expand" contains unknown values {unknown}: must be one of '
                              f"{allowed}")  # fmt: skip
        return names

    def _list(self, repo_type: str) -> None:
        hub, q = self.hub, self.query
        filters = q.get("filter", [])
        search = (q.get("search") or [""])[0].lower()
        author = (q.get("author") or [""])[0]
        gated = (q.get("gated") or [""])[0].lower()
        with hub.lock:
            repos = [r for (t, _), r in hub.repos.items() if t == repo_type]
        repos = [
            r
            for r in repos
            if all(f in r.hub_tags() for f in filters)
            and search in r.id.lower()
            and (not author or r.id.split("/")[0] == author)
            and self._may_read(r)
            and (gated == "" or (gated == "true") == bool(r.gated))
        ]
        sort = (q.get("sort") or [""])[0]
        if sort:
            descending = (q.get("direction") or ["-1"])[0] != "1"
            repos.sort(key=lambda r: r.id)
            repos.sort(key=_sort_key(sort), reverse=descending)
        else:
            repos.sort(key=lambda r: r.id)
        fields = self._fields(repo_type)
        limit = int((q.get("limit") or [str(hub.page_size)])[0])
        page = max(1, min(limit, hub.page_size))
        start = self._cursor()
        chunk = repos[start : start + page]
        headers = {}
        if start + page < len(repos):
            params = [(k, v) for k, vs in q.items() if k != "cursor" for v in vs]
            params.append(("cursor", str(start + page)))
            next_url = f"{hub.url}/api/{repo_type}s?{urlencode(params)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(200, [r.info(fields, self._overrides(r)) for r in chunk], headers)

    def _fields(self, repo_type: str) -> set[str] | None:
        """Which fields a listing returns: the expand list, or the hub's defaults."""
        q = self.query
        expand = self._expand(repo_type)
        if expand:
            return set(expand)
        fields = {"likes", "downloads", "tags", "pipeline_tag", "library_name", "createdAt",
                  "private"}  # fmt: skip
        if (q.get("full") or [""])[0].lower() == "true":
            fields |= {"sha", "lastModified", "siblings", "author", "gated", "disabled"}
        if (q.get("config") or [""])[0].lower() == "true":
            fields.add("config")
        if (q.get("cardData") or [""])[0].lower() == "true":
            fields.add("cardData")
        return fields

    def _info(self, repo: HubRepo | None, repo_id: str, revision: str | None) -> None:
        repo = self._enabled(repo, repo_id)
        expand = self._expand(repo.repo_type)
        fields = set(expand) if expand else None
        info = repo.info(fields, None)
        if revision is not None and revision not in ("main", repo.sha):
            files = self._files_at(repo, revision)
            info["sha"] = revision
            if fields is None or "siblings" in fields:
                info["siblings"] = [{"rfilename": n} for n in sorted(files)]
        for name, value in (self._overrides(repo) or {}).items():
            if fields is None or name in fields or name in info:
                info[name] = value
        self._json(200, info)

    def _entry(self, repo: HubRepo, name: str, data: bytes) -> dict[str, Any]:
        # `oid` is the git blob sha of what git holds: the file, or for LFS its pointer file.
        entry: dict[str, Any] = {"type": "file", "oid": git_oid(name, data), "size": len(data),
                                 "path": name}  # fmt: skip
        if is_lfs(name):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                            "pointerSize": len(lfs_pointer(data))}  # fmt: skip
            if repo.is_xet(name):
                entry["xetHash"] = xet_hash(data)
        return entry

    def _tree(self, repo: HubRepo | None, repo_id: str, revision: str, sub: str) -> None:
        repo = self._enabled(repo, repo_id)
        files = self._files_at(repo, unquote(revision))
        recursive = (self.query.get("recursive") or [""])[0].lower() == "true"
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        if prefix and not any(n.startswith(prefix) for n in files):
            raise Reply(404, f"{sub} does not exist", "EntryNotFound")
        out: list[dict[str, Any]] = []
        folders: set[str] = set()
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if "/" in rest and not recursive:
                folder = prefix + rest.split("/")[0]
                if folder not in folders:
                    folders.add(folder)
                    out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
                continue
            out.append(self._entry(repo, name, files[name]))
        self._page(out)

    def _cursor(self) -> int:
        """Where a page starts (the fake's cursor: an offset; the hub's is opaque)."""
        raw = (self.query.get("cursor") or ["0"])[0]
        if not raw.isdigit():
            raise Reply(400, f"Invalid cursor: {raw!r}")
        return int(raw)

    def _page(self, entries: list[dict[str, Any]]) -> None:
        """One page of a tree: 1,000 entries (50 with `expand`), the next in `Link` (a cursor
        into the same listing, the rest of the query kept)."""
        expand = (self.query.get("expand") or [""])[0].lower() in ("true", "1")
        size = self.hub.tree_expand_page_size if expand else self.hub.tree_page_size
        start = self._cursor()
        headers = {}
        if start + size < len(entries):
            params = [(k, v) for k, vs in self.query.items() if k != "cursor" for v in vs]
            params.append(("cursor", str(start + size)))
            path = urlsplit(self.path).path
            headers["Link"] = f'<{self.hub.url}{path}?{urlencode(params)}>; rel="next"'
        self._json(200, entries[start : start + size], headers)

    def _paths_info(self, repo: HubRepo | None, repo_id: str, revision: str) -> None:
        repo = self._enabled(repo, repo_id)
        files = self._files_at(repo, unquote(revision))
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            paths = json.loads(self.body or b"{}").get("paths", [])
        else:
            paths = parse_qs(self.body.decode()).get("paths", [])
        self._json(200, [self._entry(repo, p, files[p]) for p in paths if p in files])
