"""A local stand-in for huggingface.co, so tests can push to and load from "the Hub" with no network.

`LocalHub` serves, on 127.0.0.1 and an ephemeral port, the Hub endpoints that the real `huggingface_hub` client
(2.x) calls to create a repo and a branch, commit files and download them again, and a second server on another
port, `LocalHub.storage_url`, that stands for the Hub's large-file storage (S3 for uploads, the CDN for downloads).
Point a process at it with `HF_ENDPOINT=hub.url` and `HF_HUB_DISABLE_XET=1` (both set before `huggingface_hub` is
imported there): with the `hf_xet` package installed the client uploads every large file through Xet, whatever the
server answers, and Xet (a chunk store with its own protocol) is not emulated here. With Xet disabled the client
takes the Hub's plain LFS path, the one every client without `hf_xet` takes, and that path is emulated as the Hub
runs it:

- `preupload` answers `lfs` for files the repo's `.gitattributes` sends to LFS (`*.safetensors`, ...), for binary
  files (PNG images) and for files of 10 MB or more; `regular` for the rest, with the oid of the stored file
  (git blob sha1, or the sha256 of an LFS file) so that the client can skip unchanged files;
- LFS files go through the LFS batch API (`POST {repo}.git/info/lfs/objects/batch`), which answers an upload URL
  on the storage server (signed; `PUT` without the Hub token, the content must match the announced sha256 and size)
  and a `verify` action back on the Hub, which only accepts an object the storage server received whole;
- the commit (ndjson) must carry `lfsFile` entries (path, sha256, size) for those files, each verified before; a
  binary file sent inline as a regular `file` is refused, as the Hub refuses binary files outside LFS/Xet;
- downloads of an LFS file (`/resolve/`) answer `302` to a signed URL on the storage server, with the file's
  sha256 and size in `X-Linked-Etag` / `X-Linked-Size` (which the client reads from the redirect itself); the
  client then fetches it from there without its Hub token;
- tokens are checked against the known set `tokens` (token -> user name): an unknown token is refused with 401
  "Invalid credentials in Authorization header" on any endpoint; writes need the token of the repo's owner;
- a private repo refuses every read without a token (401, `X-Error-Code: RepoNotFound`, which the client raises
  as `RepositoryNotFoundError`) and with another user's token (404, the same code), as the Hub does;
- an endpoint this file does not emulate answers `501 Not Implemented` (never a 404 "entry not found", which
  clients read as "optional file absent") and is recorded in `unhandled`, so a test can assert none was hit.

What it keeps in memory, for tests to inspect: every repo (visibility, branches, commits with their files, which
files are stored in LFS and the operations each commit carried), the LFS objects, and every request (server,
method, path, the token of its `Authorization` header, and the status answered).

Simplifications: no Xet, no multipart LFS uploads (the files here are small), no pull requests, no pagination, no
organisations (a user writes only under their own name).
"""

import base64
import fnmatch
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# Files the Hub's default .gitattributes sends to LFS (an excerpt of what a new repo gets).
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.msgpack", "*.npy",
                "*.npz", "*.pkl", "*.pickle", "*.parquet", "*.arrow", "*.zip", "*.gz", "*.tar", "*tfevents*")
DEFAULT_GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS)
LARGE_FILE_BYTES = 10 * 1024 * 1024  # the Hub sends files of this size and more to LFS
LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


def git_blob_sha1(content: bytes) -> str:
    """The oid git (and the Hub) give a regular file; the client compares it to skip unchanged files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def lfs_pointer(content: bytes) -> bytes:
    """The small git blob that stands in the repo for an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(content)}\nsize {len(content)}\n".encode()


def is_binary(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\0" in sample


@dataclass
class Commit:
    sha: str
    message: str
    files: dict[str, bytes]  # path -> content (LFS files too: their content, not their pointer)
    lfs: dict[str, str] = field(default_factory=dict)  # path -> sha256, for the files stored in LFS
    operations: list[tuple[str, str]] = field(default_factory=list)  # (ndjson key, path) as the commit carried them


@dataclass
class Repo:
    repo_id: str
    owner: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch name -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)

    def commit(self, branch: str, message: str, files: dict[str, bytes], lfs: dict[str, str],
               operations: list[tuple[str, str]]) -> Commit:
        sha = hashlib.sha1(f"{self.repo_id}:{len(self.commits)}:{message}".encode()).hexdigest()
        self.commits[sha] = Commit(sha, message, files, lfs, operations)
        self.branches[branch] = sha
        return self.commits[sha]

    def resolve(self, revision: str) -> Commit | None:
        sha = self.branches.get(revision, revision)
        return self.commits.get(sha)

    def files(self, revision: str = "main") -> dict[str, bytes]:
        return self.resolve(revision).files

    def sends_to_lfs(self, revision: str, path: str, size: int, sample: bytes) -> bool:
        gitattributes = self.resolve(revision).files.get(".gitattributes", b"").decode()
        patterns = [line.split()[0] for line in gitattributes.splitlines() if "filter=lfs" in line]
        name = path.rsplit("/", 1)[-1]
        return (any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in patterns)
                or size >= LARGE_FILE_BYTES or is_binary(sample))


@dataclass
class HubError(Exception):
    status: int
    code: str | None  # the X-Error-Code the client maps to RepositoryNotFoundError, EntryNotFoundError, ...
    message: str
    commit: str | None = None
    extra: dict = field(default_factory=dict)


class LocalHub:
    """Start with `LocalHub(tokens).start()`, stop with `.stop()`; `.url` is the value for `HF_ENDPOINT`.
    `tokens`: the valid tokens and the user each belongs to."""

    def __init__(self, tokens: dict[str, str]):
        self.tokens = dict(tokens)
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content, verified
        self.uploaded: dict[str, bytes] = {}  # sha256 -> content received by storage, not yet verified
        self.requests: list[dict] = []
        self.unhandled: list[str] = []
        self.lock = threading.Lock()
        self.signing_key = secrets.token_bytes(16)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class("hub", self.route))
        self.storage = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class("storage", self.route_storage))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.storage_url = f"http://127.0.0.1:{self.storage.server_port}"  # another origin, as S3/the CDN are
        self.threads = [threading.Thread(target=server.serve_forever, daemon=True)
                        for server in (self.server, self.storage)]

    def start(self) -> "LocalHub":
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        for server in (self.server, self.storage):
            server.shutdown()
            server.server_close()

    def tokens_received(self) -> set[str]:
        return {request["token"] for request in self.requests if request["token"]}

    def requests_to(self, server: str, method: str | None = None, path_contains: str = "") -> list[dict]:
        return [request for request in self.requests if request["server"] == server
                and (method is None or request["method"] == method) and path_contains in request["path"]]

    def _handler_class(self, server_name: str, route):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self._dispatch(send_body=True)

            def do_HEAD(self):
                self._dispatch(send_body=False)

            def do_POST(self):
                self._dispatch(send_body=True)

            def do_PUT(self):
                self._dispatch(send_body=True)

            def do_DELETE(self):
                self._dispatch(send_body=True)

            def log_message(self, *args):  # keep test output quiet
                pass

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _dispatch(self, send_body: bool):
                url = urlsplit(self.path)
                parts = [unquote(part) for part in url.path.strip("/").split("/")]
                authorization = self.headers.get("Authorization", "")
                token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
                body = self._read_body()
                with hub.lock:
                    request = {"server": server_name, "method": self.command, "path": url.path, "token": token}
                    hub.requests.append(request)
                    try:
                        status, headers, content = route(self.command, parts, parse_qs(url.query), body, token)
                    except HubError as error:
                        status, content = error.status, json.dumps({"error": error.message, **error.extra}).encode()
                        headers = {"Content-Type": "application/json", "X-Error-Message": error.message}
                        if error.code:
                            headers["X-Error-Code"] = error.code
                        if error.commit:
                            headers["X-Repo-Commit"] = error.commit
                        if error.status == 501:
                            hub.unhandled.append(f"{server_name}: {self.command} {url.path}")
                    except Exception as error:  # a bug here must show as a server error, not as an answer
                        status, headers = 500, {"Content-Type": "text/plain", "X-Error-Message": repr(error)}
                        content = repr(error).encode()
                        hub.unhandled.append(f"{server_name}: {self.command} {url.path} raised {error!r}")
                    request["status"] = status
                self.send_response(status)
                for name, value in {"Content-Length": str(len(content)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(content)

        return Handler

    # --- the Hub: every method returns (status, headers, body bytes) or raises HubError ---

    def route(self, method: str, parts: list[str], query: dict, body: bytes, token: str | None):
        user = self.user(token)
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self.create_repo(json.loads(body), user)
        if method == "POST" and parts == ["api", "validate-yaml"]:
            return self.json({"errors": [], "warnings": []})
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = self.readable_repo(f"{parts[2]}/{parts[3]}", user)
            action, rest = (parts[4], parts[5:]) if len(parts) > 4 else (None, [])
            if method == "POST" and action == "preupload":
                return self.preupload(repo, "/".join(rest), json.loads(body), user)
            if method == "POST" and action == "commit":
                return self.commit(repo, "/".join(rest), body, user)
            if method == "POST" and action == "branch":
                return self.create_branch(repo, "/".join(rest), json.loads(body or b"{}"), user)
            if method == "GET" and action == "tree" and rest:
                return self.tree(repo, rest[0], "/".join(rest[1:]))
            if method == "GET" and action in (None, "revision"):
                return self.model_info(repo, "/".join(rest) or "main")
        if len(parts) == 6 and parts[1].endswith(".git") and parts[2:5] == ["info", "lfs", "objects"]:
            repo = self.readable_repo(f"{parts[0]}/{parts[1].removesuffix('.git')}", user)
            if method == "POST" and parts[5] == "batch":
                return self.lfs_batch(repo, json.loads(body), user)
            if method == "POST" and parts[5] == "verify":
                return self.lfs_verify(repo, json.loads(body), user)
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(self.readable_repo(f"{parts[0]}/{parts[1]}", user), parts[3], "/".join(parts[4:]))
        raise self.not_emulated(method, parts)

    @staticmethod
    def not_emulated(method: str, parts: list[str]) -> HubError:
        hint = (" (Xet is not emulated: run the client with HF_HUB_DISABLE_XET=1)"
                if any(part.startswith("xet-") for part in parts) else "")
        return HubError(501, "NotImplemented", f"The local Hub does not emulate {method} /{'/'.join(parts)}{hint}")

    @staticmethod
    def json(data, status: int = 200, content_type: str = "application/json"):
        return status, {"Content-Type": content_type}, json.dumps(data).encode()

    def user(self, token: str | None) -> str | None:
        if token is None:
            return None
        if token not in self.tokens:
            raise HubError(401, None, INVALID_CREDENTIALS)
        return self.tokens[token]

    def readable_repo(self, repo_id: str, user: str | None) -> Repo:
        """The repo, if `user` may read it; a private repo is hidden from everyone but its owner, as the Hub does
        (401 without a token, 404 with another user's)."""
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and user != repo.owner):
            status = 401 if user is None and repo is not None else 404
            raise HubError(status, "RepoNotFound", "Repository not found")
        return repo

    @staticmethod
    def require_owner(repo: Repo, user: str | None):
        if user is None:
            raise HubError(401, None, "You must be authenticated to write to a repository")
        if user != repo.owner:
            raise HubError(403, None, f"You don't have the rights to write to {repo.repo_id}")

    def commit_of(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    def create_repo(self, payload: dict, user: str | None):
        if user is None:
            raise HubError(401, None, "You must be authenticated to create a repository")
        if payload.get("type", "model") != "model":
            raise self.not_emulated("POST", ["api", "repos", "create", f"(type={payload['type']})"])
        namespace = payload.get("organization") or user
        if namespace != user:
            raise HubError(403, None, f"You cannot create a repository under {namespace!r} (you are {user!r})")
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.url}/{repo_id}"
        if repo_id in self.repos:
            # The client reads `url` even from the 409 answer.
            raise HubError(409, "RepoExists", "You already created this model repo", extra={"url": url})
        private = payload.get("visibility") == "private" or payload.get("private") is True
        repo = self.repos[repo_id] = Repo(repo_id, owner=user, private=private)
        repo.commit("main", "initial commit", {".gitattributes": DEFAULT_GITATTRIBUTES.encode()}, {}, [])
        return self.json({"url": url, "name": repo_id})

    def create_branch(self, repo: Repo, branch: str, payload: dict, user: str | None):
        self.require_owner(repo, user)
        if branch in repo.branches:
            raise HubError(409, "BranchExists", f"Branch {branch} already exists")
        repo.branches[branch] = self.commit_of(repo, payload.get("startingPoint") or "main").sha
        return self.json({})

    def preupload(self, repo: Repo, revision: str, payload: dict, user: str | None):
        self.require_owner(repo, user)
        commit = self.commit_of(repo, revision)
        answers = []
        for item in payload["files"]:
            path, size, sample = item["path"], item["size"], base64.b64decode(item["sample"])
            lfs = repo.sends_to_lfs(revision, path, size, sample)
            oid = None
            if path in commit.files:
                oid = commit.lfs.get(path) if path in commit.lfs else git_blob_sha1(commit.files[path])
            answers.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                            "oid": oid})
        return self.json({"files": answers})

    def sign(self, oid: str) -> str:
        return hmac.new(self.signing_key, oid.encode(), hashlib.sha256).hexdigest()

    def lfs_batch(self, repo: Repo, payload: dict, user: str | None):
        if payload.get("operation") != "upload":
            raise self.not_emulated("POST", [repo.repo_id, "info/lfs/objects/batch", f"(operation={payload.get('operation')})"])
        self.require_owner(repo, user)
        if "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(422, None, "The local Hub offers only the basic LFS transfer")
        objects = []
        for item in payload["objects"]:
            answer = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in self.lfs_objects:  # already stored: no actions, the client skips the upload
                answer["actions"] = {
                    "upload": {"href": f"{self.storage_url}/upload/{item['oid']}?size={item['size']}"
                                       f"&signature={self.sign(item['oid'])}"},
                    "verify": {"href": f"{self.url}/{repo.repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        return self.json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                         content_type=LFS_CONTENT_TYPE)

    def lfs_verify(self, repo: Repo, payload: dict, user: str | None):
        self.require_owner(repo, user)
        oid, size = payload["oid"], payload["size"]
        content = self.uploaded.get(oid)
        if content is None or len(content) != size:
            raise HubError(404, None, f"LFS object {oid} ({size} bytes) was not uploaded to storage")
        self.lfs_objects[oid] = self.uploaded.pop(oid)
        return self.json({})

    def commit(self, repo: Repo, revision: str, body: bytes, user: str | None):
        self.require_owner(repo, user)
        parent = self.commit_of(repo, revision)
        files, lfs = dict(parent.files), dict(parent.lfs)
        message, operations = "", []
        for line in body.decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value["summary"]
                continue
            operations.append((key, value["path"]))
            if key == "file":
                content = base64.b64decode(value["content"])
                if repo.sends_to_lfs(revision, value["path"], len(content), content[:512]):
                    raise HubError(400, "BadRequest", f"Your push was rejected because {value['path']} is a binary "
                                   "or large file sent as a regular file: store it with LFS (or Xet).")
                files[value["path"]] = content
                lfs.pop(value["path"], None)
            elif key == "lfsFile":
                if value.get("algo") != "sha256" or value["oid"] not in self.lfs_objects:
                    raise HubError(422, "BadRequest", f"Your push was rejected because an LFS pointer pointed to a "
                                   f"file that does not exist: {value['path']} ({value['oid']})")
                content = self.lfs_objects[value["oid"]]
                if "size" in value and value["size"] != len(content):
                    raise HubError(422, "BadRequest", f"LFS file {value['path']}: size {value['size']} does not "
                                   f"match the stored object ({len(content)} bytes)")
                files[value["path"]], lfs[value["path"]] = content, value["oid"]
            elif key in ("deletedFile", "deletedFolder"):
                prefix = value["path"].rstrip("/") + "/"
                removed = [p for p in files if p == value["path"] or (key == "deletedFolder" and p.startswith(prefix))]
                for path in removed:
                    files.pop(path)
                    lfs.pop(path, None)
            else:
                raise self.not_emulated("POST", [repo.repo_id, "commit", f"(operation {key!r})"])
        commit = repo.commit(revision, message, files, lfs, operations)
        return self.json({"commitUrl": f"{self.url}/{repo.repo_id}/commit/{commit.sha}", "commitOid": commit.sha})

    def entry(self, commit: Commit, path: str) -> dict:
        """What the Hub says of one file: its git oid (of the pointer, for an LFS file), size and LFS details."""
        content = commit.files[path]
        if path not in commit.lfs:
            return {"oid": git_blob_sha1(content), "size": len(content)}
        pointer = lfs_pointer(content)
        return {"oid": git_blob_sha1(pointer), "size": len(content),
                "lfs": {"oid": commit.lfs[path], "sha256": commit.lfs[path], "size": len(content),
                        "pointerSize": len(pointer)}}

    def model_info(self, repo: Repo, revision: str):
        commit = self.commit_of(repo, revision)
        siblings = []
        for path in sorted(commit.files):
            entry = self.entry(commit, path)
            siblings.append({"rfilename": path, "size": entry["size"], "blobId": entry["oid"],
                             **({"lfs": entry["lfs"]} if "lfs" in entry else {})})
        return self.json({"id": repo.repo_id, "modelId": repo.repo_id, "author": repo.owner, "sha": commit.sha,
                          "private": repo.private, "siblings": siblings, "tags": []})

    def tree(self, repo: Repo, revision: str, folder: str):
        """The files under `folder` (all depths; the client's `recursive` flag is not needed here)."""
        commit = self.commit_of(repo, revision)
        prefix = f"{folder}/" if folder else ""
        paths = sorted(path for path in commit.files if path.startswith(prefix))
        if folder and not paths:
            raise HubError(404, "EntryNotFound", f"{folder} does not exist on {revision}")
        return self.json([{"type": "file", "path": path, **self.entry(commit, path)} for path in paths])

    def resolve(self, repo: Repo, revision: str, path: str):
        commit = self.commit_of(repo, revision)
        if path not in commit.files:
            # EntryNotFound (with the commit) is how the client learns an optional file is absent.
            raise HubError(404, "EntryNotFound", f"Entry not found: {path}", commit=commit.sha)
        content = commit.files[path]
        if path in commit.lfs:
            # As the Hub: a redirect to a signed storage URL; the file's metadata travels on the redirect itself.
            oid = commit.lfs[path]
            headers = {"Location": f"{self.storage_url}/lfs/{oid}?signature={self.sign(oid)}",
                       "X-Repo-Commit": commit.sha, "ETag": f'"{git_blob_sha1(lfs_pointer(content))}"',
                       "X-Linked-Etag": f'"{oid}"', "X-Linked-Size": str(len(content))}
            return 302, headers, b""
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{git_blob_sha1(content)}"',
                   "Content-Type": "application/octet-stream"}
        return 200, headers, content

    # --- the storage server (S3 for uploads, the CDN for downloads): signed URLs, no Hub token ---

    def route_storage(self, method: str, parts: list[str], query: dict, body: bytes, token: str | None):
        if len(parts) != 2 or parts[0] not in ("upload", "lfs"):
            raise self.not_emulated(method, parts)
        oid = parts[1]
        if not hmac.compare_digest(query.get("signature", [""])[0], self.sign(oid)):
            raise HubError(403, None, "Request signature does not match")
        if method == "PUT" and parts[0] == "upload":
            if sha256(body) != oid or str(len(body)) != query.get("size", [""])[0]:
                raise HubError(400, None, f"Uploaded content does not match oid {oid} and the announced size")
            self.uploaded[oid] = body
            return 200, {"ETag": f'"{hashlib.md5(body).hexdigest()}"'}, b""
        if method in ("GET", "HEAD") and parts[0] == "lfs":
            if oid not in self.lfs_objects:
                raise HubError(404, None, "NoSuchKey")
            return 200, {"Content-Type": "application/octet-stream", "ETag": f'"{oid}"'}, self.lfs_objects[oid]
        raise self.not_emulated(method, parts)
