#!/usr/bin/python3
"""SMTP server for agent/alert's network tests.

aiosmtpd on 127.0.0.1:PORT (or --host) that appends every message it accepts to OUT
as a JSON line: envelope sender and recipients, the message as received
(base64), the user who authenticated (null for none) and whether the
session was encrypted. It prints "ready" once it listens and stops when
its standard input closes, so a test that dies takes it along.

Modes: "none" (plain SMTP, no STARTTLS offered), "starttls" (STARTTLS
offered and required before MAIL), "tls" (TLS from the first byte).
--user and --password make AUTH accept that one pair (over TLS only).
Recipients named refused@... are refused (550), the others accepted.
"""
import argparse
import base64
import json
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused@"):
            return "550 5.1.1 <%s>: no such mailbox" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode("utf-8", "replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": base64.b64encode(envelope.content).decode("ascii"),
            "auth_user": user,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
        }
        with self.lock, open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword)
              and data.login == user.encode()
              and data.password == password.encode())
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)
    return check


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=["none", "starttls", "tls"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    kw = {"server_hostname": "smtp.test"}  # no DNS look-up of our own name
    if a.mode != "none":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        if a.mode == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)
        else:
            kw["ssl_context"] = ctx
    if a.user is not None:
        # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; an
        # implicit-TLS session is encrypted from its first byte anyway.
        kw.update(authenticator=authenticator(a.user, a.password),
                  auth_require_tls=(a.mode != "tls"))

    c = Controller(Recorder(a.out), hostname=a.host, port=a.port, **kw)
    c.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        c.stop()


if __name__ == "__main__":
    main()
