"""Issue 9: the real daemon delivers into loopback receivers that enforce
each chat service's documented limits, required fields and escaping
(chat_receivers.py), and webhook signatures checked by the Standard
Webhooks reference implementation (npm "standardwebhooks", vendored)."""
import json
import os
import shutil
import subprocess
import time

import chat_receivers
import harness
from harness import check, run_daemon, scenario, seed
from test_hostile_redis import Env, rss

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_B = "whsec_c2Vjb25kLXNlY3JldC1rZXk="

HOSTILE = [
    ("h1", "sanctions " + "\u0416\u00e9\U0001F600a" * 2500),         # 10,000 characters
    ("h2", "sanctions <script>alert(1)</script> & co &amp; <b>bold</b>"),
    ("h3", "sanctions @everyone @here <!channel> <users/all> [x](http://evil.invalid)"),
    ("h4", "sanctions \u0627\u0644\u0639\u0642\u0648\u0628\u0627\u062a \u202eRTL override\u202c "
           "\U0001F1F0\U0001F1F5 \U0001F468\u200d\U0001F469\u200d\U0001F467"),
]
LINK = "https://news.example.org/story/1"


def hostile_feed():
    now = time.time()
    items = []
    for i, (guid, text) in enumerate(HOSTILE):
        esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        items.append((guid, esc[:300], now - i, esc))
    body = rss(items).decode()
    return body.replace("</title><pubDate>", "</title><link>%s</link><pubDate>" % LINK).encode()


@scenario("sinks", "webhook")
def every_chat_format_accepted(ctx):
    """The seed story and four hostile items (10,000 characters, <script>,
    @everyone, RTL/emoji) into all eight HTTP sink types: every message
    is accepted by a receiver that enforces that service's rules."""
    kinds = ["webhook", "slack", "discord", "mattermost", "teams", "google-chat",
             "telegram", "ntfy"]
    with Env(ctx) as e:
        e.http.routes["/seeds.rss"] = seed("seeds.rss")
        e.http.routes["/hostile.xml"] = hostile_feed()
        rxs = {}
        try:
            for k in kinds:
                rxs[k] = chat_receivers.RECEIVERS[k](
                    allowed_links={LINK, harness.QNA_ID, harness.DD_ID}).__enter__()
            sinks = []
            for k, rx in rxs.items():
                opts = {"type": k, "url": rx.url()}
                if k == "telegram":
                    opts["chat-id"] = "-1001234567890"
                sinks.append(("s-" + k, opts))
            conf = e.conf(feeds=[("seeds", e.http.url("/seeds.rss")),
                                 ("hostile", e.http.url("/hostile.xml"))],
                          watchlists=[("treaty", harness.Q_TREATY, [s for s, _ in sinks]),
                                      ("sanctions", "sanctions", [s for s, _ in sinks])],
                          sinks=sinks)
            r = run_daemon(ctx, conf, timeout=120)
            check(r.rc == 0, "--once exit %s" % r.rc)
            for k, rx in rxs.items():
                check(not rx.rejected, "%s refused %d: %s" % (
                    k, len(rx.rejected), [x.get("reason") for x in rx.rejected][:3]))
                check(len(rx.messages) == 5, "%s accepted %d messages, want 5 (1 seed + 4 hostile)"
                      % (k, len(rx.messages)))
            texts = " ".join(rxs["slack"].texts())
            check("Kim" in texts or "Korean" in texts, "the seed story is not in Slack's text")
        finally:
            for rx in rxs.values():
                rx.__exit__()


def verify(secret, headers, body):
    node = shutil.which("node") or shutil.which("nodejs")
    check(node is not None, "node is not installed (make deps installs Debian's nodejs)")
    p = subprocess.run([node, os.path.join(HERE, "verify_webhook.js")],
                       input=json.dumps({"secret": secret, "headers": headers,
                                         "body": body}).encode(),
                       capture_output=True, timeout=30)
    return p.stdout.decode().strip()


@scenario("sinks", "webhook", "signature")
def webhook_signatures_verified_by_reference(ctx):
    """Standard Webhooks headers on every delivery, verified by the reference
    implementation with either of two rotated secrets; a tampered body, a
    wrong secret and a stale timestamp are refused by it."""
    with Env(ctx, webhook=True) as e:
        e.http.routes["/seeds.rss"] = seed("seeds.rss")
        conf = e.conf(feeds=[("seeds", e.http.url("/seeds.rss"))],
                      watchlists=[("treaty", harness.Q_TREATY, ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/h"),
                                       "secret": SECRET_A})],
                      extra="secret = %s\n" % SECRET_B)
        r = run_daemon(ctx, conf)
        check(r.rc == 0, "--once exit %s" % r.rc)
        check(len(e.hook.posts) == 1, "%d POSTs, want 1" % len(e.hook.posts))
        p = e.hook.posts[0]
        h = {k: v for k, v in p["headers"].items() if k.startswith("webhook-")}
        body = p["body"].decode()
        check(set(h) == {"webhook-id", "webhook-timestamp", "webhook-signature"},
              "headers: %r" % sorted(h))
        check(len(h["webhook-signature"].split()) == 2, "two secrets, want two signatures: %r"
              % h["webhook-signature"])
        check(h["webhook-id"] == harness.alert_of(p)["alert_id"], "webhook-id is not the alert id")
        check(verify(SECRET_A, h, body) == "ok", "secret A: %s" % verify(SECRET_A, h, body))
        check(verify(SECRET_B, h, body) == "ok", "secret B: %s" % verify(SECRET_B, h, body))
        tampered = body.replace("treaty", "treatY", 1)
        check(verify(SECRET_A, h, tampered).startswith("fail"), "a tampered body verified")
        check(verify("whsec_d3Jvbmcta2V5LXdyb25nLWtleQ==", h, body).startswith("fail"),
              "a wrong secret verified")
        stale = dict(h, **{"webhook-timestamp": str(int(h["webhook-timestamp"]) - 3600)})
        check(verify(SECRET_A, stale, body).startswith("fail"), "a stale timestamp verified")
