"""Serves the project on a free loopback port (printed on the first line),
single-threaded, until killed: the second upstream tests/it/django.rs
compares the gateway with, and the OpenID provider of tests/it/common/oidc.rs.
PJ_PORT picks the port instead (a restarted provider keeps its issuer URL)."""
import os
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


port = int(os.environ.get("PJ_PORT", "0"))
server = make_server("127.0.0.1", port, get_wsgi_application(), handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
