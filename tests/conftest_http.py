"""A static HTTP server on 127.0.0.1 for the File tests, started by the tests themselves.

Imported explicitly (`from conftest_http import http_server`). Serves a temp
directory; `/nolength/<file>` serves a file without Content-Length (chunked),
`/gzip/<file>` with Content-Encoding: gzip, so both of upstream's size rules
are exercised.
"""

import gzip
import http.server
import threading

import pytest


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def _special(self, send_body: bool) -> bool:
        for prefix in ("/nolength/", "/gzip/"):
            if self.path.startswith(prefix):
                try:
                    with open(self.translate_path("/" + self.path[len(prefix):]), "rb") as f:
                        data = f.read()
                except OSError:
                    self.send_error(404)
                    return True
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                if prefix == "/gzip/":
                    data = gzip.compress(data, mtime=0)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if send_body:
                        self.wfile.write(data)
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if send_body:
                        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
                    else:
                        self.wfile.write(b"")
                return True
        return False

    def do_GET(self):
        if not self._special(True):
            super().do_GET()

    def do_HEAD(self):
        if not self._special(False):
            super().do_HEAD()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    """(base URL, served directory) of a threaded HTTP server on 127.0.0.1."""
    root = tmp_path_factory.mktemp("www")

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
