"""A webhook receiver process for tests: verifies Standard Webhooks signatures.

    python webhook_receiver.py PORT SECRET LOGFILE [--fail-first N] [--slow-every K]
                               [--slow-s S] [--poison] [--trickle-s S] [--big-bytes N]

PORT 0: the kernel picks one; the port it got is written to LOGFILE.port once listening.

Every request that verifies is appended to LOGFILE as one JSON line ``{"id", "type",
"timestamp", "data", "status", "received_at"}`` (flushed at once, so a SIGKILL loses
nothing already answered); one that does not verify is answered 400 and logged with
``"bad": true``. A request whose body ends short (its sender killed mid-request) is not
one: it is logged as ``{"truncated": true, "got", "of"}`` and the connection closed.
``--fail-first N`` answers 500 to the first N verified requests,
``--slow-every K`` sleeps ``--slow-s`` before answering every K-th, ``--poison`` answers
500 to events whose data has ``"poison": true``. ``--trickle-s S`` answers 200 with a
body of 10,000 bytes sent one byte every S seconds; ``--big-bytes N`` answers 500 with an
N-byte body. Both log ``{"sent": bytes, "cut": bool}`` once the client stops reading
(``cut``: it closed the connection before the end).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("secret")
    ap.add_argument("log")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--slow-every", type=int, default=0)
    ap.add_argument("--slow-s", type=float, default=0.0)
    ap.add_argument("--poison", action="store_true")
    ap.add_argument("--trickle-s", type=float, default=0.0)
    ap.add_argument("--big-bytes", type=int, default=0)
    args = ap.parse_args()
    verifier = Webhook(args.secret)
    lock = threading.Lock()
    counter = {"n": 0}
    out = open(args.log, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender went away mid-request (killed): no request
                with lock:
                    out.write(json.dumps({"truncated": True, "got": len(body), "of": length}))
                    out.write("\n")
                self.close_connection = True
                return
            try:
                payload = verifier.verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                with lock:
                    out.write(json.dumps({"bad": True}) + "\n")
                self._answer(400)
                return
            with lock:
                counter["n"] += 1
                n = counter["n"]
            status = 200
            if n <= args.fail_first or (args.poison and payload["data"].get("poison")):
                status = 500
            if args.slow_every and n % args.slow_every == 0:
                time.sleep(args.slow_s)
            record = {
                "id": self.headers["webhook-id"],
                "type": payload["type"],
                "timestamp": payload["timestamp"],
                "data": payload["data"],
                "status": status,
                "received_at": time.time(),
            }
            with lock:
                out.write(json.dumps(record) + "\n")
            if args.trickle_s:
                self._body(200, 10_000, 1, args.trickle_s)
            elif args.big_bytes:
                self._body(500, args.big_bytes, 65536, 0.0)
            else:
                self._answer(status)

        def _body(self, status: int, size: int, chunk: int, pause_s: float) -> None:
            self.send_response(status)
            self.send_header("content-length", str(size))
            self.end_headers()
            sent, cut = 0, False
            try:
                while sent < size:
                    n = min(chunk, size - sent)
                    self.wfile.write(b"x" * n)
                    self.wfile.flush()
                    sent += n
                    if pause_s:
                        time.sleep(pause_s)
            except OSError:
                cut = True
            self.close_connection = True
            with lock:
                out.write(json.dumps({"sent": sent, "cut": cut}) + "\n")

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    port_file = f"{args.log}.port"
    with open(port_file + ".tmp", "w") as fh:
        fh.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)  # whole or absent: the test polls it
    server.serve_forever()


if __name__ == "__main__":
    main()
