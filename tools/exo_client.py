#!/usr/bin/env python3
"""Minimal JSON-RPC 2.0 over WebSocket client for the exo server, which can sign calls.

Standard library only (Ed25519 and exo's canonical encoding are written out below).  Usable
as a module:

    c = Client("ws://127.0.0.1:8080/")
    print(c.request("counter.add", [1]))            # {"jsonrpc": "2.0", "id": 1, "result": ...}
    key = load_key("owner.key")                      # a key file made by `exo keygen`
    print(c.call("notes.put", ["motd", "hi"], key))  # signed: the key is the caller in the log
    c.close()

or as a script:

    python3 tools/exo_client.py URL METHOD [PARAMS_JSON] [--key FILE]
    python3 tools/exo_client.py URL --raw TEXT

A signed call is {args, caller, seq, signature}: the signature is Ed25519 over the canonical
encoding of {domain: "exo-call-2", image, method, args, seq}, and seq must be above the last
one the node accepted from the key (the handshake with {"caller": KEY} gives the next).
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# ---- Ed25519 (RFC 8032), for signing calls -------------------------------------------------
# Points in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z on the curve
# -x^2 + y^2 = 1 + d x^2 y^2 over GF(2^255 - 19).

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_B = (_BX, _BY, 1, _BX * _BY % _P)
_ZERO = (0, 1, 1, 0)


def _point_add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = b - a, dd - c, dd + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _scalar_mult(s, p):
    q = _ZERO
    while s:
        if s & 1:
            q = _point_add(q, p)
        p = _point_add(p, p)
        s >>= 1
    return q


def _encode_point(p):
    x, y, z, _ = p
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


class SigningKey:
    """An Ed25519 key from its 32-byte private seed (as `exo keygen` writes it)."""

    def __init__(self, seed):
        if len(seed) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        self._a, self._prefix = _expand(seed)
        self.public = _encode_point(_scalar_mult(self._a, _B))

    def sign(self, message):
        r = int.from_bytes(hashlib.sha512(self._prefix + message).digest(), "little") % _L
        rb = _encode_point(_scalar_mult(r, _B))
        k = int.from_bytes(hashlib.sha512(rb + self.public + message).digest(), "little") % _L
        return rb + int.to_bytes((r + k * self._a) % _L, 32, "little")


def load_key(path):
    """The key in a file `exo keygen` made: 'exo-node-key-ed25519', then the private key in hex."""
    lines = open(path).read().split()
    if len(lines) != 2 or lines[0] != "exo-node-key-ed25519":
        raise ValueError(f"{path} is not an exo key file (exo keygen -o FILE makes one)")
    return SigningKey(bytes.fromhex(lines[1]))


# ---- exo's canonical encoding, for the message a call's signature covers -----------------

def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_value(v):
    """The canonical encoding (modules/core encoding.hpp) of a value in exo's JSON form."""
    if v is None:
        return b"\x00"
    if isinstance(v, bool):
        return b"\x01" + (b"\x01" if v else b"\x00")
    if isinstance(v, int):
        if not -(2**63) <= v < 2**63:
            raise ValueError(f"{v} does not fit a signed 64-bit integer")
        return b"\x03" + struct.pack("<q", v)
    if isinstance(v, float):
        return b"\x04" + (b"\x00\x00\x00\x00\x00\x00\xf8\x7f" if v != v else struct.pack("<d", v))
    if isinstance(v, (bytes, bytearray)):
        return b"\x05" + _varint(len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return b"\x06" + _varint(len(b)) + b
    if isinstance(v, list):
        return b"\x07" + _varint(len(v)) + b"".join(encode_value(e) for e in v)
    if isinstance(v, dict):
        if len(v) == 1 and next(iter(v)) == "$bytes":
            return encode_value(bytes.fromhex(v["$bytes"]))
        if len(v) == 1 and next(iter(v)) == "$f64":
            return encode_value(float(v["$f64"]))
        items = sorted((k.encode("utf-8"), e) for k, e in v.items())
        return b"\x08" + _varint(len(items)) + b"".join(_varint(len(k)) + k + encode_value(e) for k, e in items)
    raise ValueError(f"{type(v).__name__} is not an exo value")


def call_message(image_hex, method, args, seq):
    """What a signed call's signature covers."""
    return encode_value({"domain": "exo-call-2", "image": bytes.fromhex(image_hex), "method": method,
                         "args": args, "seq": seq})
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class WebSocketError(Exception):
    """Handshake or framing failure."""


class ConnectionClosed(WebSocketError):
    """The server sent a close frame (or dropped the connection)."""

    def __init__(self, code=None, reason=""):
        self.code, self.reason = code, reason
        super().__init__(f"connection closed by server (code {code}): {reason}")


def _mask(data, key):
    """XOR data with the repeating 4-byte key (done on big ints for speed)."""
    if not data:
        return b""
    n = len(data)
    keystream = (key * (n // 4 + 1))[:n]
    x = int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")
    return x.to_bytes(n, "big")


class Client:
    def __init__(self, url, timeout=30.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise WebSocketError(f"unsupported URL (expected ws://HOST:PORT/PATH): {url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._next_id = 1
        self._buf = b""  # bytes received but not yet consumed
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.settimeout(timeout)
        try:
            self._handshake()
        except BaseException:
            self.sock.close()
            raise

    # ---- low-level I/O -------------------------------------------------
    def _recv_exact(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionClosed(None, "connection dropped without close frame")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _handshake(self):
        key = base64.b64encode(os.urandom(16)).decode()
        host = self.host if self.port == 80 else f"{self.host}:{self.port}"
        req = (f"GET {self.path} HTTP/1.1\r\nHost: {host}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        # Read the HTTP response header; anything after it is frame data.
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WebSocketError("connection closed during handshake")
            self._buf += chunk
            if len(self._buf) > 65536:
                raise WebSocketError("handshake response too large")
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise WebSocketError(f"handshake failed: {lines[0]}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise WebSocketError("handshake failed: bad Sec-WebSocket-Accept")

    def _send_frame(self, opcode, payload):
        # FIN bit + opcode, then MASK bit + length (7-bit, 16-bit or 64-bit form).
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        key = os.urandom(4)  # client frames must always be masked
        self.sock.sendall(header + key + _mask(payload, key))

    def _recv_frame(self):
        """Return (fin, opcode, payload) of the next frame."""
        b0, b1 = self._recv_exact(2)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._recv_exact(8))[0]
        key = self._recv_exact(4) if b1 & 0x80 else None  # servers should not mask
        payload = self._recv_exact(n)
        return fin, opcode, (_mask(payload, key) if key else payload)

    # ---- public API ----------------------------------------------------
    def send_text(self, text):
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def send_binary(self, data):
        self._send_frame(OP_BINARY, bytes(data))

    def recv_text(self):
        """Return the next data message as text (fragments are joined)."""
        parts = []
        while True:
            fin, opcode, payload = self._recv_frame()
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
            elif opcode == OP_PONG:
                pass
            elif opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise ConnectionClosed(code, payload[2:].decode("utf-8", "replace"))
            elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode("utf-8", "replace")
            else:
                raise WebSocketError(f"unexpected opcode {opcode}")

    def request(self, method, params=None):
        """Send a JSON-RPC request and return the decoded response object."""
        msg = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self._next_id += 1
        self.send_text(json.dumps(msg))
        while True:
            resp = json.loads(self.recv_text())
            # Skip server-initiated notifications; return anything else.
            if not (isinstance(resp, dict) and "method" in resp and "id" not in resp):
                return resp

    def call(self, method, args, key=None):
        """Call METHOD with ARGS (a list); signed by `key` (a SigningKey) if given, with the
        key's next sequence number, asked of the node's handshake."""
        if key is None:
            return self.request(method, args)
        caller = key.public.hex()
        hs = self.request("exo.handshake", {"caller": caller})
        if "error" in hs:
            return hs
        seq = hs["result"]["next_seq"]
        sig = key.sign(call_message(hs["result"]["image"], method, args, seq))
        return self.request(method, {"args": args, "caller": caller, "seq": seq, "signature": sig.hex()})

    def close(self):
        try:
            self._send_frame(OP_CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        finally:
            self.sock.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="JSON-RPC 2.0 over WebSocket client for exo.")
    ap.add_argument("url", metavar="URL", help="server URL, e.g. ws://127.0.0.1:8080/")
    ap.add_argument("method", metavar="METHOD", nargs="?", help="JSON-RPC method name")
    ap.add_argument("params", metavar="PARAMS_JSON", nargs="?",
                    help="params as JSON, e.g. '[5]' or '{\"args\":[5]}'")
    ap.add_argument("--raw", metavar="TEXT", help="send TEXT as one text frame, print the raw reply")
    ap.add_argument("--key", metavar="FILE", help="sign the call with this key (exo keygen); PARAMS_JSON is the argument list")
    ap.add_argument("--print-frame", action="store_true", help="with --key: also print the signed request, as sent (stderr)")
    ap.add_argument("--timeout", type=float, default=30.0, help="socket timeout in seconds (default 30)")
    args = ap.parse_args(argv)
    if args.raw is not None and args.method is not None:
        ap.error("--raw cannot be combined with METHOD")
    if args.raw is None and args.method is None:
        ap.error("METHOD (or --raw TEXT) is required")
    params = None
    if args.params is not None:
        try:
            params = json.loads(args.params)
        except ValueError as e:
            ap.error(f"invalid PARAMS_JSON: {e}")
    key = None
    if args.key is not None:
        if args.raw is not None:
            ap.error("--key cannot be combined with --raw")
        try:
            key = load_key(args.key)
        except (OSError, ValueError) as e:
            print(f"exo_client: {e}", file=sys.stderr)
            return 3
        if params is None:
            params = []
        if not isinstance(params, list):
            ap.error("with --key, PARAMS_JSON is the list of arguments")

    try:
        client = Client(args.url, args.timeout)
    except (OSError, WebSocketError) as e:
        print(f"exo_client: cannot connect to {args.url}: {e}", file=sys.stderr)
        return 3
    try:
        if args.raw is not None:
            client.send_text(args.raw)
            print(client.recv_text())
            return 0
        if key is not None:
            sent = []
            real_send = client.send_text
            client.send_text = lambda text: (sent.append(text), real_send(text))[1]
            resp = client.call(args.method, params, key)
            if args.print_frame and sent:
                print(sent[-1], file=sys.stderr)
        else:
            resp = client.request(args.method, params)
    except (OSError, ValueError, WebSocketError) as e:
        print(f"exo_client: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if isinstance(resp, dict) and "error" in resp:
        err = resp["error"] if isinstance(resp["error"], dict) else {"message": resp["error"]}
        print(f"error {err.get('code')}: {err.get('message')}", file=sys.stderr)
        return 4
    print(json.dumps(resp.get("result") if isinstance(resp, dict) else resp, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
