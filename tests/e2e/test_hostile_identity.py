"""Issue 8 (hostile input), finding 8: item identity when a feed stamps one
guid on every item.  1,000 items sharing a guid and without links are 1,000
items (told apart by title + date), not one alert and 999 silently gone; the
feed's bad guids are logged once; a second run against the same Redis
alerts nothing (the keys are stable from run to run)."""
import email.utils
import re
import time
from xml.sax.saxutils import escape

from harness import check, run_daemon, scenario
from test_core import CONSOLE, Env

N = 1000
GUID = "https://cms.example/channel-guid"
QUERY = "@DPRK AND @Russia"


def stamped_guid_feed(n, pubdate):
    items = []
    for i in range(n):
        items.append(
            "<item><title>%s</title><guid isPermaLink=\"false\">%s</guid>"
            "<pubDate>%s</pubDate><description>%s</description></item>" % (
                escape(title(i)), escape(GUID), pubdate,
                escape("North Korea and Russia, dispatch %d of %d." % (i, n))))
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>"
            "<title>Stamped</title><link>https://cms.example/</link>"
            "<description>every item carries the channel's guid</description>\n%s\n"
            "</channel></rss>\n" % "\n".join(items)).encode()


def title(i):
    return "Dispatch %04d: Pyongyang and Moscow" % i


def share_guid_lines(stderr):
    return [l for l in stderr.splitlines() if re.search(r"share guid", l)]


@scenario("hostile", "identity")
def shared_guid_without_links(ctx):
    """1,000 items, one guid, no links, distinct titles: 1,000 alerts, the bad
    guid logged once; the second run alerts nothing."""
    # Dated now, so that no first-poll backfill window can swallow them.
    body = stamped_guid_feed(N, email.utils.formatdate(time.time(), usegmt=True))
    with Env(ctx) as e:
        e.http.routes["/stamped.xml"] = body
        conf = e.conf(feeds=[("stamped", e.http.url("/stamped.xml"))],
                      watchlists=[("both", QUERY, ["out"])], sinks=CONSOLE)
        r1 = run_daemon(ctx, conf, timeout=120)
        check(not r1.timed_out, "first run: --once did not finish in 120s")
        check(r1.rc == 0, "first run: exit status %s, want 0" % r1.rc)
        alerts = r1.alerts()
        titles = [a.get("title") for a in alerts]
        check(len(alerts) == N,
              "first run: %d alerts for %d items sharing one guid, want %d (%d distinct titles)"
              % (len(alerts), N, N, len(set(titles))))
        check(sorted(titles) == sorted(title(i) for i in range(N)),
              "first run: alert titles are not the %d item titles, once each" % N)
        check(all(a.get("watchlist") == "both" for a in alerts),
              "first run: alerts for another watchlist: %s"
              % sorted({str(a.get("watchlist")) for a in alerts}))
        lines = share_guid_lines(r1.stderr)
        check(len(lines) == 1,
              "first run: want exactly one log line saying the feed's items share guids, got %d: %s"
              % (len(lines), lines[:3]))
        check('feed "stamped"' in lines[0] and GUID in lines[0],
              "the bad-guid line should name the feed and the guid %s: %r" % (GUID, lines[0]))
        m = re.search(r"(\d+) items share guid", lines[0])
        check(m is None or int(m.group(1)) == N,
              "the bad-guid line counts %s items, want %d: %r" % (m and m.group(1), N, lines[0]))
        seen = e.redis.keys("ww:seen:*")
        check(len(seen) == N, "want %d ww:seen:* keys, one per item, got %d" % (N, len(seen)))

        r2 = run_daemon(ctx, conf, timeout=120)
        check(not r2.timed_out, "second run: --once did not finish in 120s")
        check(r2.rc == 0, "second run: exit status %s, want 0" % r2.rc)
        again = r2.alerts()
        check(again == [], "second run alerted %d item(s) again, e.g. %s"
              % (len(again), [a.get("title") for a in again[:3]]))
        check(len(share_guid_lines(r2.stderr)) <= 1,
              "second run: the bad-guid line was logged more than once")
        check(len(e.redis.keys("ww:seen:*")) == N, "second run changed the number of seen keys")
