#!/usr/bin/env python3
"""A git smart-HTTP server for benchmarks: serves every repository under ROOT on 127.0.0.1:PORT
through `git http-backend` (the protocol GitHub speaks over https), so libgit2 and the git CLI
can be timed fetching from the same server. With TOKEN, it asks for HTTP basic authentication
the way GitHub does for a private repository over https (any user name, the token as password)
and answers 401 without it. With --tls, it speaks https with that certificate (PEM) and key, as
GitHub does, so a client's certificate checks and its token over https can be tested.

    git-http-server.py ROOT PORT [TOKEN] [--tls CERT KEY]
"""
import argparse
import base64
import http.server
import os
import ssl
import subprocess

parser = argparse.ArgumentParser()
parser.add_argument("root")
parser.add_argument("port", type=int)
parser.add_argument("token", nargs="?")
parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
arguments = parser.parse_args()
root, port, token = arguments.root, arguments.port, arguments.token


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def authorized(self):
        if token is None:
            return True
        scheme, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(credentials).decode().partition(":")
        except ValueError:
            return False
        return password == token

    def serve(self):
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not self.authorized():
            message = b"Authentication failed\n"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_ADDR="127.0.0.1",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)),
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        output = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = output.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode().partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = serve
    do_POST = serve

    def log_message(self, *arguments):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
if arguments.tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*arguments.tls)
    # The handshake runs in the request's thread (on its first read), not in the accept loop, so
    # a client that refuses the certificate holds up no one else.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
server.serve_forever()
