#!/usr/bin/env python3
"""Loopback receivers that behave like the chat services wirewatch posts to
(Python 3 standard library only).

Each receiver listens on 127.0.0.1 (a free port), accepts what the real
service accepts and refuses what it refuses, with the real service's status
and error body: it enforces the service's documented limits, required fields
and escaping rules, and wirewatch's own rules on top (no text may mention
anyone, no link may point anywhere but the alert's own link, Discord always
sends allowed_mentions {"parse": []}, Telegram turns link previews off, Slack
always sends "text").  A broken wirewatch rule is refused in the service's
error shape too, its message starting "wirewatch rule:".

    with chat_receivers.Slack(allowed_links={url}) as rx:
        ... point a sink at rx.url() ...
        rx.messages        # accepted: dicts with path, query, headers, body,
                           # json, text (what a reader sees), links, status,
                           # answer_headers
        rx.rejected        # refused: the same plus reason (forced answers
                           # too, with forced=True)
        rx.wait(3)         # until 3 messages were accepted
        rx.force(429, ...) # queue answers (rate limits, outages) ...
        rx.rate_limit(2.5) # ... in the service's own shape
        rx.gone()          # the service's "destination is gone" answer

Kinds: webhook, slack, discord, mattermost, teams, google-chat, telegram,
ntfy (RECEIVERS maps each to its class).  Sources for every rule are cited
in the class docstrings; where a service's exact error wording is not
documented, the shape is the service's and the message is ours.

    python3 tests/e2e/chat_receivers.py --self-test [-v]
        posts good and bad examples to each receiver; then, when
        build/test_sinkfmt exists, renders the unit tests' alerts (seed story,
        10,000-character item, hostile text, RTL/emoji, markup, digests) with
        it and posts every rendering: all must be accepted.
    python3 tests/e2e/chat_receivers.py --check-dir DIR
        posts the renderings test_sinkfmt wrote to DIR (SINKFMT_DUMP_DIR).
"""
import base64
import contextlib
import email.header
import glob
import hashlib
import hmac
import http.server
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZWSP = "\u200b"


# ------------------------------------------------------------------ helpers

class Reject(Exception):
    """A refusal: status, body (bytes or JSON-able), content type, headers."""

    def __init__(self, status, body, reason=None, ctype=None, headers=None):
        super().__init__(reason or str(body))
        self.status = status
        self.body = body
        self.reason = reason or (body if isinstance(body, str) else json.dumps(body))
        self.ctype = ctype
        self.headers = headers or {}


def u16(s):
    """Length in UTF-16 code units (Telegram's unit)."""
    return len(s.encode("utf-16-le")) // 2


def cp(s):
    """Length in code points (Discord, Mattermost, Slack)."""
    return len(s)


def is_http_url(u):
    try:
        p = urllib.parse.urlsplit(u)
    except ValueError:
        return False
    return (p.scheme in ("http", "https") and bool(p.hostname) and
            not re.search(r"[\s<>\"]", u))


def raw_mentions(text):
    """'@name' not defused by a ZWSP: would notify on Discord, Mattermost,
    Telegram.  E-mail-like 'a@b' counts too: the services do not care."""
    return re.findall(r"@(?!\u200b)[A-Za-z0-9_]", text)


def markdown_links(text):
    """URLs of [label](url) links in CommonMark-ish text, honouring backslash
    escapes ('\\[' is not a bracket)."""
    out, i, n = [], 0, len(text)
    opens = []
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            opens.append(i)
        elif c == "]" and opens:
            opens.pop()
            if i + 1 < n and text[i + 1] == "(":
                j, depth = i + 2, 1
                while j < n and depth:
                    if text[j] == "\\":
                        j += 2
                        continue
                    depth += {"(": 1, ")": -1}.get(text[j], 0)
                    j += 1
                if depth == 0:
                    out.append(text[i + 2:j - 1].strip().split(" ")[0].strip("<>"))
                    i = j
                    continue
        i += 1
    return out


def html_unescape_attr(s):
    return (s.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
            .replace("&amp;", "&"))


def load_json(body):
    return json.loads(body.decode("utf-8"))


# ------------------------------------------------------------------ server

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


class Request:
    def __init__(self, h, body):
        parts = urllib.parse.urlsplit(h.path)
        self.path = parts.path
        self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        self.headers = {k.lower(): v for k, v in h.headers.items()}
        self.header_list = list(h.headers.items())
        self.body = body

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None

    def ctype(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Receiver:
    """Base class: one loopback server for one service."""
    kind = None
    default_path = "/"

    def __init__(self, allowed_links=None, strict=True, max_body=4 << 20):
        self.allowed_links = set(allowed_links) if allowed_links is not None else None
        self.strict = strict           # enforce wirewatch's own rules too
        self.max_body = max_body
        self.messages = []
        self.rejected = []
        self.forced = []
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                outer._serve(self)

            do_PUT = do_POST

        self.httpd = _Server(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    # ---- for tests
    def url(self, path=None):
        return "http://127.0.0.1:%d%s" % (self.port, path or self.default_path)

    def force(self, status, body=b"", headers=None, ctype="application/json", times=1):
        """The next `times` requests get this answer (after being read)."""
        with self.lock:
            for _ in range(times):
                self.forced.append((status, body, dict(headers or {}), ctype))

    def rate_limit(self, seconds=1, times=1):
        """The service's 429 with its retry hint."""
        self.force(429, b"rate_limited", {"Retry-After": str(int(seconds + 0.999))},
                   "text/plain", times)

    def gone(self, times=1):
        """The service's answer once the destination is deleted."""
        self.force(410, {"error": "gone"}, times=times)

    def texts(self):
        with self.lock:
            return [m["text"] for m in self.messages]

    def wait(self, count, timeout=10.0):
        """Waits until `count` messages were accepted; returns them (raises
        AssertionError on timeout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError("%s: %d of %d messages after %.1fs (refused: %s)" % (
            self.kind, len(self.messages), count, timeout,
            [r.get("reason") for r in self.rejected][-3:]))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    # ---- rules shared by the services
    def check_link(self, url, where):
        """Refuses a link that is not http(s) or not an allowed one."""
        if not is_http_url(url):
            raise self.policy("%s links to %r, which is not an http(s) URL" % (where, url))
        # The same link however it is percent-encoded (Mattermost's '@').
        if self.allowed_links is not None and urllib.parse.unquote(url) not in \
                {urllib.parse.unquote(u) for u in self.allowed_links}:
            raise self.policy("%s links to %r, not to the alert's link" % (where, url))

    def check_mentions(self, text, where):
        if self.strict and raw_mentions(text):
            raise self.policy("%s would mention %r" % (where, raw_mentions(text)[0]))

    def policy(self, msg):
        """A wirewatch-rule refusal in the service's error shape."""
        return self.error(400, "wirewatch rule: " + msg)

    def error(self, status, msg):
        return Reject(status, {"error": msg}, msg)

    # ---- plumbing
    def _read(self, h):
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    h.rfile.readline()
                    return out
                out += h.rfile.read(size)
                h.rfile.readline()
                if len(out) > self.max_body:
                    raise Reject(413, {"error": "too large"})
        n = int(h.headers.get("Content-Length") or 0)
        if n > self.max_body:
            raise Reject(413, {"error": "too large"})
        return h.rfile.read(n) if n else b""

    def _serve(self, h):
        rec = {"kind": self.kind, "path": None, "status": None}
        try:
            body = self._read(h)
            req = Request(h, body)
            rec.update(path=req.path, query=req.query, headers=req.headers, body=body)
            with self.lock:
                forced = self.forced.pop(0) if self.forced else None
            if forced is not None:
                status, fbody, fheaders, ctype = forced
                rec.update(status=status, forced=True)
                with self.lock:
                    self.rejected.append(rec)
                return self._send(h, status, fbody, fheaders, ctype)
            status, rbody, rheaders, ctype, info = self.handle(req)
            rec.update(status=status, answer_headers=dict(rheaders or {}), **info)
            with self.lock:
                self.messages.append(rec)
            self._send(h, status, rbody, rheaders, ctype)
        except Reject as r:
            rec.update(status=r.status, reason=r.reason, answer_headers=dict(r.headers))
            with self.lock:
                self.rejected.append(rec)
            self._send(h, r.status, r.body, r.headers, r.ctype)

    def _send(self, h, status, body, headers=None, ctype=None):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            ctype = ctype or "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8")
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if status not in (204, 304):
            h.send_header("Content-Type", ctype or "text/plain; charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if status not in (204, 304):
            h.wfile.write(body)

    def handle(self, req):
        """Returns (status, body, headers, content type, record fields) or
        raises Reject."""
        raise NotImplementedError


# ------------------------------------------------------------------ webhook

class Webhook(Receiver):
    """wirewatch's generic signed webhook (issue 9): a Standard Webhooks
    envelope {"type", "timestamp", "data"} under 20 KB.  With `secrets`
    (whsec_... strings), webhook-id/-timestamp/-signature are verified as
    the Standard Webhooks spec says: v1,base64(HMAC-SHA256(key, id.ts.body))
    with key the base64 after "whsec_"; any listed signature may match."""
    kind = "webhook"
    default_path = "/hook"
    LIMIT = 20000

    def __init__(self, secrets=None, **kw):
        super().__init__(**kw)
        self.secrets = list(secrets or [])
        self.seen_ids = {}

    def _verify(self, req):
        wid, ts = req.headers.get("webhook-id"), req.headers.get("webhook-timestamp")
        sigs = req.headers.get("webhook-signature", "")
        if not (wid and ts and sigs):
            raise Reject(401, {"error": "missing webhook signature headers"})
        signed = b"%s.%s.%s" % (wid.encode(), ts.encode(), req.body)
        for sec in self.secrets:
            key = base64.b64decode(sec.split("_", 1)[1] if sec.startswith("whsec_") else sec)
            want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            for s in sigs.split():
                if s.startswith("v1,") and hmac.compare_digest(s[3:], want):
                    return wid
        raise Reject(401, {"error": "no signature matches"})

    def handle(self, req):
        if len(req.body) >= self.LIMIT:
            raise Reject(413, {"error": "body is %d bytes, the limit is < %d" %
                               (len(req.body), self.LIMIT)})
        try:
            j = load_json(req.body)
        except ValueError:
            raise Reject(400, {"error": "body is not JSON"})
        wid = self._verify(req) if self.secrets else req.headers.get("webhook-id")
        if not isinstance(j, dict) or not isinstance(j.get("data"), dict):
            raise Reject(400, {"error": "no data object"})
        if j.get("type") not in ("alert", "alert.digest"):
            raise Reject(400, {"error": "unknown type %r" % j.get("type")})
        if not isinstance(j.get("timestamp"), str):
            raise Reject(400, {"error": "no timestamp"})
        d = j["data"]
        alerts = [d] if j["type"] == "alert" else d.get("alerts")
        if not isinstance(alerts, list) or not alerts:
            raise Reject(400, {"error": "no alerts"})
        for a in alerts:
            for k in ("alert_id", "watchlist", "published", "feed", "id"):
                if not isinstance(a.get(k), str):
                    raise Reject(400, {"error": "alert without %s" % k})
            if not isinstance(a.get("terms", []), list):
                raise Reject(400, {"error": "terms is not a list"})
        ids = [a["alert_id"] for a in alerts]
        with self.lock:
            dup = wid is not None and wid in self.seen_ids
            if wid is not None:
                self.seen_ids[wid] = self.seen_ids.get(wid, 0) + 1
        text = "\n".join("%s %s %s" % (a.get("title", ""), a.get("snippet", ""),
                                       " ".join(a.get("terms", []))) for a in alerts)
        return 200, {"ok": True}, {}, None, {
            "json": j, "text": text, "links": [a.get("link") for a in alerts],
            "alert_ids": ids, "duplicate": dup, "webhook_id": wid}


# ------------------------------------------------------------------ slack

SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


class Slack(Receiver):
    """Slack incoming webhooks.
    - api.slack.com/messaging/webhooks: JSON with "text" and/or "blocks".
    - api.slack.com/reference/surfaces/formatting#escaping: &, <, > must be
      &amp; &lt; &gt;; <!channel>, <!here>, <!everyone>, <@U..>, <#C..>
      notify or link, so user text may never hold a raw '<'.
    - api.slack.com/reference/block-kit/blocks: at most 50 blocks; section
      text 3,000 characters, fields at most 10 of 2,000; context at most 10
      elements; header plain_text 150.
    - api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-
      webhooks: refusals are a status and a short text body: 400
      invalid_payload, 403 action_prohibited, 404 channel_not_found, 410
      channel_is_archived; also no_text and invalid_blocks.
    Characters are counted as code points.  wirewatch rule: "text" always
    (notifications and some clients show only it), at most 3,000."""
    kind = "slack"
    default_path = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"

    def error(self, status, msg, token="invalid_payload"):
        return Reject(status, token, msg, "text/plain")

    def policy(self, msg, token="invalid_payload"):
        return self.error(400, "wirewatch rule: " + msg, token)

    def gone(self, times=1):
        self.force(410, b"channel_is_archived", ctype="text/plain", times=times)

    def rate_limit(self, seconds=1, times=1):
        self.force(429, b"rate_limited", {"Retry-After": str(int(seconds + 0.999))},
                   "text/plain", times)

    def mrkdwn(self, text, where, token):
        """Escaping: every & an entity, every <...> a link to the alert."""
        for m in re.finditer(r"&(?!amp;|lt;|gt;)", text):
            raise self.policy("%s has a raw '&' at %d" % (where, m.start()), token)
        links = []
        for m in SLACK_LINK.finditer(text):
            target = m.group(1)
            if target[:1] in ("!", "@", "#"):
                raise self.policy("%s would notify or link: %r" % (where, m.group(0)), token)
            url = html_unescape_attr(target)
            self.check_link(url, where)
            links.append(url)
        rest = SLACK_LINK.sub("", text)
        if "<" in rest or ">" in rest.replace("\n>", "\n").lstrip(">"):
            raise self.policy("%s has a raw '<' or '>'" % where, token)
        return links

    def text_object(self, t, where, limit):
        if not isinstance(t, dict) or t.get("type") not in ("mrkdwn", "plain_text"):
            raise self.error(400, "%s is not a text object" % where, "invalid_blocks")
        s = t.get("text")
        if not isinstance(s, str) or not s or cp(s) > limit:
            raise self.error(400, "%s must be 1-%d characters (%s)" %
                             (where, limit, cp(s) if isinstance(s, str) else s),
                             "invalid_blocks")
        return s

    def handle(self, req):
        if req.ctype() != "application/json":
            raise self.error(400, "content type %r" % req.ctype())
        try:
            j = load_json(req.body)
        except ValueError:
            raise self.error(400, "body is not JSON")
        if not isinstance(j, dict):
            raise self.error(400, "body is not an object")
        text, blocks = j.get("text"), j.get("blocks")
        if text is not None and not isinstance(text, str):
            raise self.error(400, "text is not a string")
        if not text and not blocks and not j.get("attachments"):
            raise self.error(400, "no text", "no_text")
        if self.strict and not text:
            raise self.policy("no text (notifications show only it)", "no_text")
        shown, links = [], []
        if text:
            if self.strict and cp(text) > 3000:
                raise self.policy("text is %d characters" % cp(text))
            links += self.mrkdwn(text, "text", "invalid_payload")
            shown.append(text)
        if blocks is not None:
            if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
                raise self.error(400, "blocks must be a list of 1-50", "invalid_blocks")
            for i, b in enumerate(blocks):
                where = "blocks[%d]" % i
                if not isinstance(b, dict):
                    raise self.error(400, where + " is not an object", "invalid_blocks")
                typ, texts = b.get("type"), []
                if typ == "section":
                    if "text" in b:
                        texts.append((self.text_object(b["text"], where + ".text", 3000),
                                      b["text"]["type"]))
                    f = b.get("fields")
                    if f is not None:
                        if not isinstance(f, list) or not 1 <= len(f) <= 10:
                            raise self.error(400, where + ".fields: 1-10", "invalid_blocks")
                        for k, x in enumerate(f):
                            texts.append((self.text_object(x, "%s.fields[%d]" % (where, k),
                                                           2000), x["type"]))
                    if not texts:
                        raise self.error(400, where + ": no text or fields", "invalid_blocks")
                elif typ == "context":
                    el = b.get("elements")
                    if not isinstance(el, list) or not 1 <= len(el) <= 10:
                        raise self.error(400, where + ".elements: 1-10", "invalid_blocks")
                    for k, x in enumerate(el):
                        if isinstance(x, dict) and x.get("type") == "image":
                            continue
                        texts.append((self.text_object(x, "%s.elements[%d]" % (where, k),
                                                       3000), x["type"]))
                elif typ == "header":
                    t = b.get("text")
                    if not isinstance(t, dict) or t.get("type") != "plain_text":
                        raise self.error(400, where + ": header needs plain_text",
                                         "invalid_blocks")
                    texts.append((self.text_object(t, where + ".text", 150), "plain_text"))
                elif typ != "divider":
                    raise self.error(400, "%s: type %r" % (where, typ), "invalid_blocks")
                # Slack notifies only through <!...> and <@...>: mrkdwn()
                # refuses those; a plain "@here" is just text.
                for s, kind in texts:
                    if kind == "mrkdwn":
                        links += self.mrkdwn(s, where, "invalid_blocks")
                    shown.append(s)
        return 200, "ok", {}, "text/html", {"json": j, "text": "\n".join(shown),
                                            "links": links}


# ------------------------------------------------------------------ discord

class Discord(Receiver):
    """Discord webhooks (discord.com/developers/docs).
    - resources/webhook#execute-webhook: content (2,000 characters), embeds
      (at most 10), allowed_mentions; ?wait=true answers 200 with the
      message, otherwise 204.
    - resources/message#embed-object-embed-limits: title 256, description
      4,096, fields 25, field name 256, field value 1,024, footer text
      2,048, author name 256; all of those in all embeds together 6,000.
    - topics/opcodes-and-status-codes#json: 50006 "Cannot send an empty
      message", 50035 "Invalid Form Body" with per-field errors, 50109
      invalid JSON, 10015 "Unknown Webhook" (404).
    - topics/rate-limits: 429 {"message", "retry_after" (seconds, float),
      "global"} and a Retry-After header.  Every answer carries
      X-RateLimit-Limit, -Remaining, -Reset (Unix time, seconds with
      decimals), -Reset-After (seconds with decimals) and -Bucket; a 429
      adds X-RateLimit-Scope.
    Characters are code points.  wirewatch rules: allowed_mentions is
    {"parse": []}; no raw @everyone/@here/@user, no unescaped <@..>, <#..>,
    <@&..>; links (embed url, masked [..](..)) only to the alert's link.

    bucket=(limit, seconds) enforces a per-webhook bucket the way Discord
    does: a window starts with the first request after the last one ended,
    holds `limit` requests, and every answer says what is left in the
    X-RateLimit-* headers; a request over the limit is answered 429 (in
    rejected, and counted in too_many).  reset_after=False leaves
    X-RateLimit-Reset-After out (only Reset says when)."""
    kind = "discord"
    default_path = "/api/webhooks/123456789012345678/tokentokentoken"

    def __init__(self, bucket=None, reset_after=True, **kw):
        super().__init__(**kw)
        self.errors = {}
        self.bucket = bucket
        self.reset_after = reset_after
        self.window_end = None
        self.used = 0
        self.too_many = 0

    def _take(self):
        """One request against the bucket: its X-RateLimit-* headers, or
        Reject(429) when the window's requests are used up."""
        if not self.bucket:
            return {}
        limit, seconds = self.bucket
        with self.lock:
            now = time.monotonic()
            if self.window_end is None or now >= self.window_end:
                self.window_end, self.used = now + seconds, 0
            left = max(0.001, math.ceil((self.window_end - now) * 1000) / 1000)
            h = {"X-RateLimit-Limit": str(limit),
                 "X-RateLimit-Reset": "%.3f" % (time.time() + left),
                 "X-RateLimit-Bucket": "a06de0de7a1ad2c1bca9b3d5c0a0c0de"}
            if self.reset_after:
                h["X-RateLimit-Reset-After"] = "%.3f" % left
            if self.used >= limit:
                self.too_many += 1
                h.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user",
                          "Retry-After": str(math.ceil(left))})
                raise Reject(429, {"message": "You are being rate limited.",
                                   "retry_after": left, "global": False},
                             "rate limited: more than %d requests in %gs" % (
                                 limit, seconds), headers=h)
            self.used += 1
            h["X-RateLimit-Remaining"] = str(limit - self.used)
            return h

    def error(self, status, msg):
        return Reject(status, {"message": msg, "code": 0}, msg)

    def form_error(self, errors):
        """50035 with Discord's nested {"path": {"_errors": [...]}} shape."""
        tree = {}
        for path, code, msg in errors:
            node = tree
            for p in path:
                node = node.setdefault(str(p), {})
            node.setdefault("_errors", []).append({"code": code, "message": msg})
        body = {"message": "Invalid Form Body", "code": 50035, "errors": tree}
        return Reject(400, body, "; ".join("%s: %s" % (".".join(map(str, p)), m)
                                           for p, _, m in errors))

    def policy(self, msg):
        return self.form_error([(["wirewatch"], "WIREWATCH_RULE", "wirewatch rule: " + msg)])

    def gone(self, times=1):
        self.force(404, {"message": "Unknown Webhook", "code": 10015}, times=times)

    def rate_limit(self, seconds=1.0, times=1):
        self.force(429, {"message": "You are being rate limited.", "retry_after": seconds,
                         "global": False},
                   {"Retry-After": str(int(seconds + 0.999)), "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(seconds),
                    "X-RateLimit-Scope": "user"}, times=times)

    def markdown(self, s, path):
        """wirewatch rules on one text: mentions and disguised links."""
        if not self.strict:
            return []
        self.check_mentions(s, ".".join(map(str, path)))
        unesc = re.sub(r"\\.", "", s)
        if re.search(r"<(@|#|@&|t:|a?:\w+:)", unesc):
            raise self.policy("%s holds a mention or tag: %r" % (".".join(map(str, path)), s))
        links = markdown_links(s)
        for u in links:
            self.check_link(u, ".".join(map(str, path)))
        return links

    def handle(self, req):
        rl = self._take()
        try:
            status, body, headers, ctype, info = self.handle_message(req)
        except Reject as r:
            r.headers.update(rl)
            raise
        return status, body, dict(headers or {}, **rl), ctype, info

    def handle_message(self, req):
        if req.ctype() != "application/json":
            raise Reject(400, {"message": "Cannot send an empty message", "code": 50006})
        try:
            j = load_json(req.body)
        except ValueError:
            raise Reject(400, {"message": "The request body contains invalid JSON.",
                               "code": 50109})
        if not isinstance(j, dict):
            raise Reject(400, {"message": "The request body contains invalid JSON.",
                               "code": 50109})
        errs, shown, links = [], [], []

        def length(path, s, limit, required=False):
            if s is None and not required:
                return 0
            if not isinstance(s, str) or (required and not s):
                errs.append((path, "BASE_TYPE_REQUIRED", "This field is required"))
                return 0
            if cp(s) > limit:
                errs.append((path, "BASE_TYPE_MAX_LENGTH",
                             "Must be %d or fewer in length." % limit))
            shown.append(s)
            return cp(s)

        content, embeds = j.get("content"), j.get("embeds")
        length(["content"], content, 2000)
        if embeds is not None and not isinstance(embeds, list):
            errs.append((["embeds"], "LIST_TYPE_CONVERT", "Must be a list."))
            embeds = []
        embeds = embeds or []
        if len(embeds) > 10:
            errs.append((["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
        if not content and not embeds:
            raise Reject(400, {"message": "Cannot send an empty message", "code": 50006})
        total = 0
        for i, e in enumerate(embeds):
            p = ["embeds", i]
            if not isinstance(e, dict):
                errs.append((p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"))
                continue
            total += length(p + ["title"], e.get("title"), 256)
            total += length(p + ["description"], e.get("description"), 4096)
            if "url" in e:
                if not isinstance(e["url"], str) or not is_http_url(e["url"]):
                    errs.append((p + ["url"], "URL_TYPE_INVALID_URL", "Not a well formed URL."))
                else:
                    links.append(e["url"])
            if "timestamp" in e:
                ts = e["timestamp"]
                if not (isinstance(ts, str) and re.match(
                        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", ts)):
                    errs.append((p + ["timestamp"], "DATE_TYPE_PARSE",
                                 "Could not parse %s. Should be ISO8601." % ts))
            f = e.get("fields", [])
            if not isinstance(f, list) or len(f) > 25:
                errs.append((p + ["fields"], "BASE_TYPE_MAX_LENGTH",
                             "Must be 25 or fewer in length."))
                f = []
            for k, x in enumerate(f):
                x = x if isinstance(x, dict) else {}
                total += length(p + ["fields", k, "name"], x.get("name"), 256, True)
                total += length(p + ["fields", k, "value"], x.get("value"), 1024, True)
            if isinstance(e.get("footer"), dict):
                total += length(p + ["footer", "text"], e["footer"].get("text"), 2048, True)
            if isinstance(e.get("author"), dict):
                total += length(p + ["author", "name"], e["author"].get("name"), 256, True)
        if total > 6000:
            errs.append((["embeds"], "MAX_EMBED_SIZE_EXCEEDED",
                         "Embed size exceeds maximum size of 6000"))
        if errs:
            raise self.form_error(errs)
        if self.strict:
            am = j.get("allowed_mentions")
            if not isinstance(am, dict) or am.get("parse") != []:
                raise self.policy("allowed_mentions must be {\"parse\": []}, got %r" % (am,))
            for u in links:
                self.check_link(u, "embed url")
            if content:
                links += self.markdown(content, ["content"])
            for i, e in enumerate(embeds):
                for k in ("title", "description"):
                    if isinstance(e.get(k), str):
                        links += self.markdown(e[k], ["embeds", i, k])
                for k, x in enumerate(e.get("fields", [])):
                    links += self.markdown(x["name"], ["embeds", i, "fields", k, "name"])
                    links += self.markdown(x["value"], ["embeds", i, "fields", k, "value"])
        info = {"json": j, "text": "\n".join(shown), "links": links}
        if req.q("wait") != "true":
            return 204, b"", {}, None, info
        mid = str(1100000000000000000 + next(self.counter))
        return 200, {"id": mid, "type": 0, "content": content or "", "embeds": embeds,
                     "channel_id": "123", "webhook_id": "123456789012345678"}, {}, None, info


# ------------------------------------------------------------------ mattermost

MM_SLACK_LINK = re.compile(r"<([^\n<\|>]+)\|([^\n>]+)>")


class Mattermost(Receiver):
    """Mattermost incoming webhooks.
    - developers.mattermost.com/integrate/webhooks/incoming: "text"
      (Markdown) and/or "attachments"; neither is 400 with an AppError
      {"id": "web.incoming_webhook.text.app_error", "message": "No text
      specified.", ...}.
    - mattermost-server app/webhook.go: CreateWebhookPost rewrites
      <url|label> in the text into [label](url); splitWebhookPost cuts a
      text longer than the post limit (16,383 runes) into several posts,
      and refuses attachments whose JSON passes PostPropsMaxUserRunes
      (400,000) with web.incoming_webhook.split_props_length.app_error.
    wirewatch rules: the text stays one post (16,383 runes), the
    attachments' text as well; no raw @channel/@all/@here/@user; links
    (after the <url|label> rewrite) only to the alert's link."""
    kind = "mattermost"
    default_path = "/hooks/xxxxxxxxxxxxxxxxxxxxxxxxxx"

    def error(self, status, msg, eid="web.incoming_webhook.parse.app_error"):
        body = {"id": eid, "message": msg, "detailed_error": "",
                "request_id": "req%d" % next(self.counter), "status_code": status}
        return Reject(status, body, msg)

    def policy(self, msg):
        return self.error(400, "wirewatch rule: " + msg, "model.post.is_valid.msg.app_error")

    def gone(self, times=1):
        self.force(410, {"id": "web.incoming_webhook.invalid.app_error",
                         "message": "Invalid webhook.", "detailed_error": "",
                         "request_id": "x", "status_code": 410}, times=times)

    def markdown(self, s, where):
        if not self.strict:
            return []
        self.check_mentions(s, where)
        s = MM_SLACK_LINK.sub(r"[\2](\1)", s)   # what the server does first
        links = markdown_links(s)
        for u in links:
            self.check_link(u, where)
        if re.search(r"<(?!\u200b)", s):
            raise self.policy("%s has a raw '<' (HTML or a link)" % where)
        return links

    def handle(self, req):
        try:
            if req.ctype() == "application/x-www-form-urlencoded":
                j = json.loads(urllib.parse.parse_qs(req.body.decode())["payload"][0])
            else:
                j = load_json(req.body)
        except (ValueError, KeyError):
            raise self.error(400, "Unable to parse incoming data.")
        if not isinstance(j, dict):
            raise self.error(400, "Unable to parse incoming data.")
        text, atts = j.get("text") or "", j.get("attachments") or []
        if not isinstance(text, str) or not isinstance(atts, list):
            raise self.error(400, "Unable to parse incoming data.")
        if not text and not atts:
            raise self.error(400, "No text specified.", "web.incoming_webhook.text.app_error")
        if cp(json.dumps({"attachments": atts}, ensure_ascii=False)) > 400000:
            raise self.error(400, "Unable to split the webhook post: attachments too long",
                             "web.incoming_webhook.split_props_length.app_error")
        if self.strict and cp(text) > 16383:
            raise self.policy("text is %d runes: the server would split it into %d posts" %
                              (cp(text), -(-cp(text) // 16383)))
        links = self.markdown(text, "text") if text else []
        shown, att_chars = [text], 0
        for i, a in enumerate(atts):
            if not isinstance(a, dict):
                raise self.error(400, "Unable to parse incoming data.")
            for k in ("fallback", "pretext", "text", "title", "author_name", "footer"):
                v = a.get(k)
                if isinstance(v, str):
                    att_chars += cp(v)
                    shown.append(v)
                    if k in ("pretext", "text"):
                        links += self.markdown(v, "attachments[%d].%s" % (i, k))
                    elif self.strict:
                        self.check_mentions(v, "attachments[%d].%s" % (i, k))
            if "title_link" in a:
                self.check_link(a["title_link"], "attachments[%d].title_link" % i)
                links.append(a["title_link"])
            for k, f in enumerate(a.get("fields") or []):
                if not isinstance(f, dict):
                    raise self.error(400, "Unable to parse incoming data.")
                for key in ("title", "value"):
                    v = f.get(key)
                    if v is None:
                        continue
                    v = str(v)
                    att_chars += cp(v)
                    shown.append(v)
                    if key == "value":
                        links += self.markdown(v, "attachments[%d].fields[%d]" % (i, k))
        if self.strict and att_chars > 16383:
            raise self.policy("attachments hold %d runes" % att_chars)
        return 200, "ok", {}, "text/plain", {"json": j, "text": "\n".join(shown),
                                             "links": links}


# ------------------------------------------------------------------ teams

class Teams(Receiver):
    """Microsoft Teams Workflows webhooks ("When a Teams webhook request is
    received", learn.microsoft.com/microsoftteams/platform/webhooks-and-
    connectors/how-to/connectors-using).
    - Body: {"type": "message", "attachments": [{"contentType":
      "application/vnd.microsoft.card.adaptive", "content": card}]};
      Workflows take Adaptive Cards only (adaptivecards.io/explorer for the
      elements; Teams renders up to version 1.5).
    - About 28 KB per message; without a charset the service measures the
      body as UTF-16 (twice the bytes), then answers 413.
    - Power Automate refuses a body that is not JSON with 400 {"error":
      {"code": "InvalidRequestContent", ...}}; a valid request gets 202.
      The real service answers 202 to a card it then fails to post; here a
      malformed card is refused (400 "TriggerInputSchemaMismatch") so the
      test sees it.
    - Text is Markdown only (cards-format); no <at> mentions without
      entities.  wirewatch rules: no markdown link or action URL but the
      alert's link."""
    kind = "teams"
    default_path = "/workflows/0123/triggers/manual/paths/invoke"
    LIMIT = 28000
    ELEMENTS = {"TextBlock", "FactSet", "Container", "ColumnSet", "Column", "Image",
                "ImageSet", "ActionSet", "RichTextBlock"}

    def error(self, status, msg, code="TriggerInputSchemaMismatch"):
        return Reject(status, {"error": {"code": code, "message": msg}}, msg)

    def policy(self, msg):
        return self.error(400, "wirewatch rule: " + msg)

    def gone(self, times=1):
        self.force(404, {"error": {"code": "WorkflowNotFound",
                                   "message": "The workflow could not be found."}},
                   times=times)

    def text(self, s, where, shown, links):
        if not isinstance(s, str):
            raise self.error(400, "%s must be a string" % where)
        shown.append(s)
        if self.strict:
            if "<at>" in s.lower():
                raise self.policy("%s holds an <at> mention" % where)
            for u in markdown_links(s):
                self.check_link(u, where)
                links.append(u)

    def action(self, a, where, links):
        if not isinstance(a, dict) or a.get("type") not in (
                "Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility"):
            raise self.error(400, "%s: unknown action" % where)
        if a["type"] == "Action.OpenUrl":
            u = a.get("url")
            if not isinstance(u, str) or not is_http_url(u):
                raise self.error(400, "%s: url is required" % where)
            self.check_link(u, where)
            links.append(u)

    def element(self, e, where, shown, links):
        if not isinstance(e, dict) or e.get("type") not in self.ELEMENTS:
            raise self.error(400, "%s: unknown element %r" %
                             (where, e.get("type") if isinstance(e, dict) else e))
        t = e["type"]
        if t == "TextBlock":
            self.text(e.get("text"), where + ".text", shown, links)
        elif t == "FactSet":
            facts = e.get("facts")
            if not isinstance(facts, list):
                raise self.error(400, where + ".facts is required")
            for i, f in enumerate(facts):
                self.text(f.get("title"), "%s.facts[%d].title" % (where, i), shown, links)
                self.text(f.get("value"), "%s.facts[%d].value" % (where, i), shown, links)
        elif t in ("Container", "Column"):
            items = e.get("items")
            if not isinstance(items, list):
                raise self.error(400, where + ".items is required")
            for i, x in enumerate(items):
                self.element(x, "%s.items[%d]" % (where, i), shown, links)
        elif t == "ColumnSet":
            for i, x in enumerate(e.get("columns") or []):
                self.element(dict(x, type="Column"), "%s.columns[%d]" % (where, i),
                             shown, links)
        elif t == "Image":
            if not isinstance(e.get("url"), str):
                raise self.error(400, where + ".url is required")
        elif t == "ActionSet":
            for i, a in enumerate(e.get("actions") or []):
                self.action(a, "%s.actions[%d]" % (where, i), links)
        if "selectAction" in e:
            self.action(e["selectAction"], where + ".selectAction", links)

    def handle(self, req):
        ctype = req.headers.get("content-type", "")
        if not ctype.lower().startswith("application/json"):
            raise self.error(400, "The input body for trigger 'manual' of type 'Request' "
                             "must be of type JSON, but was of type '%s'." % ctype,
                             "InvalidRequestContent")
        size = len(req.body)
        if "charset=utf-8" not in ctype.lower().replace(" ", ""):
            try:
                size = len(req.body.decode("utf-8").encode("utf-16-le"))
            except UnicodeDecodeError:
                pass
        if size > self.LIMIT:
            raise self.error(413, "Message size is %d bytes, over the limit of %d." %
                             (size, self.LIMIT), "MessageSizeTooBig")
        try:
            j = load_json(req.body)
        except ValueError:
            raise self.error(400, "The request content is not valid JSON.",
                             "InvalidRequestContent")
        if not isinstance(j, dict) or j.get("type") != "message":
            raise self.error(400, "type must be \"message\"")
        atts = j.get("attachments")
        if not isinstance(atts, list) or not atts:
            raise self.error(400, "attachments must be a non-empty list")
        shown, links = [], []
        for i, a in enumerate(atts):
            w = "attachments[%d]" % i
            if not isinstance(a, dict) or \
                    a.get("contentType") != "application/vnd.microsoft.card.adaptive":
                raise self.error(400, w + ".contentType must be an Adaptive Card")
            card = a.get("content")
            if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
                raise self.error(400, w + ".content must be an AdaptiveCard")
            v = card.get("version")
            if not isinstance(v, str) or not re.match(r"^1\.[0-5]$", v):
                raise self.error(400, w + ".content.version %r is not 1.0-1.5" % v)
            body = card.get("body")
            if not isinstance(body, list) or not body:
                raise self.error(400, w + ".content.body must be a non-empty list")
            for k, e in enumerate(body):
                self.element(e, "%s.content.body[%d]" % (w, k), shown, links)
            for k, act in enumerate(card.get("actions") or []):
                self.action(act, "%s.content.actions[%d]" % (w, k), links)
        return 202, b"", {}, None, {"json": j, "text": "\n".join(shown), "links": links}


# ------------------------------------------------------------------ google chat

class GoogleChat(Receiver):
    """Google Chat incoming webhooks (developers.google.com/workspace/chat).
    - create-messages: at most 32,000 bytes including text and cards.
    - api/reference/rest/v1/spaces.messages/create: requestId makes a
      repeated POST return the message already created.
    - format-messages: text links <url|label>, mentions <users/ID> and
      <users/all>; card text (textParagraph, decoratedText, section
      headers) takes <b>, <i>, <u>, <s>, <strike>, <font>, <a href>, <br>.
    - Errors: {"error": {"code": 400, "message", "status":
      "INVALID_ARGUMENT"}}; unknown JSON fields are refused ("Invalid JSON
      payload received. Unknown name ...").
    wirewatch rules: no <users/...> in the text, card HTML only those tags
    with every '&' an entity, links only to the alert's link."""
    kind = "google-chat"
    default_path = "/v1/spaces/AAAAAAAAAAA/messages"
    LIMIT = 32000
    MESSAGE_KEYS = {"text", "cardsV2", "thread", "fallbackText", "accessoryWidgets",
                    "privateMessageViewer", "formattedText"}
    CARD_KEYS = {"header", "sections", "name", "cardActions", "fixedFooter",
                 "sectionDividerStyle", "peekCardHeader", "displayStyle"}
    SECTION_KEYS = {"header", "widgets", "collapsible", "uncollapsibleWidgetsCount"}
    WIDGETS = {"textParagraph", "decoratedText", "buttonList", "divider", "image",
               "columns", "grid", "selectionInput", "textInput", "dateTimePicker",
               "chipList", "horizontalAlignment"}
    HTML_TAGS = {"b", "i", "u", "s", "strike", "font", "a", "br"}

    def __init__(self, **kw):
        super().__init__(**kw)
        self.by_request_id = {}
        self.duplicates = 0

    def error(self, status, msg, st="INVALID_ARGUMENT"):
        return Reject(status, {"error": {"code": status, "message": msg, "status": st}}, msg)

    def gone(self, times=1):
        self.force(404, {"error": {"code": 404, "message": "Requested entity was not found.",
                                   "status": "NOT_FOUND"}}, times=times)

    def rate_limit(self, seconds=1, times=1):
        self.force(429, {"error": {"code": 429, "message": "Resource has been exhausted "
                                   "(e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}},
                   times=times)

    def unknown(self, obj, allowed, where):
        for k in obj:
            if k not in allowed:
                raise self.error(400, "Invalid JSON payload received. Unknown name \"%s\" "
                                 "at '%s': Cannot find field." % (k, where))

    def card_html(self, s, where, links):
        if not isinstance(s, str):
            raise self.error(400, "%s must be a string" % where)
        if not self.strict:
            return
        if re.search(r"&(?!amp;|lt;|gt;|quot;|#\d+;|#x[0-9a-fA-F]+;)", s):
            raise self.policy("%s has a raw '&'" % where)
        for m in re.finditer(r"<(/?)([a-zA-Z0-9]*)([^>]*)>?", s):
            name = m.group(2).lower()
            if name not in self.HTML_TAGS or not m.group(0).endswith(">"):
                raise self.policy("%s has markup %r" % (where, m.group(0)))
            if name == "a" and not m.group(1):
                href = re.search(r'href="([^"]*)"', m.group(3))
                if not href:
                    raise self.policy("%s: <a> without href" % where)
                u = html_unescape_attr(href.group(1))
                self.check_link(u, where)
                links.append(u)

    def handle(self, req):
        if len(req.body) > self.LIMIT:
            raise self.error(400, "Message is %d bytes; the maximum message size is %d "
                             "bytes." % (len(req.body), self.LIMIT))
        try:
            j = load_json(req.body)
        except ValueError:
            raise self.error(400, "Invalid JSON payload received.")
        if not isinstance(j, dict):
            raise self.error(400, "Invalid JSON payload received.")
        self.unknown(j, self.MESSAGE_KEYS, "message")
        rid = req.q("requestId")
        with self.lock:
            if rid is not None and rid in self.by_request_id:
                self.duplicates += 1
                return 200, self.by_request_id[rid], {}, None, {
                    "json": j, "text": "", "links": [], "request_id": rid, "duplicate": True}
        text, cards = j.get("text"), j.get("cardsV2")
        if not text and not cards:
            raise self.error(400, "Message cannot be empty. Discarding empty message.")
        shown, links = [], []
        if text is not None:
            if not isinstance(text, str):
                raise self.error(400, "Invalid value at 'message.text'")
            shown.append(text)
            if self.strict:
                if re.search(r"<users/", text):
                    raise self.policy("text would mention: %r" % text)
                for m in re.finditer(r"<(https?://[^|>]*)(\|[^>]*)?>", text):
                    self.check_link(m.group(1), "text")
                    links.append(m.group(1))
        for i, c in enumerate(cards or []):
            w = "message.cards_v2[%d]" % i
            if not isinstance(c, dict) or not isinstance(c.get("card"), dict):
                raise self.error(400, "Invalid value at '%s.card'" % w)
            self.unknown(c, {"cardId", "card"}, w)
            card = c["card"]
            self.unknown(card, self.CARD_KEYS, w + ".card")
            h = card.get("header")
            if h is not None:
                if not isinstance(h, dict) or not isinstance(h.get("title"), str):
                    raise self.error(400, "%s.card.header.title is required" % w)
                self.unknown(h, {"title", "subtitle", "imageUrl", "imageType", "imageAltText"},
                             w + ".card.header")
                for k in ("title", "subtitle"):
                    if isinstance(h.get(k), str):
                        shown.append(h[k])
                        if self.strict and re.search(r"<(?!\u200b)", h[k]):
                            raise self.policy("%s.card.header.%s has a raw '<'" % (w, k))
            for k, sec in enumerate(card.get("sections") or []):
                ws = "%s.card.sections[%d]" % (w, k)
                if not isinstance(sec, dict):
                    raise self.error(400, "Invalid value at '%s'" % ws)
                self.unknown(sec, self.SECTION_KEYS, ws)
                if "header" in sec:
                    self.card_html(sec["header"], ws + ".header", links)
                    shown.append(sec["header"])
                for m, wd in enumerate(sec.get("widgets") or []):
                    ww = "%s.widgets[%d]" % (ws, m)
                    if not isinstance(wd, dict) or len(wd) != 1 or \
                            next(iter(wd)) not in self.WIDGETS:
                        raise self.error(400, "Invalid value at '%s'" % ww)
                    kind, x = next(iter(wd.items()))
                    if kind in ("textParagraph", "decoratedText"):
                        self.card_html(x.get("text"), "%s.%s.text" % (ww, kind), links)
                        shown.append(x["text"])
                    elif kind == "buttonList":
                        for b in x.get("buttons") or []:
                            u = (((b.get("onClick") or {}).get("openLink") or {}).get("url"))
                            if u is not None:
                                self.check_link(u, ww + ".buttonList")
                                links.append(u)
        name = "spaces/AAAAAAAAAAA/messages/m%d" % next(self.counter)
        reply = {"name": name, "text": text or "", "createTime":
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self.lock:
            if rid is not None:
                self.by_request_id[rid] = reply
        return 200, reply, {}, None, {"json": j, "text": "\n".join(shown), "links": links,
                                      "request_id": rid, "duplicate": False}


# ------------------------------------------------------------------ telegram

TG_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
           "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote", "tg-time"}


def telegram_parse(html):
    """Parses Telegram's HTML style (core.telegram.org/bots/api#html-style):
    returns (text, links) or raises ValueError with Telegram's "can't parse
    entities" description."""
    out, links, stack, i, n = [], [], [], 0, len(html)

    def off(k):
        return len(html[:k].encode("utf-8"))

    while i < n:
        c = html[i]
        if c == "<":
            j = html.find(">", i)
            if j < 0:
                raise ValueError("Unclosed start tag at byte offset %d" % off(i))
            tag = html[i + 1:j]
            if tag.startswith("/"):
                name = tag[1:].strip().lower()
                if not stack or stack[-1] != name:
                    raise ValueError("Unexpected end tag at byte offset %d" % off(i))
                stack.pop()
            else:
                m = re.match(r"^([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"]*\")?)*)\s*$",
                             tag)
                name = m.group(1).lower() if m else tag.split(" ")[0]
                if not m or name not in TG_TAGS:
                    raise ValueError('Unsupported start tag "%s" at byte offset %d' %
                                     (name, off(i)))
                attrs = dict(re.findall(r'([a-zA-Z-]+)="([^"]*)"', m.group(2)))
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise ValueError('Tag "span" must have class "tg-spoiler" at byte '
                                     'offset %d' % off(i))
                if name == "a":
                    if "href" not in attrs:
                        raise ValueError("Tag \"a\" must have attribute \"href\" at byte "
                                         "offset %d" % off(i))
                    links.append(html_unescape_attr(attrs["href"]))
                stack.append(name)
            i = j + 1
        elif c == "&":
            m = re.match(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});", html[i:])
            if not m:
                raise ValueError("Character entity expected at byte offset %d" % off(i))
            e = m.group(1)
            out.append({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(e) or
                       chr(int(e[2:], 16) if e[1:2] == "x" else int(e[1:])))
            i += len(m.group(0))
        elif c == ">":
            raise ValueError("Unexpected end of name token at byte offset %d" % off(i))
        else:
            out.append(c)
            i += 1
    if stack:
        raise ValueError("Can't find end tag corresponding to start tag \"%s\"" % stack[-1])
    return "".join(out), links


class Telegram(Receiver):
    """Telegram Bot API sendMessage (core.telegram.org/bots/api).
    - #sendmessage: chat_id required, text 1-4,096 characters after entity
      parsing (counted in UTF-16 units, #messageentity), parse_mode,
      link_preview_options.
    - #html-style: only the listed tags; every <, >, & not part of a tag or
      entity escaped; named entities only &lt; &gt; &amp; &quot;.
    - Errors: {"ok": false, "error_code": 400, "description": "Bad Request:
      ..."} ("message text is empty", "message is too long", "can't parse
      entities: ..."); 429 adds "parameters": {"retry_after": N}.
    - #replyparameters (Bot API 7.0): reply_parameters {"message_id": N,
      "allow_sending_without_reply": ...}; an N not in the chat is 400
      "message to be replied not found" unless allow_sending_without_reply.
    wirewatch rules: link previews off, no raw @username in the text, links
    only to the alert's link, replies only to message_ids this receiver
    answered in that chat (recorded as "reply_to" on the message)."""
    kind = "telegram"
    default_path = "/bot123456:ABCDEF/sendMessage"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.issued = {}  # chat id (str) -> the message_ids answered in it

    def error(self, status, msg):
        desc = ("Bad Request: " if status == 400 else "") + msg
        return Reject(status, {"ok": False, "error_code": status, "description": desc}, desc)

    def gone(self, times=1):
        self.force(403, {"ok": False, "error_code": 403,
                         "description": "Forbidden: bot was kicked from the group chat"},
                   times=times)

    def rate_limit(self, seconds=1, times=1):
        s = int(seconds + 0.999)
        self.force(429, {"ok": False, "error_code": 429,
                         "description": "Too Many Requests: retry after %d" % s,
                         "parameters": {"retry_after": s}}, {"Retry-After": str(s)},
                   times=times)

    def handle(self, req):
        try:
            if req.ctype() == "application/x-www-form-urlencoded":
                j = {k: v[0] for k, v in urllib.parse.parse_qs(req.body.decode()).items()}
            else:
                j = load_json(req.body)
        except ValueError:
            raise self.error(400, "can't parse JSON object")
        if not isinstance(j, dict):
            raise self.error(400, "can't parse JSON object")
        if j.get("chat_id") in (None, ""):
            raise self.error(400, "chat_id is empty")
        text = j.get("text")
        if not isinstance(text, str) or not text.strip():
            raise self.error(400, "message text is empty")
        mode = j.get("parse_mode")
        links = []
        if mode == "HTML":
            try:
                text, links = telegram_parse(text)
            except ValueError as e:
                raise self.error(400, "can't parse entities: %s" % e)
        elif mode not in (None, "", "MarkdownV2", "Markdown"):
            raise self.error(400, "unsupported parse_mode")
        if not text.strip():
            raise self.error(400, "message text is empty")
        if u16(text) > 4096:
            raise self.error(400, "message is too long")
        if self.strict:
            lp = j.get("link_preview_options") or {}
            if not (lp.get("is_disabled") is True or j.get("disable_web_page_preview") is True):
                raise self.policy("link previews must be off")
            if mode != "HTML":
                raise self.policy("parse_mode must be HTML")
            self.check_mentions(text, "text")
            for u in links:
                self.check_link(u, "text")
        chat = str(j["chat_id"])
        rp = j.get("reply_parameters")
        reply_to = None
        if rp is not None:
            # #replyparameters: message_id (required) of a message in this
            # chat; allow_sending_without_reply sends it plain when gone.
            if not isinstance(rp, dict) or not isinstance(rp.get("message_id"), int) \
                    or isinstance(rp.get("message_id"), bool):
                raise self.error(400, "field \"reply_parameters\" must be a ReplyParameters object")
            if rp["message_id"] not in self.issued.get(chat, ()):
                if rp.get("allow_sending_without_reply") is not True:
                    raise self.error(400, "message to be replied not found")
                if self.strict:  # wirewatch only replies to ids it was given
                    raise self.policy("reply_parameters.message_id %r was never issued in chat %s"
                                      % (rp["message_id"], chat))
            else:
                reply_to = rp["message_id"]
        mid = next(self.counter)
        self.issued.setdefault(chat, set()).add(mid)
        return 200, {"ok": True, "result": {"message_id": mid, "date": int(time.time()),
                                            "chat": {"id": j["chat_id"]}, "text": text}}, \
            {}, None, {"json": j, "text": text, "links": links, "message_id": mid,
                       "reply_to": reply_to}


# ------------------------------------------------------------------ ntfy

class Ntfy(Receiver):
    """ntfy (docs.ntfy.sh/publish; binwiederhier/ntfy server/*.go).
    - The body is the message; over the 4,096-byte message limit, or not
      UTF-8, it becomes an attachment (handlePublishBody), refused where
      attachments are off: 400 {"code": 40014, "http": 400, "error":
      "invalid request: attachments not allowed", "link": ...}.
    - Title/X-Title/t, Tags/X-Tags/tag/ta (comma-separated), Priority/
      X-Priority/prio/p (1-5, min, low, default, high, max, urgent; else
      40007 "invalid priority parameter"), Click/X-Click.  Header values may
      be RFC 2047 encoded-words (maybeDecodeHeader).
    wirewatch rules: header values are ASCII (RFC 2047 for the rest) and
    decode to valid UTF-8; Click only to the alert's link."""
    kind = "ntfy"
    default_path = "/wirewatch-test"
    LIMIT = 4096
    PRIORITIES = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "min": 1, "low": 2,
                  "default": 3, "high": 4, "max": 5, "urgent": 5}

    def error(self, status, msg, code=40000, link=None):
        body = {"code": code, "http": status, "error": msg}
        if link:
            body["link"] = link
        return Reject(status, body, msg)

    def gone(self, times=1):
        self.force(410, {"code": 41000, "http": 410, "error": "gone"}, times=times)

    def rate_limit(self, seconds=1, times=1):
        self.force(429, {"code": 42901, "http": 429,
                         "error": "limit reached: too many requests, please be nice",
                         "link": "https://ntfy.sh/docs/publish/#limitations"},
                   {"Retry-After": str(int(seconds + 0.999))}, times=times)

    def header(self, req, *names):
        for name, value in req.header_list:
            if name.lower() in names:
                raw = value
                if self.strict and any(ord(ch) > 126 or ord(ch) < 32 for ch in raw):
                    raise self.policy("header %s is not plain ASCII: %r" % (name, raw))
                try:
                    parts = email.header.decode_header(raw)
                    out = "".join(p.decode(cs or "ascii") if isinstance(p, bytes) else p
                                  for p, cs in parts)
                except (UnicodeDecodeError, LookupError, ValueError) as e:
                    raise self.policy("header %s does not decode: %s" % (name, e))
                return out.strip()
        return None

    def handle(self, req):
        body = req.body
        try:
            message = body.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        if len(body) > self.LIMIT or not utf8:
            raise self.error(400, "invalid request: attachments not allowed", 40014,
                             "https://ntfy.sh/docs/config/#attachments")
        title = self.header(req, "x-title", "title", "t")
        tags = self.header(req, "x-tags", "tags", "tag", "ta")
        prio = self.header(req, "x-priority", "priority", "prio", "p")
        click = self.header(req, "x-click", "click")
        if prio is not None and re.match(r"^u=\d(,\s*(i|\d))?$", prio):
            prio = None     # RFC 9218 priority from a proxy: ignored
        if prio is not None and prio.lower() not in self.PRIORITIES:
            raise self.error(400, "invalid priority parameter", 40007,
                             "https://ntfy.sh/docs/publish/#message-priority")
        links = []
        if click is not None:
            self.check_link(click, "Click")
            links.append(click)
        mid = "m%d" % next(self.counter)
        tag_list = [t.strip() for t in (tags or "").split(",") if t.strip()]
        reply = {"id": mid, "time": int(time.time()), "event": "message",
                 "topic": req.path.strip("/"), "message": message}
        if title:
            reply["title"] = title
        if tag_list:
            reply["tags"] = tag_list
        if prio:
            reply["priority"] = self.PRIORITIES[prio.lower()]
        if click:
            reply["click"] = click
        return 200, reply, {}, None, {"text": (title or "") + "\n" + message,
                                      "title": title, "tags": tag_list,
                                      "priority": reply.get("priority"), "links": links}


RECEIVERS = {c.kind: c for c in (Webhook, Slack, Discord, Mattermost, Teams, GoogleChat,
                                 Telegram, Ntfy)}


# ------------------------------------------------------------------ client

def post(url, body, content_type="application/json", headers=None, timeout=10):
    """POSTs body; returns (status, response body bytes)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = json.dumps(body).encode("utf-8")
    h = {"Content-Type": content_type}
    h.update(headers or {})
    req = urllib.request.Request(url, data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post_raw_headers(port, path, body, headers):
    """POSTs with header values sent as raw bytes (urllib would refuse
    non-Latin-1); returns (status, body)."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = [b"POST %s HTTP/1.1" % path.encode(), b"Host: 127.0.0.1",
             b"Content-Length: %d" % len(body), b"Connection: close"]
    lines += [k.encode() + b": " + (v if isinstance(v, bytes) else v.encode())
              for k, v in headers.items()]
    s.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


# ------------------------------------------------------------------ self-test

SEED_LINK = ("https://www.qna.org.qa/en/News-Area/News/2025-07/13/"
             "0032-n-korean-leader-reaffirms-unconditional-support-for-russia-in-ukraine-war")
SEED_TITLE = "N. Korean leader reaffirms unconditional support for Russia in Ukraine war"
SEED_SNIPPET = ("…in line with the North Korea-{b}Russia{e} mutual defense "
                "{b}treaty{e}, the KCNA said.")


def _examples():
    """(kind, name, expected status, body, content type, headers, query).
    The good examples have the shape wirewatch renders; each bad one breaks
    one documented rule (or one wirewatch rule)."""
    L, T = SEED_LINK, SEED_TITLE
    md = SEED_SNIPPET.format(b="**", e="**")
    ok_slack = {"text": "*treaty*: <%s|%s>\n>%s" % (L, T, SEED_SNIPPET.format(b="*", e="*")),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                        "text": "*<%s|%s>*" % (L, T)},
                            "fields": [{"type": "mrkdwn", "text": "*Watchlist*\ntreaty"}]}]}
    ok_discord = {"content": "**treaty**: " + T.replace(".", "\\."),
                  "embeds": [{"title": T.replace(".", "\\."), "url": L, "description": md,
                              "timestamp": "2025-07-13T06:41:00Z",
                              "fields": [{"name": "Watchlist", "value": "treaty",
                                          "inline": True}]}],
                  "allowed_mentions": {"parse": []}}
    ok_mm = {"text": "#### [%s](%s)\n> %s" % (T.replace(".", "\\."), L, md),
             "attachments": [{"fallback": "treaty: " + T, "color": "#D0021B",
                              "fields": [{"title": "Watchlist", "value": "treaty",
                                          "short": True}]}]}
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.2",
            "body": [{"type": "TextBlock", "text": "treaty", "wrap": True},
                     {"type": "Container", "items": [{"type": "TextBlock", "text": T}],
                      "selectAction": {"type": "Action.OpenUrl", "url": L}},
                     {"type": "FactSet", "facts": [{"title": "Feed", "value": "qna"}]},
                     {"type": "TextBlock", "text": md, "wrap": True}],
            "actions": [{"type": "Action.OpenUrl", "title": "Open article", "url": L}]}
    ok_teams = {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}
    ok_gchat = {"text": "*treaty*: " + T, "cardsV2": [{"cardId": "alert", "card": {
        "header": {"title": T, "subtitle": "treaty · qna"},
        "sections": [{"widgets": [
            {"textParagraph": {"text": SEED_SNIPPET.format(b="<b>", e="</b>")}},
            {"buttonList": {"buttons": [{"text": "Open article",
                                         "onClick": {"openLink": {"url": L}}}]}}]}]}}]}
    ok_tg = {"chat_id": "-100123", "parse_mode": "HTML",
             "text": '<b>treaty</b> · qna\n<a href="%s">%s</a>\n<blockquote>%s</blockquote>' %
                     (L, T, SEED_SNIPPET.format(b="<b>", e="</b>")),
             "link_preview_options": {"is_disabled": True}}
    ok_hook = {"type": "alert", "timestamp": "2025-07-13T06:41:00Z", "data": {
        "alert_id": "al_1", "watchlist": "treaty", "title": T, "link": L,
        "published": "2025-07-13T06:41:00Z", "feed": "qna", "id": "x", "terms": ["treaty"]}}

    def mod(base, fn):
        c = json.loads(json.dumps(base))
        fn(c)
        return c

    J = "application/json"
    ex = [
        ("webhook", "good", 200, ok_hook, J, {}, ""),
        ("webhook", "over 20 KB", 413, mod(ok_hook, lambda c: c["data"].update(
            snippet="x" * 20000)), J, {}, ""),
        ("webhook", "no data", 400, {"type": "alert", "timestamp": "t"}, J, {}, ""),
        ("webhook", "alert without feed", 400, mod(ok_hook, lambda c: c["data"].pop("feed")),
         J, {}, ""),

        ("slack", "good", 200, ok_slack, J, {}, ""),
        ("slack", "no text", 400, {"blocks": ok_slack["blocks"]}, J, {}, ""),
        ("slack", "not JSON", 400, b"{text:", J, {}, ""),
        ("slack", "51 blocks", 400, mod(ok_slack, lambda c: c.update(
            blocks=c["blocks"] * 51)), J, {}, ""),
        ("slack", "section text 3,001", 400, mod(ok_slack, lambda c: c["blocks"][0]["text"]
                                                 .update(text="é" * 3001)), J, {}, ""),
        ("slack", "11 fields", 400, mod(ok_slack, lambda c: c["blocks"][0].update(
            fields=c["blocks"][0]["fields"] * 11)), J, {}, ""),
        ("slack", "raw <!channel>", 400, mod(ok_slack, lambda c: c.update(
            text="hello <!channel>")), J, {}, ""),
        ("slack", "raw &", 400, mod(ok_slack, lambda c: c.update(text="a & b")), J, {}, ""),
        ("slack", "<script>", 400, mod(ok_slack, lambda c: c["blocks"][0]["text"].update(
            text="<script>x</script>")), J, {}, ""),
        ("slack", "disguised link", 400, mod(ok_slack, lambda c: c.update(
            text="<https://evil.example/|%s>" % T)), J, {}, ""),

        ("discord", "good", 200, ok_discord, J, {}, "wait=true"),
        ("discord", "empty", 400, {"content": "", "allowed_mentions": {"parse": []}}, J, {},
         "wait=true"),
        ("discord", "content 2,001", 400, mod(ok_discord, lambda c: c.update(
            content="😀" * 2001)), J, {}, "wait=true"),
        ("discord", "title 257", 400, mod(ok_discord, lambda c: c["embeds"][0].update(
            title="t" * 257)), J, {}, "wait=true"),
        ("discord", "description 4,097", 400, mod(ok_discord, lambda c: c["embeds"][0].update(
            description="d" * 4097)), J, {}, "wait=true"),
        ("discord", "field value 1,025", 400, mod(ok_discord, lambda c: c["embeds"][0]
                                                  ["fields"][0].update(value="v" * 1025)),
         J, {}, "wait=true"),
        ("discord", "empty field value", 400, mod(ok_discord, lambda c: c["embeds"][0]
                                                  ["fields"][0].update(value="")),
         J, {}, "wait=true"),
        ("discord", "embeds over 6,000", 400, mod(ok_discord, lambda c: c.update(
            embeds=[dict(c["embeds"][0], description="d" * 4000)] * 2)), J, {}, "wait=true"),
        ("discord", "11 embeds", 400, mod(ok_discord, lambda c: c.update(
            embeds=c["embeds"] * 11)), J, {}, "wait=true"),
        ("discord", "bad url", 400, mod(ok_discord, lambda c: c["embeds"][0].update(
            url="javascript:alert(1)")), J, {}, "wait=true"),
        ("discord", "no allowed_mentions", 400, mod(ok_discord, lambda c: c.pop(
            "allowed_mentions")), J, {}, "wait=true"),
        ("discord", "raw @everyone", 400, mod(ok_discord, lambda c: c.update(
            content="@everyone look")), J, {}, "wait=true"),
        ("discord", "masked link", 400, mod(ok_discord, lambda c: c["embeds"][0].update(
            description="[%s](https://evil.example/)" % T)), J, {}, "wait=true"),

        ("mattermost", "good", 200, ok_mm, J, {}, ""),
        ("mattermost", "empty", 400, {"text": ""}, J, {}, ""),
        ("mattermost", "16,384 runes", 400, {"text": "ж" * 16384}, J, {}, ""),
        ("mattermost", "raw @channel", 400, {"text": "hi @channel"}, J, {}, ""),
        ("mattermost", "<url|label> link", 400, {"text": "<https://evil.example/|%s>" % T},
         J, {}, ""),
        ("mattermost", "raw <script>", 400, {"text": "<script>alert(1)</script>"}, J, {}, ""),

        ("teams", "good", 202, ok_teams, "application/json; charset=utf-8", {}, ""),
        ("teams", "not a message", 400, {"type": "card"}, J, {}, ""),
        ("teams", "no card", 400, {"type": "message", "attachments": []}, J, {}, ""),
        ("teams", "old MessageCard", 400, {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.teams.card.o365connector",
             "content": {}}]}, J, {}, ""),
        ("teams", "over 28 KB", 413, mod(ok_teams, lambda c: c["attachments"][0]["content"]
                                         ["body"][0].update(text="x" * 28001)),
         "application/json; charset=utf-8", {}, ""),
        ("teams", "15 KB without charset", 413, mod(ok_teams, lambda c: c["attachments"][0]
                                                    ["content"]["body"][0]
                                                    .update(text="x" * 15000)), J, {}, ""),
        ("teams", "text/plain", 400, ok_teams, "text/plain", {}, ""),
        ("teams", "disguised link", 400, mod(ok_teams, lambda c: c["attachments"][0]
                                             ["content"]["body"][0]
                                             .update(text="[%s](https://evil.example/)" % T)),
         J, {}, ""),

        ("google-chat", "good", 200, ok_gchat, J, {}, "requestId=al_1"),
        ("google-chat", "empty", 400, {"text": ""}, J, {}, ""),
        ("google-chat", "over 32,000 bytes", 400, {"text": "界" * 11000}, J, {}, ""),
        ("google-chat", "unknown field", 400, mod(ok_gchat, lambda c: c.update(blocks=[])),
         J, {}, ""),
        ("google-chat", "<users/all>", 400, {"text": "hi <users/all>"}, J, {}, ""),
        ("google-chat", "<script> in a card", 400, mod(ok_gchat, lambda c: c["cardsV2"][0]
                                                       ["card"]["sections"][0]["widgets"][0]
                                                       ["textParagraph"]
                                                       .update(text="<script>x</script>")),
         J, {}, ""),

        ("telegram", "good", 200, ok_tg, J, {}, ""),
        ("telegram", "no chat_id", 400, mod(ok_tg, lambda c: c.pop("chat_id")), J, {}, ""),
        ("telegram", "empty text", 400, mod(ok_tg, lambda c: c.update(text="<b></b>")), J,
         {}, ""),
        ("telegram", "4,097 after parsing", 400, mod(ok_tg, lambda c: c.update(
            text="<b>%s</b>" % ("😀" * 2049))), J, {}, ""),
        ("telegram", "<script>", 400, mod(ok_tg, lambda c: c.update(
            text="<script>alert(1)</script>")), J, {}, ""),
        ("telegram", "raw &", 400, mod(ok_tg, lambda c: c.update(text="a & b")), J, {}, ""),
        ("telegram", "unclosed <b>", 400, mod(ok_tg, lambda c: c.update(text="<b>x")), J,
         {}, ""),
        ("telegram", "preview on", 400, mod(ok_tg, lambda c: c.pop("link_preview_options")),
         J, {}, ""),
        ("telegram", "raw @username", 400, mod(ok_tg, lambda c: c.update(text="hi @durov")),
         J, {}, ""),

        ("ntfy", "good", 200, "%s\ntreaty · qna\n\n%s" % (T, SEED_SNIPPET.format(b="*", e="*")),
         "text/plain; charset=utf-8", {"Title": "treaty: " + T, "Tags": "newspaper,treaty",
                                       "Priority": "4", "Click": L}, ""),
        ("ntfy", "4,097 bytes", 400, "é" * 2048 + "x", "text/plain", {"Title": "x"}, ""),
        ("ntfy", "bad priority", 400, "x", "text/plain", {"Priority": "urgentest"}, ""),
        ("ntfy", "foreign Click", 400, "x", "text/plain", {"Click": "https://evil.example/"},
         ""),
    ]
    return ex


def self_test(verbose=False):
    failures = 0

    def say(ok, what):
        nonlocal failures
        if not ok:
            failures += 1
        if verbose or not ok:
            print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)

    for kind, name, want, body, ctype, headers, query in _examples():
        with RECEIVERS[kind](allowed_links={SEED_LINK}) as rx:
            url = rx.url() + ("?" + query if query else "")
            status, resp = post(url, body, ctype, headers)
            detail = (rx.rejected[-1].get("reason") if rx.rejected else "") or ""
            say(status == want, "%s: %s -> %d (want %d) %s %s" %
                (kind, name, status, want, resp[:160].decode("utf-8", "replace"),
                 ("[" + detail[:160] + "]") if detail and status != want else ""))
            if status >= 400 and kind in ("discord", "telegram", "google-chat", "ntfy",
                                          "mattermost", "teams"):
                try:
                    json.loads(resp)
                except ValueError:
                    say(False, "%s: %s: the error body is not JSON" % (kind, name))

    # ntfy: RFC 2047 titles decode; raw UTF-8 header bytes are refused.
    with Ntfy(allowed_links={SEED_LINK}) as rx:
        word = "=?UTF-8?B?%s?=" % base64.b64encode("كيم 🇰🇵".encode()).decode()
        st, _ = post_raw_headers(rx.port, rx.default_path, b"x", {"Title": word})
        say(st == 200 and rx.messages[-1]["title"] == "كيم 🇰🇵", "ntfy: RFC 2047 title")
        st, _ = post_raw_headers(rx.port, rx.default_path, b"x", {"Title": "كيم".encode()})
        say(st == 400, "ntfy: raw UTF-8 header refused (%d)" % st)

    # Service behaviours the daemon relies on.
    with Discord() as rx:
        rx.rate_limit(0.25)
        st, resp = post(rx.url() + "?wait=true", {"content": "x",
                                                  "allowed_mentions": {"parse": []}})
        say(st == 429 and json.loads(resp)["retry_after"] == 0.25, "discord: 429 retry_after")
        rx.gone()
        st, resp = post(rx.url() + "?wait=true", {"content": "x",
                                                  "allowed_mentions": {"parse": []}})
        say(st == 404 and json.loads(resp)["code"] == 10015, "discord: 404 Unknown Webhook")
        st, _ = post(rx.url(), {"content": "x", "allowed_mentions": {"parse": []}})
        say(st == 204, "discord: 204 without wait=true")
    with Discord(bucket=(2, 0.5)) as rx:
        ok = {"content": "x", "allowed_mentions": {"parse": []}}
        st1, _ = post(rx.url() + "?wait=true", ok)
        h1 = dict(rx.messages[-1]["answer_headers"])
        st2, _ = post(rx.url() + "?wait=true", ok)
        h2 = dict(rx.messages[-1]["answer_headers"])
        st3, resp = post(rx.url() + "?wait=true", ok)
        say(st1 == st2 == 200 and h1["X-RateLimit-Remaining"] == "1" and
            h2["X-RateLimit-Remaining"] == "0" and 0 < float(h2["X-RateLimit-Reset-After"]) <= 0.5
            and st3 == 429 and 0 < json.loads(resp)["retry_after"] <= 0.5 and rx.too_many == 1,
            "discord: bucket of 2 per 0.5 s answers X-RateLimit-*, then 429")
        time.sleep(float(h2["X-RateLimit-Reset-After"]))
        st4, _ = post(rx.url() + "?wait=true", ok)
        say(st4 == 200 and rx.too_many == 1, "discord: the bucket resets after Reset-After")
    with Telegram() as rx:
        rx.rate_limit(3)
        st, resp = post(rx.url(), {"chat_id": 1, "text": "x"})
        say(st == 429 and json.loads(resp)["parameters"]["retry_after"] == 3,
            "telegram: 429 parameters.retry_after")
    with GoogleChat() as rx:
        for _ in range(2):
            st, _ = post(rx.url() + "?requestId=al_9", {"text": "x"})
        say(st == 200 and len([m for m in rx.messages if not m.get("duplicate")]) == 1 and
            rx.duplicates == 1, "google-chat: requestId is idempotent")
    with Webhook(secrets=["whsec_" + base64.b64encode(b"k" * 24).decode()]) as rx:
        body = json.dumps({"type": "alert", "timestamp": "t", "data": {
            "alert_id": "a", "watchlist": "w", "published": "p", "feed": "f", "id": "i",
            "terms": []}}).encode()
        sig = base64.b64encode(hmac.new(b"k" * 24, b"msg_1.1700000000." + body,
                                        hashlib.sha256).digest()).decode()
        h = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
             "webhook-signature": "v1,bad= v1," + sig}
        st1, _ = post(rx.url(), body, headers=h)
        st2, _ = post(rx.url(), body, headers=dict(h, **{"webhook-signature": "v1,bad="}))
        say(st1 == 200 and st2 == 401, "webhook: Standard Webhooks signatures")
        st3, _ = post(rx.url(), body, headers=h)
        say(st3 == 200 and rx.messages[-1]["duplicate"], "webhook: a repeat is seen as one")

    # Whatever wirewatch renders must be accepted.
    binary = os.path.join(ROOT, "build", "test_sinkfmt")
    if os.access(binary, os.X_OK):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([binary], env=dict(os.environ, SINKFMT_DUMP_DIR=d),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            say(r.returncode == 0, "build/test_sinkfmt ran (rc %d)" % r.returncode)
            failures += check_dir(d, verbose)
    else:
        print("note: %s is missing (make build/test_sinkfmt); renderings not checked" % binary)
    print("chat_receivers self-test: %s" % ("ok" if failures == 0 else
                                             "%d FAILED" % failures), flush=True)
    return failures


def check_dir(d, verbose=False):
    """Posts every TYPE-CASE.json rendering in d to its receiver; returns the
    number refused."""
    failures = n = 0
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        if r["type"] == "console":
            continue
        n += 1
        headers = dict(h.split(": ", 1) for h in r["headers"])
        with RECEIVERS[r["type"]](allowed_links=set(r["links"])) as rx:
            url = rx.url() + ("?" + r["url_query"] if r.get("url_query") else "")
            if r["type"] == "ntfy":
                st, resp = post_raw_headers(rx.port, rx.default_path,
                                            r["body"].encode("utf-8"),
                                            dict(headers, **{"Content-Type":
                                                             r["content_type"]}))
            else:
                st, resp = post(url, r["body"], r["content_type"], headers)
            ok = 200 <= st < 300
            if not ok:
                failures += 1
            if verbose or not ok:
                reason = rx.rejected[-1].get("reason", "") if rx.rejected else ""
                print("%s %s -> %d %s" % ("ok  " if ok else "FAIL", os.path.basename(path),
                                          st, (reason or resp.decode("utf-8", "replace"))[:300]),
                      flush=True)
    if verbose:
        print("%d renderings posted, %d refused" % (n, failures))
    return failures


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--check-dir", metavar="DIR")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.check_dir:
        return 1 if check_dir(a.check_dir, a.verbose) else 0
    if a.self_test:
        return 1 if self_test(a.verbose) else 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
