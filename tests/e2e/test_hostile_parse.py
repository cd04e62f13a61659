"""Issue 8 scenarios (tag hostile): hostile feed text must never crash the
daemon or cost it items.

Findings 1 and 11: feeds whose items carry byte sequences UTF-8 forbids
(and character references / JSON escapes to no character) in every field,
and a feed nested deeper than the parser's limit.  The items are matched and
delivered to a console sink and a webhook sink; every alert must arrive on
both, as valid UTF-8, with the text around the bad bytes intact.
"""
import json
import os

from harness import (Daemon, FeedServer, Redis, Response, Webhook, check, config,
                     scenario, write)

FFFD = "\ufffd"

# (name, bytes in the document, what the alert shows in their place).  A whole
# sequence UTF-8 forbids becomes U+FFFD per byte; a byte on its own or a
# sequence cut short is read as windows-1252 (docs/feed-policy.md).
BAD_BYTES = [
    ("overlong C0 80", b"\xc0\x80", FFFD * 2),
    ("overlong E0 80 80", b"\xe0\x80\x80", FFFD * 3),
    ("overlong F0 80 80 80", b"\xf0\x80\x80\x80", FFFD * 4),
    ("surrogate ED A0 80", b"\xed\xa0\x80", FFFD * 3),
    ("past U+10FFFF F4 90 80 80", b"\xf4\x90\x80\x80", FFFD * 4),
    ("5-byte F8 88 80 80 80", b"\xf8\x88\x80\x80\x80", FFFD * 5),
    ("6-byte FC 84 80 80 80 80", b"\xfc\x84\x80\x80\x80\x80", FFFD * 6),
    ("byte F5", b"\xf5", "\u00f5"),
    ("byte FF", b"\xff", "\u00ff"),
    ("truncated E2 82", b"\xe2\x82", "\u00e2\u201a"),
    ("lone continuation 80", b"\x80", "\u20ac"),
    ("NUL", b"\x00", FFFD),
]
BAD_REFS = [
    ("&#0;", b"&#0;", FFFD),
    ("&#xD800;", b"&#xD800;", FFFD),
    ("&#x110000;", b"&#x110000;", FFFD),
]
BAD_ESCAPES = [
    ("\\u0000", b"\\u0000", FFFD),
    ("\\ud800", b"\\ud800", FFFD),
    ("\\udc00", b"\\udc00", FFFD),
]

QUERY = "sentinel"


def fill(n, bad):
    """The text of row n: the bad bytes between valid text, non-ASCII included."""
    return b"sentinel row%d pre\xc3\xa9" % n + bad + b" post"


def want(n, shown):
    return "sentinel row%d pre\u00e9%s post" % (n, shown)


def rss(rows, tag):
    items = []
    for n, (_, bad, _) in enumerate(rows):
        t = fill(n, bad)
        items.append(
            b"<item><title>" + t + b"</title><link>http://e.example/" + tag + b"/%d/" % n + bad +
            b"</link><description>" + t + b"</description><content:encoded>" + t +
            b"</content:encoded><guid isPermaLink='false'>" + tag + b"-%d-" % n + bad +
            b"</guid><author>" + t + b"</author><category>" + t + b"</category>"
            b"<pubDate>" + t + b"</pubDate><enclosure url='http://e.example/" + tag +
            b"/%d.mp3' type='" % n + t + b"' length='" + t + b"'/></item>")
    return (b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
            b"xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
            b"<title>hostile " + tag + b"</title><link>http://e.example/</link>" +
            b"".join(items) + b"</channel></rss>")


def atom(rows, tag):
    entries = []
    for n, (_, bad, _) in enumerate(rows):
        t = fill(n, bad)
        entries.append(
            b"<entry><id>" + tag + b"-%d-" % n + bad + b"</id><title>" + t + b"</title>"
            b"<link href='http://e.example/" + tag + b"/%d/" % n + bad + b"'/><summary>" + t +
            b"</summary><content type='html'>" + t + b"</content><updated>" + t +
            b"</updated><author><name>" + t + b"</name><email>" + t + b"</email></author>"
            b"<category term='" + t + b"'/></entry>")
    return (b"<feed xmlns='http://www.w3.org/2005/Atom'><title>hostile " + tag + b"</title>" +
            b"".join(entries) + b"</feed>")


def jsonfeed(rows, tag):
    items = []
    for n, (_, bad, _) in enumerate(rows):
        t = fill(n, bad)
        items.append(
            b'{"id": "' + tag + b"-%d-" % n + bad + b'", "url": "http://e.example/' + tag +
            b"/%d/" % n + bad + b'", "title": "' + t + b'", "summary": "' + t +
            b'", "content_html": "' + t + b'", "date_published": "' + t + b'", "tags": ["' +
            t + b'"], "authors": [{"name": "' + t + b'"}]}')
    return (b'{"version": "https://jsonfeed.org/version/1.1", "title": "hostile ' + tag +
            b'", "items": [' + b", ".join(items) + b"]}")


def strict_json_lines(raw, what):
    """Every line a JSON object, the bytes strictly UTF-8 (no replacement here)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as ex:
        check(False, "%s is not valid UTF-8: %s" % (what, ex))
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                check(False, "%s line is not JSON: %r" % (what, line[:200]))
    return out


class Env:
    def __init__(self, ctx):
        self.ctx = ctx
        self.redis = Redis(ctx.path("redis.sock"))
        self.http = FeedServer()
        self.hook = Webhook()

    def __enter__(self):
        try:
            self.redis.start()
            self.http.__enter__()
            self.hook.__enter__()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self.hook.thread.is_alive():
                self.hook.__exit__()
            if self.http.thread.is_alive():
                self.http.__exit__()
        finally:
            self.redis.stop()

    def run(self, feeds):
        """--once over feeds {name: path} to console + webhook; (rc, console alerts, posts)."""
        conf = write(self.ctx.path("wirewatch.conf"), config(
            redis=self.redis.url,
            feeds=[(name, self.http.url(path)) for name, path in sorted(feeds.items())],
            watchlists=[("hostile", QUERY, ["out", "hook"])],
            sinks=[("out", {"type": "console"}),
                   ("hook", {"type": "webhook", "url": self.hook.url("/hostile")})]))
        d = Daemon(self.ctx, conf).start()
        try:
            r = d.wait(60)
        finally:
            d.kill()
        check(not r.timed_out, "--once did not finish in 60s")
        check(r.rc == 0, "--once exit status %s, want 0; stderr:\n%s" % (r.rc, r.tail()))
        with open(d.out_path, "rb") as f:
            console = strict_json_lines(f.read(), "console sink output")
        for p in self.hook.posts:
            try:
                p["body"].decode("utf-8")
            except UnicodeDecodeError as ex:
                check(False, "webhook body is not valid UTF-8: %s" % ex)
            check(isinstance(p["json"], dict), "webhook body is not a JSON object: %r" % p["body"][:200])
        return r, console, self.hook.accepted()


@scenario("hostile", "parse", "webhook")
def hostile_utf8_every_field(ctx):
    """Invalid UTF-8 in every field of RSS, Atom and JSON Feed items: every item alerts on
    both sinks, the text around the bad bytes survives, U+FFFD where UTF-8 was broken."""
    feeds = {
        "rss": ("/hostile.rss", rss(BAD_BYTES + BAD_REFS, b"rss"),
                "application/rss+xml", BAD_BYTES + BAD_REFS),
        "atom": ("/hostile.atom", atom(BAD_BYTES + BAD_REFS, b"atom"),
                 "application/atom+xml", BAD_BYTES + BAD_REFS),
        "json": ("/hostile.json", jsonfeed(BAD_BYTES + BAD_ESCAPES, b"json"),
                 "application/feed+json", BAD_BYTES + BAD_ESCAPES),
    }
    with Env(ctx) as e:
        for name, (path, body, ctype, _) in feeds.items():
            e.http.routes[path] = Response(200, body, {"Content-Type": ctype})
        r, console, posts = e.run({name: f[0] for name, f in feeds.items()})
        for name, (path, _, _, _) in feeds.items():
            check(e.http.hits(path), "feed %s was not fetched" % name)
        for sink, alerts in (("console", console), ("webhook", posts)):
            got = {}
            for a in alerts:
                check(a.get("watchlist") == "hostile", "%s: alert for watchlist %r" % (sink, a.get("watchlist")))
                got.setdefault(a.get("feed"), []).append(a)
            for name, (_, _, _, rows) in feeds.items():
                titles = sorted(a.get("title") or "" for a in got.get(name, []))
                wanted = sorted(want(n, shown) for n, (_, _, shown) in enumerate(rows))
                missing = sorted(set(wanted) - set(titles))
                check(not missing, "%s sink, feed %s: %d of %d items did not alert (or were mangled), "
                      "e.g. %r; got titles %r" % (sink, name, len(missing), len(wanted),
                                                  missing[:3], titles[:3]))
                check(len(titles) == len(wanted), "%s sink, feed %s: %d alerts, want %d (one per item)"
                      % (sink, name, len(titles), len(wanted)))
                with_fffd = [a for a in got[name] if FFFD in (a.get("title") or "")]
                check(len(with_fffd) >= sum(FFFD in shown for _, _, shown in rows),
                      "%s sink, feed %s: alerts without U+FFFD where UTF-8 was broken" % (sink, name))
                for a in got[name]:
                    check(a.get("link") and a.get("item_id"), "%s sink, feed %s: alert without link or "
                          "item id: %r" % (sink, name, a))
        total = sum(len(f[3]) for f in feeds.values())
        check(len(console) == total and len(posts) == total,
              "console %d alerts, webhook %d, want %d each" % (len(console), len(posts), total))


@scenario("hostile", "parse")
def hostile_too_deep_keeps_items(ctx):
    """A feed nested past the parser's depth limit: the items before the limit alert (the
    document is not taken for a cut download), on every poll the same way."""
    body = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>deep</title>"
            b"<item><title>sentinel one</title><guid>urn:deep:1</guid></item>"
            b"<item><title>sentinel two</title><guid>urn:deep:2</guid></item>"
            b"<item><title>sentinel three</title><guid>urn:deep:3</guid><description>" +
            b"<x>" * 400 + b"y" + b"</x>" * 400 +
            b"</description></item><item><title>sentinel four</title><guid>urn:deep:4</guid>"
            b"</item></channel></rss>")
    with Env(ctx) as e:
        e.http.routes["/deep.rss"] = Response(200, body, {"Content-Type": "application/rss+xml"})
        r, console, posts = e.run({"deep": "/deep.rss"})
        for sink, alerts in (("console", console), ("webhook", posts)):
            titles = sorted(a.get("title") for a in alerts)
            check(titles == ["sentinel one", "sentinel two"],
                  "%s sink: alerts %r, want the two items before the depth limit" % (sink, titles))
        check("truncated" not in r.stderr, "the deep feed was logged as truncated:\n%s" % r.tail())
