"""A local stand-in for huggingface.co, so tests can push to and load from "the Hub" with no network.

`LocalHub` serves, on 127.0.0.1 and an ephemeral port, the few Hub endpoints that the real `huggingface_hub`
client (2.x) calls to create a repo, create a branch, commit files and download them again. Point a process at it
with the environment variable `HF_ENDPOINT=hub.url` (set before `huggingface_hub` is imported there).

What it keeps in memory, for tests to inspect: every repo (visibility, branches, commits with their files) and
every request (method, path, and the token of its `Authorization` header).

Endpoints: POST /api/repos/create, POST /api/validate-yaml, POST /api/models/{repo}/preupload|commit|branch/{rev},
GET /api/models/{repo}[/revision/{rev}], GET /api/models/{repo}/tree/{rev}[/{path}], HEAD|GET /{repo}/resolve/{rev}/{path}.

Simplifications: every file is a plain git blob ("regular" upload mode: content base64 inside the ndjson commit,
no LFS/Xet); no pull requests, no pagination; only writes need a token.
"""

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


def git_blob_sha1(content: bytes) -> str:
    """The oid git (and the Hub) give a regular file; the client compares it to skip unchanged files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Commit:
    sha: str
    message: str
    files: dict[str, bytes]


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch name -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)

    def commit(self, branch: str, message: str, files: dict[str, bytes]) -> Commit:
        sha = hashlib.sha1(f"{self.repo_id}:{len(self.commits)}:{message}".encode()).hexdigest()
        self.commits[sha] = Commit(sha, message, files)
        self.branches[branch] = sha
        return self.commits[sha]

    def resolve(self, revision: str) -> Commit | None:
        sha = self.branches.get(revision, revision)
        return self.commits.get(sha)

    def files(self, revision: str = "main") -> dict[str, bytes]:
        return self.resolve(revision).files


@dataclass
class HubError(Exception):
    status: int
    code: str  # the X-Error-Code the client maps to RepositoryNotFoundError, EntryNotFoundError, ...
    message: str
    commit: str | None = None
    extra: dict = field(default_factory=dict)


class LocalHub:
    """Start with `LocalHub().start()`, stop with `.stop()`; `.url` is the value for `HF_ENDPOINT`."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "LocalHub":
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def tokens_received(self) -> set[str]:
        return {request["token"] for request in self.requests if request["token"]}

    def _handler_class(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self._dispatch(send_body=True)

            def do_HEAD(self):
                self._dispatch(send_body=False)

            def do_POST(self):
                self._dispatch(send_body=True)

            def log_message(self, *args):  # keep test output quiet
                pass

            def _dispatch(self, send_body: bool):
                url = urlsplit(self.path)
                parts = [unquote(part) for part in url.path.strip("/").split("/")]
                authorization = self.headers.get("Authorization", "")
                token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hub.lock:
                    hub.requests.append({"method": self.command, "path": url.path, "token": token})
                    try:
                        status, headers, content = hub.route(self.command, parts, body, token)
                    except HubError as error:
                        status, content = error.status, json.dumps({"error": error.message, **error.extra}).encode()
                        headers = {"Content-Type": "application/json", "X-Error-Code": error.code,
                                   "X-Error-Message": error.message}
                        if error.commit:
                            headers["X-Repo-Commit"] = error.commit
                self.send_response(status)
                for name, value in {"Content-Length": str(len(content)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(content)

        return Handler

    # --- routing: every method returns (status, headers, body bytes) or raises HubError ---

    def route(self, method: str, parts: list[str], body: bytes, token: str | None):
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self.create_repo(json.loads(body), token)
        if method == "POST" and parts == ["api", "validate-yaml"]:
            return self.json({"errors": [], "warnings": []})
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = self.repo(f"{parts[2]}/{parts[3]}")
            action, rest = (parts[4], parts[5:]) if len(parts) > 4 else (None, [])
            if method == "POST" and action == "preupload":
                return self.preupload(repo, "/".join(rest), json.loads(body), token)
            if method == "POST" and action == "commit":
                return self.commit(repo, "/".join(rest), body, token)
            if method == "POST" and action == "branch":
                return self.create_branch(repo, "/".join(rest), json.loads(body or b"{}"), token)
            if method == "GET" and action == "tree" and rest:
                return self.tree(repo, rest[0], "/".join(rest[1:]))
            if method == "GET" and action in (None, "revision"):
                return self.model_info(repo, "/".join(rest) or "main")
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(self.repo(f"{parts[0]}/{parts[1]}"), parts[3], "/".join(parts[4:]))
        raise HubError(404, "EntryNotFound", f"The local Hub does not serve {method} /{'/'.join(parts)}")

    @staticmethod
    def json(data, status: int = 200):
        return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

    def repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, "RepoNotFound", f"Repository {repo_id} not found")
        return self.repos[repo_id]

    @staticmethod
    def require_token(token: str | None):
        if not token:
            raise HubError(401, "RepoNotFound", "Invalid credentials in Authorization header")

    def commit_of(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    def create_repo(self, payload: dict, token: str | None):
        self.require_token(token)
        repo_id = f"{payload.get('organization') or 'local-user'}/{payload['name']}"
        url = f"{self.url}/{repo_id}"
        if repo_id in self.repos:
            # The client reads `url` even from the 409 answer.
            raise HubError(409, "RepoExists", "You already created this model repo", extra={"url": url})
        repo = self.repos[repo_id] = Repo(repo_id, private=payload.get("visibility") == "private")
        repo.commit("main", "initial commit", {".gitattributes": b""})
        return self.json({"url": url, "name": repo_id})

    def create_branch(self, repo: Repo, branch: str, payload: dict, token: str | None):
        self.require_token(token)
        if branch in repo.branches:
            raise HubError(409, "BranchExists", f"Branch {branch} already exists")
        repo.branches[branch] = self.commit_of(repo, payload.get("startingPoint") or "main").sha
        return self.json({})

    def preupload(self, repo: Repo, revision: str, payload: dict, token: str | None):
        self.require_token(token)
        existing = self.commit_of(repo, revision).files
        files = [
            {
                "path": item["path"],
                "uploadMode": "regular",  # never LFS/Xet: the content then travels inside the commit
                "shouldIgnore": False,
                "oid": git_blob_sha1(existing[item["path"]]) if item["path"] in existing else None,
            }
            for item in payload["files"]
        ]
        return self.json({"files": files})

    def commit(self, repo: Repo, revision: str, body: bytes, token: str | None):
        self.require_token(token)
        files = dict(self.commit_of(repo, revision).files)
        message = ""
        for line in body.decode().splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                message = value["summary"]
            elif item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "deletedFile":
                files.pop(value["path"], None)
            else:
                raise HubError(400, "BadRequest", f"The local Hub does not support commit operation {item['key']!r}")
        commit = repo.commit(revision, message, files)
        return self.json({"commitUrl": f"{self.url}/{repo.repo_id}/commit/{commit.sha}", "commitOid": commit.sha})

    def model_info(self, repo: Repo, revision: str):
        commit = self.commit_of(repo, revision)
        siblings = [{"rfilename": path, "size": len(content)} for path, content in sorted(commit.files.items())]
        return self.json({"id": repo.repo_id, "modelId": repo.repo_id, "sha": commit.sha, "private": repo.private,
                          "siblings": siblings, "tags": []})

    def tree(self, repo: Repo, revision: str, folder: str):
        """The files under `folder` (all depths; the client's `recursive` flag is not needed here)."""
        prefix = f"{folder}/" if folder else ""
        files = {path: content for path, content in self.commit_of(repo, revision).files.items()
                 if path.startswith(prefix)}
        if folder and not files:
            raise HubError(404, "EntryNotFound", f"{folder} does not exist on {revision}")
        return self.json([{"type": "file", "path": path, "size": len(content), "oid": git_blob_sha1(content)}
                          for path, content in sorted(files.items())])

    def resolve(self, repo: Repo, revision: str, path: str):
        commit = self.commit_of(repo, revision)
        if path not in commit.files:
            # EntryNotFound (with the commit) is how the client learns an optional file is absent.
            raise HubError(404, "EntryNotFound", f"Entry not found: {path}", commit=commit.sha)
        content = commit.files[path]
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{git_blob_sha1(content)}"',
                   "Content-Type": "application/octet-stream"}
        return 200, headers, content
