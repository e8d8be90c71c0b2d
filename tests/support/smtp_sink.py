#!/usr/bin/env python3
"""A real SMTP server on loopback for paperboy's tests (aiosmtpd), which can misbehave on demand.

    smtp_sink.py --dir DIR [--port 0] [--rcpt-fail CODE:TEXT]... [--data-fail CODE:COUNT]
                 [--stall SECONDS:COUNT] [--drop COUNT] [--tls starttls|implicit --cert PEM --key PEM]

Prints `listening on PORT` once it accepts connections, then serves until killed. Every accepted
message is written to DIR as NNNNNN.eml (the raw message) with NNNNNN.json beside it (envelope
sender and recipients), each file complete before it appears (written, then renamed).

Faults:
  --mail-fail "530 5.7.0 Authentication required"
                             every MAIL FROM gets this reply (a relay refusing the sender: us)
  --content-fail "554 5.6.0 Content rejected"
                             every message gets this reply at the end of DATA
  --rcpt-fail 550:bounce     RCPT TO an address containing "bounce" gets 550 (repeatable)
  --data-fail 451:3          the first 3 DATA commands get 451 (a temporary failure)
  --stall 30:2               the first 2 messages get no answer to DATA for 30 seconds (then 451)
  --drop 2                   the first 2 messages: the connection is closed instead of answering DATA

TLS (with the certificate and key in --cert / --key):
  --tls starttls             offers STARTTLS and refuses mail before it (like a submission port)
  --tls implicit             TLS from the first byte (like port 465)
  --auth USER:PASSWORD       requires AUTH (PLAIN or LOGIN) with these credentials before mail
"""
import argparse
import asyncio
import json
import os
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, args):
        self.dir = args.dir
        self.rcpt_fail = [(int(code), text) for code, text in (r.split(":", 1) for r in args.rcpt_fail)]
        code, count = (args.data_fail or "0:0").split(":")
        self.data_fail_code, self.data_fail_left = int(code), int(count)
        seconds, count = (args.stall or "0:0").split(":")
        self.stall_seconds, self.stall_left = float(seconds), int(count)
        self.drop_left = args.drop
        self.mail_fail = args.mail_fail
        self.content_fail = args.content_fail
        self.lock = threading.Lock()
        self.count = len([f for f in os.listdir(self.dir) if f.endswith(".eml")])

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_fail:
            return self.mail_fail
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for code, text in self.rcpt_fail:
            if text in address:
                return f"{code} {'5.1.1 no such mailbox' if code >= 500 else '4.2.1 try later'}: {address}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # One fault per message, in this order: drop, stall, fail.
        with self.lock:
            drop = stall = fail = False
            if self.drop_left > 0:
                self.drop_left -= 1
                drop = True
            elif self.stall_left > 0:
                self.stall_left -= 1
                stall = True
            elif self.data_fail_left > 0:
                self.data_fail_left -= 1
                fail = True
        if drop:
            server.transport.close()
            return "421 closing"
        if stall:
            # The client has given up by now; the message is not taken.
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 timed out"
        if fail:
            return f"{self.data_fail_code} 4.3.0 temporary failure, try again"
        if self.content_fail:
            return self.content_fail
        with self.lock:
            self.count += 1
            name = f"{self.count:06d}"
        path = os.path.join(self.dir, name)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(path + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "received": time.time()}, f)
        os.rename(path + ".json.tmp", path + ".json")
        os.rename(path + ".tmp", path + ".eml")
        return "250 OK queued as " + name


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rcpt-fail", action="append", default=[])
    p.add_argument("--data-fail")
    p.add_argument("--stall")
    p.add_argument("--drop", type=int, default=0)
    p.add_argument("--mail-fail")
    p.add_argument("--content-fail")
    p.add_argument("--tls", choices=["starttls", "implicit"])
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth")
    args = p.parse_args()
    tls = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.tls == "starttls":
            tls = {"tls_context": context, "require_starttls": True}
        else:
            tls = {"ssl_context": context}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
                and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False)

        # With implicit TLS aiosmtpd does not see the session as TLS (only STARTTLS sets that), so
        # it must not insist on it or it hides AUTH.
        tls.update(authenticator=authenticator, auth_required=True, auth_require_tls=args.tls == "starttls")
    os.makedirs(args.dir, exist_ok=True)
    port = args.port
    if port == 0:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    controller = Controller(Sink(args), hostname="127.0.0.1", port=port, data_size_limit=10 * 1024 * 1024, **tls)
    controller.start()
    print(f"listening on {port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
