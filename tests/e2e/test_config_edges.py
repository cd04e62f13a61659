"""Issue 8 ("hostile input"), findings 7, 9 and 11: the real wirewatchd -t
on configuration edges: long and continued lines, empty files, a directory,
NUL bytes, binary garbage, a missing or bad redis address, webhook tokens
in error messages, max-items and backfill, and 200,000 sections.  Issue 9:
the sink keys of the chat types: an unknown type, a retired Teams connector
URL, a bad signing secret, url-file under $CREDENTIALS_DIRECTORY, and
retry-schedule.

Each scenario checks the exit status and the FILE:LINE (or FILE:) the user
is pointed at.  None needs Redis or a feed server: -t reads and validates.
"""
import os
import random
import subprocess
import time

from harness import DAEMON, ROOT, check, config, run_daemon, scenario, write

CTL = os.environ.get("WIREWATCHCTL") or os.path.join(ROOT, "build", "wirewatchctl")
REDIS = "127.0.0.1:6379"
CONSOLE = [("out", {"type": "console"})]
TOKEN = "XyZ9SECRETtoken4711abcdef"


def _conf(ctx, text, name="wirewatch.conf"):
    return write(ctx.path(name), text)


def _ok(ctx, path):
    r = run_daemon(ctx, path, ["-t"], timeout=30)
    check(r.rc == 0, "-t refused a valid config: rc %s: %s" % (r.rc, r.stderr[-400:]))
    return r


def _refused(ctx, path, line, needle, start=False):
    """-t (and, with start, a real start) exits non-zero with
    "PATH:LINE: ...needle" on stderr ("PATH: ...needle" when line is None)."""
    runs = [run_daemon(ctx, path, ["-t"], timeout=30)]
    if start:
        runs.append(run_daemon(ctx, path, [], timeout=10))
    loc = "%s:%d: " % (path, line) if line is not None else "%s: " % path
    for r in runs:
        what = " ".join(r.args[3:]) or "a start"
        check(not r.timed_out, "%s: still running with a bad config" % what)
        check(r.rc not in (0, None), "%s exited 0 on a bad config" % what)
        err = r.stderr.strip()
        check(err.startswith(loc) and needle in err,
              "%s: want stderr '%s...%s', got %r" % (what, loc, needle, err[-400:]))
    return runs[0]


def _line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    raise AssertionError(needle)


# ------------------------------------------------------------ long lines

@scenario("config", "hostile")
def config_long_query_and_url_lines(ctx):
    """A 4,000-character query and a 600-character URL on one line each
    (libinih as Debian builds it refused lines over 198 characters)."""
    query = "@DPRK AND (%s)" % " OR ".join('"term number %d"' % i for i in range(200))
    url = "https://example.org/" + "segment/" * 70 + "rss.xml?x=1"
    check(len(query) > 4000 and len(url) > 550, "test inputs too short")
    text = config(redis=REDIS, feeds=[("long", url)],
                  watchlists=[("long", query, ["out"])], sinks=CONSOLE)
    _ok(ctx, _conf(ctx, text))


@scenario("config", "hostile")
def config_continued_query(ctx):
    """A query over several indented lines (with a comment line inside) is
    one query; an error in it names the line it is on."""
    head = config(redis=REDIS, sinks=CONSOLE)
    good = head + ('[watchlist "w"]\nquery = @DPRK AND @Russia AND\n'
                   '    ; the words that make it news\n'
                   '    (treaty OR pact OR\n'
                   '     "mutual defense")\n'
                   'sinks = out\n')
    _ok(ctx, _conf(ctx, good))
    bad = good.replace('     "mutual defense")', '     "mutual defense"')
    _refused(ctx, _conf(ctx, bad, "bad.conf"), _line_of(bad, '"mutual defense"'),
             "query: column ")


@scenario("config", "hostile")
def config_split_url_refused(ctx):
    """A URL continued on an indented line is refused at that line, and the
    message says that only query and sinks span lines."""
    text = config(redis=REDIS, sinks=CONSOLE) + (
        '[feed "f"]\nurl = https://example.org/feeds/\n    world/rss.xml\n')
    _refused(ctx, _conf(ctx, text), _line_of(text, "world/rss.xml"),
             "only 'query' and 'sinks' can span lines")


# ------------------------------------------------------------ hostile files

@scenario("config", "hostile")
def config_empty_file(ctx):
    _refused(ctx, _conf(ctx, ""), None, "empty configuration")
    _refused(ctx, _conf(ctx, "; nothing but a comment\n\n", "c.conf"), None,
             "empty configuration")


@scenario("config", "hostile")
def config_directory(ctx):
    d = ctx.path("etc")
    os.mkdir(d)
    _refused(ctx, d, None, "is a directory")


@scenario("config", "hostile")
def config_nul_byte(ctx):
    """A NUL byte used to cut its line silently (here: the prefix)."""
    text = config(redis=REDIS, daemon={"prefix": "ww\0evil:"})
    _refused(ctx, _conf(ctx, text.encode()), _line_of(text, "prefix"), "NUL byte")


@scenario("config", "hostile")
def config_binary_garbage(ctx):
    """Binary files of several kinds: every error names a line."""
    rnd = random.Random(8)
    blobs = {
        "elf": b"\x7fELF\x02\x01\x01" + bytes(rnd.randrange(256) for _ in range(400)),
        "random": bytes(rnd.randrange(256) for _ in range(4096)),
        "latin1": b"[daemon]\nredis = 127.0.0.1:6379\n; Gr\xfc\xdfe\n",
        "high": bytes(rnd.randrange(128, 256) for _ in range(300)),
    }
    for name, blob in blobs.items():
        path = _conf(ctx, blob, name + ".conf")
        r = run_daemon(ctx, path, ["-t"], timeout=30)
        check(r.rc != 0, "%s: -t exited 0" % name)
        check(r.stderr.startswith(path + ":") and
              r.stderr[len(path) + 1:].split(":")[0].isdigit(),
              "%s: error names no line: %r" % (name, r.stderr[-300:]))


# ------------------------------------------------------------ redis

@scenario("config", "hostile")
def config_missing_redis(ctx):
    text = config(feeds=[("f", "http://127.0.0.1:9/rss")])   # no redis key
    _refused(ctx, _conf(ctx, text), _line_of(text, "[daemon]"), "[daemon] has no 'redis'",
             start=True)
    text = '[feed "f"]\nurl = http://127.0.0.1:9/rss\n'
    _refused(ctx, _conf(ctx, text, "nodaemon.conf"), None, "no [daemon] section")


@scenario("config", "hostile")
def config_bad_redis_address(ctx):
    """-t used to accept what the store then refused (or could never reach)."""
    for i, (addr, needle) in enumerate([
            ("127.0.0.1:99999", "the port must be 1 to 65535"),
            ("localhost:0", "the port must be 1 to 65535"),
            ("redis://localhost", "not a URL"),
            ("redis://:hunter2@localhost:6379", "not a URL")]):
        text = config(redis=addr)
        r = _refused(ctx, _conf(ctx, text, "r%d.conf" % i), _line_of(text, "redis ="),
                     needle, start=(i == 0))
        check("hunter2" not in r.stderr, "redis password printed: %r" % r.stderr)


# ------------------------------------------------------------ finding 7

@scenario("config", "hostile")
def config_webhook_token_masked(ctx):
    """An invalid webhook URL is refused without printing its token."""
    for i, url in enumerate([
            "hooks.example.org/services/T0000/B0000/" + TOKEN,
            "ftp://bot:%s@hooks.example.org/hook" % TOKEN,
            "htps://hooks.example.org/hook?token=" + TOKEN]):
        text = config(redis=REDIS, sinks=[("hook", {"type": "webhook", "url": url})])
        path = _conf(ctx, text, "w%d.conf" % i)
        r = _refused(ctx, path, _line_of(text, "url ="), "must be http:// or https://")
        for out in (r.stderr, r.stdout):
            check(TOKEN not in out, "webhook token printed: %r" % out[-300:])
        res = subprocess.run([CTL, "check", "-c", path], capture_output=True, text=True,
                             timeout=30)
        check(res.returncode != 0 and TOKEN not in res.stderr + res.stdout,
              "wirewatchctl check: rc %d, %r" % (res.returncode, res.stderr[-300:]))


# ------------------------------------------------------------ new keys

@scenario("config", "hostile")
def config_max_items_and_backfill(ctx):
    text = config(redis=REDIS, daemon={"max-items": "500", "backfill": "12h"},
                  feeds=[("a", "http://127.0.0.1:9/a", {"max-items": "10", "backfill": "all"}),
                         ("b", "http://127.0.0.1:9/b", {"backfill": "none"}),
                         ("c", "http://127.0.0.1:9/c", {"backfill": "90m"})])
    _ok(ctx, _conf(ctx, text))
    for i, (key, value, needle) in enumerate([
            ("max-items", "0", "bad value '0' for 'max-items' (1 to 10000000)"),
            ("max-items", "10000001", "bad value '10000001' for 'max-items'"),
            ("backfill", "sometimes", "bad value 'sometimes' for 'backfill'")]):
        bad = config(redis=REDIS, daemon={"backfill": None},
                     feeds=[("a", "http://127.0.0.1:9/a", {key: value})])
        _refused(ctx, _conf(ctx, bad, "k%d.conf" % i), _line_of(bad, key + " ="), needle)


# ------------------------------------------------------------ issue 11

@scenario("config", "hostile", "slow")
def config_200k_sections_fast(ctx):
    """100,000 feeds and 100,000 watchlists: duplicate-name checks were
    quadratic (51 s; run_daemon's 30 s timeout catches a relapse); now
    linear.  The time is printed with -v, not asserted."""
    parts = [config(redis=REDIS, sinks=CONSOLE)]
    for i in range(100000):
        parts.append('[feed "feed-%06d"]\nurl = https://example%d.org/rss.xml\n' % (i, i))
    for i in range(100000):
        parts.append('[watchlist "wl-%06d"]\nquery = @DPRK AND (treaty OR pact)\n'
                     'sinks = out\n' % i)
    path = _conf(ctx, "".join(parts))
    t0 = time.monotonic()
    r = run_daemon(ctx, path, ["-t"], timeout=30)
    dt = time.monotonic() - t0
    check(r.rc == 0, "-t: rc %s%s: %s" % (r.rc, " (timed out)" if r.timed_out else "",
                                           r.stderr[-300:]))
    check("100000 feeds, 100000 watchlists" in r.stdout, "-t output: %r" % r.stdout)
    ctx.log("-t took %.2fs for 200,000 sections (was 51 s when quadratic)" % dt)
    dup = _conf(ctx, "".join(parts) + '[feed "feed-000000"]\n', "dup.conf")
    _refused(ctx, dup, sum(p.count("\n") for p in parts) + 1,
             'duplicate section [feed "feed-000000"] (first on line ')


# ------------------------------------------------------------ issue 9: sinks

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TYPES = ("console, webhook, slack, discord, mattermost, teams, google-chat, "
         "telegram or ntfy")


def _sink_conf(opts, extra=""):
    return config(redis=REDIS, sinks=[("chat", opts)],
                  watchlists=[("w", "@DPRK AND treaty", ["chat"])]) + extra


def _secret_file(path, text, mode=0o600):
    write(path, text)
    os.chmod(path, mode)
    return path


def _t(path, env=None):
    """wirewatchd -t with env added to (or, for None values, removed from)
    the environment."""
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([DAEMON, "-c", path, "-t"], capture_output=True, text=True,
                          timeout=30, env=e)


@scenario("config", "sinks")
def config_unknown_sink_type(ctx):
    """An unknown type is refused at its line, with the valid ones listed;
    each valid one (with what it needs) passes."""
    text = _sink_conf({"type": "pager", "url": "https://pager.example.org/x"})
    _refused(ctx, _conf(ctx, text), _line_of(text, "type ="),
             "sink \"chat\": unknown type 'pager' (%s)" % TYPES, start=True)
    text = _sink_conf({"url": "https://hooks.example.org/x"})
    _refused(ctx, _conf(ctx, text, "notype.conf"), _line_of(text, '[sink "chat"]'),
             "sink \"chat\": missing 'type' (%s)" % TYPES)
    for i, opts in enumerate([
            {"type": "console"},
            {"type": "webhook", "url": "https://hooks.example.org/x"},
            {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/x"},
            {"type": "discord", "url": "https://discord.com/api/webhooks/1/x"},
            {"type": "mattermost", "url": "https://mm.example.org/hooks/x"},
            {"type": "teams", "url": "https://prod-01.westeurope.logic.azure.com:443/"
                                     "workflows/1/triggers/manual/paths/invoke?sig=x"},
            {"type": "google-chat", "url": "https://chat.googleapis.com/v1/spaces/A/"
                                           "messages?key=k&token=t"},
            {"type": "telegram", "url": "https://api.telegram.org/bot1:x/sendMessage",
             "chat-id": "-1001234567890"},
            {"type": "ntfy", "url": "https://ntfy.sh/wirewatch", "header":
             "Authorization: Bearer tk_x"}]):
        _ok(ctx, _conf(ctx, _sink_conf(opts), "t%d.conf" % i))
    text = _sink_conf({"type": "telegram", "url": "https://api.telegram.org/bot1:x/"
                       "sendMessage"})
    _refused(ctx, _conf(ctx, text, "tg.conf"), _line_of(text, '[sink "chat"]'),
             "type telegram needs 'chat-id'")


@scenario("config", "sinks", "secrets")
def config_teams_connector_refused(ctx):
    """A retired Office 365 connector URL is refused for type teams, its
    token not printed; the message says what to use instead."""
    for i, url in enumerate([
            "https://contoso.webhook.office.com/webhookb2/1@2/IncomingWebhook/%s/3" % TOKEN,
            "https://outlook.office.com/webhook/1@2/IncomingWebhook/%s/3" % TOKEN]):
        text = _sink_conf({"type": "teams", "url": url})
        path = _conf(ctx, text, "c%d.conf" % i)
        r = _refused(ctx, path, _line_of(text, "url ="),
                     "is an Office 365 connector URL, and Microsoft has retired those: "
                     "in Teams, create a Workflows webhook", start=(i == 0))
        check(TOKEN not in r.stderr + r.stdout, "token printed: %r" % r.stderr)
        res = subprocess.run([CTL, "check", "-c", path], capture_output=True, text=True,
                             timeout=30)
        check(res.returncode != 0 and "Office 365 connector" in res.stderr and
              TOKEN not in res.stderr, "wirewatchctl check: rc %d, %r" %
              (res.returncode, res.stderr[-300:]))


@scenario("config", "sinks", "secrets")
def config_bad_secret(ctx):
    """A secret that is not whsec_ + base64 is refused at its line and
    never printed; so is a secret on a type that signs nothing; two good
    secrets (a rotation) pass."""
    bad = "whsec_%s!!" % TOKEN
    text = _sink_conf({"type": "webhook", "url": "https://hooks.example.org/x",
                       "secret": bad})
    r = _refused(ctx, _conf(ctx, text), _line_of(text, "secret ="),
                 "sink \"chat\": secret: a secret is \"whsec_\" followed by base64",
                 start=True)
    check(TOKEN not in r.stderr + r.stdout, "secret printed: %r" % r.stderr)
    text = _sink_conf({"type": "slack", "url": "https://hooks.slack.com/services/x",
                       "secret": SECRET})
    _refused(ctx, _conf(ctx, text, "slack.conf"), _line_of(text, "secret ="),
             "type slack is not signed")
    text = _sink_conf({"type": "webhook", "url": "https://hooks.example.org/x",
                       "secret": SECRET}, extra="secret = whsec_dHdv\n")
    _ok(ctx, _conf(ctx, text, "two.conf"))
    sf = _secret_file(ctx.path("hook.secrets"), "%s\nwhsec_%s\n" % (SECRET, TOKEN))
    text = _sink_conf({"type": "webhook", "url": "https://hooks.example.org/x",
                       "secret-file": sf})
    r = _refused(ctx, _conf(ctx, text, "file.conf"), _line_of(text, "secret-file ="),
                 "sink \"chat\": secret-file %s: line 2: a secret is" % sf)
    check(TOKEN not in r.stderr, "secret printed: %r" % r.stderr)


@scenario("config", "sinks", "secrets")
def config_url_file_credentials_directory(ctx):
    """url-file: a relative name is looked up in $CREDENTIALS_DIRECTORY
    (systemd's LoadCredential=) when that is set, else next to the config;
    a file other users can read is refused."""
    creds = ctx.path("credentials")
    os.mkdir(creds, 0o700)
    _secret_file(os.path.join(creds, "slack.url"),
                 "https://hooks.slack.com/services/T0/B0/%s\n" % TOKEN, 0o400)
    # Next to the config: the wrong file, to tell which one was read.
    _secret_file(ctx.path("slack.url"), "hooks.slack.com/services/T0/B0/%s\n" % TOKEN)
    text = _sink_conf({"type": "slack", "url-file": "slack.url"})
    path = _conf(ctx, text)
    r = _t(path, {"CREDENTIALS_DIRECTORY": creds})
    check(r.returncode == 0, "-t with $CREDENTIALS_DIRECTORY: rc %d: %r" %
          (r.returncode, r.stderr[-300:]))
    r = _t(path, {"CREDENTIALS_DIRECTORY": None})
    line = _line_of(text, "url-file =")
    want = "%s:%d: sink \"chat\": url 'hooks.slack.com/***' (from %s) must be http" % (
        path, line, ctx.path("slack.url"))
    check(r.returncode != 0 and r.stderr.startswith(want),
          "-t without $CREDENTIALS_DIRECTORY: want %r, got %r" % (want, r.stderr[-300:]))
    check(TOKEN not in r.stderr, "token printed: %r" % r.stderr)
    # Missing in the credentials directory: no fallback, and it says where it looked.
    r = _t(_conf(ctx, _sink_conf({"type": "slack", "url-file": "other.url"}), "o.conf"),
           {"CREDENTIALS_DIRECTORY": creds})
    check(r.returncode != 0 and "url-file %s/other.url: No such file" % creds in r.stderr,
          "missing credential: %r" % r.stderr[-300:])
    # Readable by every user: refused, with its mode.
    os.chmod(os.path.join(creds, "slack.url"), 0o644)
    r = _t(path, {"CREDENTIALS_DIRECTORY": creds})
    check(r.returncode != 0 and r.stderr.startswith("%s:%d: " % (path, line)) and
          "readable by every user (mode 0644)" in r.stderr, "mode 0644: %r" % r.stderr)


@scenario("config", "sinks")
def config_retry_schedule(ctx):
    """retry-schedule: space-separated durations starting at 0, each at
    most 7d; not together with retries/retry-delay."""
    for i, sched in enumerate(["0 5s 5m 30m 2h 5h 10h 14h 20h 24h", "0 200ms 1s",
                               "0", "0\t1s  7d"]):
        _ok(ctx, _conf(ctx, _sink_conf({"type": "webhook", "url": "https://x.example/h",
                                        "retry-schedule": sched}), "ok%d.conf" % i))
    for i, (sched, needle) in enumerate([
            ("5s 5m", "'retry-schedule' starts with '5s', but its first entry is the "
                      "first attempt, made at once: 0"),
            ("0 1h 8d", "'8d' in 'retry-schedule' is longer than 7d"),
            ("0 soon", "bad duration 'soon' in 'retry-schedule'"),
            ("0, 5s", "bad duration '0,' in 'retry-schedule'")]):
        text = _sink_conf({"type": "webhook", "url": "https://x.example/h",
                           "retry-schedule": sched})
        _refused(ctx, _conf(ctx, text, "bad%d.conf" % i), _line_of(text, "retry-schedule"),
                 "sink \"chat\": " + needle, start=(i == 0))
    text = _sink_conf({"type": "webhook", "url": "https://x.example/h",
                       "retry-schedule": "0 1s", "retries": "3"})
    _refused(ctx, _conf(ctx, text, "both.conf"), _line_of(text, "retries ="),
             "sink \"chat\": 'retries' and 'retry-schedule' (line %d) both given" %
             _line_of(text, "retry-schedule"))
    # The old keys alone still work.
    _ok(ctx, _conf(ctx, _sink_conf({"type": "webhook", "url": "https://x.example/h",
                                    "retries": "3", "retry-delay": "1s"}), "old.conf"))
