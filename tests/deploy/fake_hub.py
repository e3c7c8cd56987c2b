"""A local stand-in for the Hugging Face hub's download API (the real hub is not reachable here),
written for the tests from the hub's documented behaviour:

  GET  /api/models/ORG/NAME/revision/REV      {"sha": COMMIT, "siblings": [{"rfilename": PATH}]}
  HEAD /ORG/NAME/resolve/REV/PATH             small files: 200, ETag = git blob sha1, X-Repo-Commit
                                              LFS files (*.safetensors): 302 to /lfs/SHA256 with
                                              X-Linked-Etag = sha256, X-Linked-Size, X-Repo-Commit
  GET  the same / /lfs/SHA256                 the bytes; Range: bytes=N- answers 206 + Content-Range

Knobs for failure tests: `token` (401 without "Authorization: Bearer TOKEN"), `interrupt` (paths
whose next GET sends half the bytes and drops the connection), `corrupt` (paths served with flipped
bytes under the right size and ETag). Every request is recorded in `log`.
"""
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self, repo_id, files, commit=None):
        self.repo_id = repo_id
        self.files = dict(files)  # path -> bytes
        self.commit = commit or hashlib.sha1(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in self.files.items())).encode()).hexdigest()

    @staticmethod
    def is_lfs(path):
        return path.endswith(".safetensors")

    def etag(self, path):
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if self.is_lfs(path) else git_blob_sha1(data)


class FakeHub:
    def __init__(self):
        self.repos = {}
        self.token = None
        self.interrupt = set()
        self.corrupt = set()
        self.log = []  # (method, path, headers dict)
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.handle(self, head=True)

            def do_GET(self):
                hub.handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        # LFS files redirect here: another origin (as the hub's CDN is), the same server
        self.lfs_url = "http://localhost:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo):
        self.repos[repo.repo_id] = repo
        return repo

    def requests(self, method=None, prefix=""):
        with self.lock:
            return [r for r in self.log if (method is None or r[0] == method) and r[1].startswith(prefix)]

    # ---- request handling ----
    def handle(self, h, head):
        with self.lock:
            self.log.append(("HEAD" if head else "GET", h.path, dict(h.headers)))
        if self.token is not None and h.path.startswith(("/api/", "/")) and not h.path.startswith("/lfs/"):
            if h.headers.get("Authorization") != "Bearer " + self.token:
                return self.send(h, 401, b'{"error":"Invalid credentials"}', {"X-Error-Message": "Invalid credentials"}, head)
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^/?]+)(\?.*)?", h.path)
        if m:
            repo = self.lookup(m.group(1), m.group(2))
            if repo is None:
                return self.send(h, 404, b'{"error":"Repository not found"}', {}, head)
            body = json.dumps({"id": repo.repo_id, "sha": repo.commit,
                               "siblings": [{"rfilename": p} for p in sorted(repo.files)]}).encode()
            return self.send(h, 200, body, {"Content-Type": "application/json"}, head)
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", h.path)
        if m:
            repo = self.lookup(m.group(1), m.group(2))
            path = m.group(3)
            if repo is None or path not in repo.files:
                return self.send(h, 404, b"Entry not found", {"X-Error-Code": "EntryNotFound"}, head)
            extra = {"X-Repo-Commit": repo.commit}
            if repo.is_lfs(path):
                sha = repo.etag(path)
                extra.update({"Location": self.lfs_url + "/lfs/" + sha, "X-Linked-Etag": '"%s"' % sha,
                              "X-Linked-Size": str(len(repo.files[path])), "ETag": '"lfs-pointer-etag"'})
                return self.send(h, 302, b"", extra, head)
            extra["ETag"] = '"%s"' % repo.etag(path)
            return self.send_file(h, repo, path, extra, head)
        m = re.fullmatch(r"/lfs/([0-9a-f]{64})", h.path)
        if m:
            for repo in self.repos.values():
                for path in repo.files:
                    if repo.is_lfs(path) and repo.etag(path) == m.group(1):
                        return self.send_file(h, repo, path, {}, head)
        return self.send(h, 404, b"not found", {}, head)

    def lookup(self, repo_id, rev):
        repo = self.repos.get(repo_id)
        if repo is None or rev not in ("main", repo.commit):
            return None
        return repo

    def send_file(self, h, repo, path, extra, head):
        data = repo.files[path]
        if path in self.corrupt:
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        start = 0
        rng = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        status = 200
        if rng and not head:
            start = int(rng.group(1))
            if start >= len(data):
                return self.send(h, 416, b"", {"Content-Range": "bytes */%d" % len(data)}, head)
            status = 206
            extra = dict(extra, **{"Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))})
        body = data[start:]
        if not head and path in self.interrupt:
            self.interrupt.discard(path)
            h.send_response(status)
            for k, v in dict(extra, **{"Content-Length": str(len(body))}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
            return
        self.send(h, status, body, extra, head)

    @staticmethod
    def send(h, status, body, extra, head):
        h.send_response(status)
        for k, v in extra.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)
