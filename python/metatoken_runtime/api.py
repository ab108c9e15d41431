"""The Runtime API's client side: HTTP/1.1 on one keep-alive connection.

AWS's and Yandex's runtimes talk to "http://" + AWS_LAMBDA_RUNTIME_API with
a keep-alive client; so does this one. It is written on the built-in
_socket module rather than http.client because importing http.client
(which imports email and ssl) costs about as much as starting the
interpreter, and every cold start would pay it; `socket` itself adds enum
and selectors, and a str host name the idna codec. It speaks only what the
Runtime API needs: a request with a body of known length, and an answer
framed by Content-Length, chunked encoding or the connection's end.
"""

import _socket

# Bounds on what an answer may hold: a Runtime API that sends more is
# broken, and the runtime says so instead of growing without end.
_LINE_MAX = 1 << 20  # a status or header line (Lambda-Runtime-Client-Context is long)
_HEADERS_MAX = 256
_CONNECT_TIMEOUT_S = 10


class RuntimeAPIError(Exception):
    """The Runtime API cannot be reached, or answered something that is not
    HTTP. The message says which and where."""


class _Stale(Exception):
    """The connection ended before any byte of an answer: a keep-alive
    connection the server had closed, worth one retry on a new one."""


class Response(object):
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())


class _Reader(object):
    """Buffered reading from a socket: what makefile("rb") gives, for the
    three calls an HTTP answer needs."""

    def __init__(self, sock):
        self._sock = sock
        self._buf = bytearray()
        self._eof = False

    def _fill(self):
        if self._eof:
            return False
        chunk = self._sock.recv(65536)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def readline(self, limit):
        """A line with its newline, at most `limit` bytes; b"" at the end."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start, limit)
            if end >= 0:
                end += 1
                break
            if len(self._buf) >= limit:
                end = limit
                break
            start = len(self._buf)
            if not self._fill():
                end = len(self._buf)
                break
        line = bytes(self._buf[:end])
        del self._buf[:end]
        return line

    def read(self, n=-1):
        """n bytes (fewer at the end), or everything to the end for -1."""
        while (n < 0 or len(self._buf) < n) and self._fill():
            pass
        n = len(self._buf) if n < 0 else min(n, len(self._buf))
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data


def split_address(address):
    """(host, port) of "host:port", "[v6]:port" or "host" (port 80)."""
    host, port = address, "80"
    if address.startswith("["):
        end = address.find("]")
        if end < 0 or address[end + 1:end + 2] not in ("", ":"):
            raise ValueError("an IPv6 address must be [ADDR] or [ADDR]:PORT")
        host, rest = address[1:end], address[end + 1:]
        if rest:
            port = rest[1:]
    elif address.count(":") == 1:
        host, port = address.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT")
    return host, int(port)


class RuntimeAPI(object):
    def __init__(self, address, user_agent):
        self.address = address
        self.host, self.port = split_address(address)
        self.user_agent = user_agent
        self._sock = None
        self._rfile = None

    def _where(self):
        return "the Runtime API at http://%s" % self.address

    def _connect(self):
        error = None
        try:
            # Bytes: a str host goes through the idna codec, an import.
            host = self.host.encode("ascii")
        except UnicodeError:
            host = self.host
        try:
            infos = _socket.getaddrinfo(host, self.port, 0, _socket.SOCK_STREAM)
        except OSError as e:
            infos, error = [], e
        for family, kind, proto, _, addr in infos:
            sock = _socket.socket(family, kind, proto)
            try:
                sock.settimeout(_CONNECT_TIMEOUT_S)
                sock.connect(addr)
            except OSError as e:
                sock.close()
                error = e
                continue
            sock.settimeout(None)  # /next waits as long as there is no work
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self._sock = sock
            self._rfile = _Reader(sock)
            return
        raise RuntimeAPIError("cannot connect to %s: %s" % (
            self._where(), getattr(error, "strerror", None) or error or "no address"))

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = self._rfile = None

    def request(self, method, path, body=b"", headers=None):
        """Sends one request and returns its Response. A keep-alive
        connection found closed is replaced once; anything else that goes
        wrong is a RuntimeAPIError."""
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + self.address,
                 "User-Agent: " + self.user_agent]
        if method != "GET":
            lines.append("Content-Length: %d" % len(body))
        for name, value in (headers or {}).items():
            lines.append("%s: %s" % (name, value))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            reused = self._sock is not None
            if not reused:
                self._connect()
            try:
                return self._exchange(data, method, path)
            except _Stale:
                self.close()
                if not reused or attempt:
                    raise RuntimeAPIError("%s closed the connection without answering %s %s"
                                          % (self._where(), method, path))
            except (OSError, ValueError) as e:
                self.close()
                raise RuntimeAPIError("%s %s to %s failed: %s"
                                      % (method, path, self._where(), e))

    def _exchange(self, data, method, path):
        try:
            self._sock.sendall(data)
        except OSError:
            # It may have answered and closed before reading it all (a body
            # over its limit): read that answer if it is there.
            try:
                resp = self._read_response(method)
            except (OSError, ValueError):
                raise _Stale()
            self.close()
            return resp
        return self._read_response(method)

    def _readline(self):
        line = self._rfile.readline(_LINE_MAX + 1)
        if len(line) > _LINE_MAX:
            raise ValueError("a line of the answer is over %d bytes" % _LINE_MAX)
        return line

    def _read_response(self, method):
        try:
            line = self._readline()
        except OSError:  # a reset where a keep-alive connection had closed
            raise _Stale()
        if not line:
            raise _Stale()
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ValueError("the answer is not HTTP/1.x: %r" % line[:80])
        status = int(parts[1])
        keep_alive = parts[0] == b"HTTP/1.1"
        headers = {}
        while True:
            line = self._readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ValueError("the connection ended in the answer's headers")
            if len(headers) >= _HEADERS_MAX:
                raise ValueError("the answer has over %d headers" % _HEADERS_MAX)
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ValueError("a header line without a colon: %r" % line[:80])
            headers[name.strip().lower()] = value.strip()
        conn = headers.get("connection", "").lower()
        if conn == "close" or (not keep_alive and conn != "keep-alive"):
            keep_alive = False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise ValueError("Content-Length %r" % length)
            body = self._read_exact(int(length))
        elif method == "HEAD" or status in (204, 304) or status < 200:
            body = b""
        else:
            body = self._rfile.read(-1)
            keep_alive = False
        if not keep_alive:
            self.close()
        return Response(status, headers, body)

    def _read_exact(self, n):
        body = self._rfile.read(n)
        if len(body) != n:
            raise ValueError("the connection ended %d bytes into a body of %d" % (len(body), n))
        return body

    def _read_chunked(self):
        parts = []
        while True:
            size = self._readline().split(b";", 1)[0].strip()
            try:
                n = int(size, 16)
            except ValueError:
                n = -1
            if n < 0:
                raise ValueError("a chunk size %r" % size[:20])
            if n == 0:
                break
            parts.append(self._read_exact(n))
            self._readline()
        while self._readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)
