"""Issue 12 (items 3, 5): bash completion of wirewatchctl against a running
daemon.

bash sources conf/wirewatchctl.bash-completion (the file `make install`
installs), `complete -p wirewatchctl` must name its function, and the
function is driven as bash drives it on <TAB> (COMP_WORDS, COMP_CWORD),
with the real build/wirewatchctl first in PATH and the real daemon on a
real redis-server behind -s: `watchlist remove <TAB>` offers the run-time
watchlists (a name with a space quoted) and not the config file's,
`watchlist show` both, `feed remove` the run-time feed, `--sinks` and
`--sink` the sink names; a removed watchlist is no longer offered; with
the daemon stopped the names are quietly nothing.
"""
import os
import subprocess

import harness
from harness import Env, Response, check, rss, scenario, stop_daemon
from test_control import ctl, run_dir, start

COMPLETION = os.path.join(harness.ROOT, "conf", "wirewatchctl.bash-completion")
BUILD = os.path.join(harness.ROOT, "build")

# Sources the completion, checks its registration, then runs it once on
# the words given as arguments (the last one is the word being
# completed), as bash does on <TAB>.  Prints one candidate a line.
DRIVER = r'''
. "$COMPLETION" || exit 90
complete -p wirewatchctl | grep -q -- '-F _wirewatchctl wirewatchctl$' || exit 91
COMP_WORDS=(wirewatchctl "$@")
COMP_CWORD=$#
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_wirewatchctl 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(*words):
    """The candidates bash would offer for the command line `wirewatchctl
    WORDS...` (the last word is the one completed)."""
    env = dict(os.environ, COMPLETION=COMPLETION,
               PATH=BUILD + os.pathsep + os.environ.get("PATH", ""))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "driver"] + list(words),
                       capture_output=True, text=True, env=env, timeout=30,
                       stdin=subprocess.DEVNULL)
    check(p.returncode == 0, "completion driver: rc %s (90: cannot source, 91: not "
          "registered): %s" % (p.returncode, p.stderr.strip()))
    return [w for w in p.stdout.split("\n") if w]


@scenario("control", "issue12", "completion")
def completion_names_from_daemon(ctx):
    """watchlist remove/show, feed remove, --sinks and --sink complete
    names from the running daemon; verbs and subverbs without it."""
    with Env(ctx) as e:
        e.http.routes["/f"] = lambda req: Response(200, rss([]),
                                                   {"Content-Type": "application/rss+xml"})
        sock = os.path.join(run_dir(ctx), "c.sock")
        d, _ = start(ctx, e, sock, feeds=[("cfgfeed", e.http.url("/f"))],
                     watchlists=[("cfgwl", "zzznothing", ["out"])],
                     sinks=[("out", {"type": "console"}), ("archive", {"type": "console"})])
        try:
            for args in (("watchlist", "add", "rt-ports", "port AND strike", "--sinks", "out"),
                         ("watchlist", "add", "rt two", "embargo", "--sinks", "archive"),
                         ("feed", "add", "rtfeed", e.http.url("/f"))):
                rc, out, err = ctl("-s", sock, *args)
                check(rc == 0, "%s: rc %s %r" % (" ".join(args), rc, err))

            got = complete("-s", sock, "watchlist", "remove", "")
            check(sorted(got) == ["rt-ports", "rt\\ two"],
                  "watchlist remove <TAB>: %r, want the two run-time watchlists "
                  "(not cfgwl), the space quoted" % got)
            got = complete("-s", sock, "watchlist", "remove", "rt-")
            check(got == ["rt-ports"], "watchlist remove rt-<TAB>: %r" % got)
            got = complete("-s", sock, "watchlist", "remove", "rt-ports", "")
            check(got == [], "a second name after watchlist remove NAME: %r" % got)
            got = complete("-s", sock, "watchlist", "show", "")
            check(sorted(got) == ["cfgwl", "rt-ports", "rt\\ two"],
                  "watchlist show <TAB>: %r" % got)
            got = complete("-s", sock, "feed", "remove", "")
            check(got == ["rtfeed"], "feed remove <TAB>: %r (cfgfeed is the config's)" % got)
            got = complete("-s", sock, "watchlist", "add", "x", "q", "--sinks", "")
            check(sorted(got) == ["archive", "out"], "--sinks <TAB>: %r" % got)
            got = complete("-s", sock, "watchlist", "add", "x", "q", "--sinks", "out,a")
            check(got == ["out,archive"], "--sinks out,a<TAB>: %r" % got)
            got = complete("-s", sock, "replay", "--failed", "--sink", "ar")
            check(got == ["archive"], "--sink ar<TAB>: %r" % got)

            # Verbs, subverbs, options: no daemon needed, but the same file.
            check(sorted(complete("re")) == ["reload", "replay"], "re<TAB>: %r" % complete("re"))
            check(complete("watchlist", "") == ["add", "remove", "show", "export", "test"],
                  "watchlist <TAB>: %r" % complete("watchlist", ""))
            check(complete("feed", "") == ["add", "remove"], "feed <TAB>")
            check(sorted(complete("watchlist", "add", "n", "q", "--")) ==
                  ["--backfill", "--help", "--json", "--replace", "--sinks", "--socket"],
                  "watchlist add --<TAB>: %r" % complete("watchlist", "add", "n", "q", "--"))
            check(complete("watchlist", "test", "q", "--si") == ["--since"], "--since")
            check(complete("feed", "add", "n", "u", "--i") == ["--interval"], "--interval")
            check(complete("stories", "--w") == ["--window"], "stories --window")

            # The name goes away with the watchlist.
            rc, _, err = ctl("-s", sock, "watchlist", "remove", "rt-ports")
            check(rc == 0, "remove: %r" % err)
            got = complete("-s", sock, "watchlist", "remove", "")
            check(got == ["rt\\ two"], "after remove, watchlist remove <TAB>: %r" % got)
        finally:
            stop_daemon(d)
        # No daemon: no names (and the driver still exits 0).
        got = complete("-s", sock, "watchlist", "remove", "")
        check(got == [], "no daemon: %r" % got)
        got = complete("-s", os.path.join(ctx.tmp, "nosuch.sock"), "feed", "remove", "")
        check(got == [], "no socket: %r" % got)



@scenario("control", "issue12", "cli")
def every_verb_answers_help(ctx):
    """`wirewatchctl help` lists the verbs; `VERB --help` (and for the
    daemon's verbs with a subverb, `VERB SUB --help`) prints that verb's
    usage on stdout and exits 0 for every one of them, with no daemon
    running; `-V` prints the version."""
    wctl = os.path.join(BUILD, "wirewatchctl")
    r = subprocess.run([wctl, "help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "help exit %s" % r.returncode)
    forms = [l.split("wirewatchctl", 1)[1].split() for l in r.stdout.splitlines()
             if l.startswith("       wirewatchctl ")]
    check(len(forms) >= 20, "help lists %d forms:\n%s" % (len(forms), r.stdout))
    seen = set()
    for words in forms:
        # drop leading option groups ([-s SOCKET], [-s SOCKET | -c CONF], [--json])
        while words and words[0].startswith("["):
            while not words[0].endswith("]"):
                words.pop(0)
            words.pop(0)
        verb = words[:2] if len(words) > 1 and words[0] in ("watchlist", "feed") else words[:1]
        if tuple(verb) in seen:
            continue
        seen.add(tuple(verb))
        h = subprocess.run([wctl] + verb + ["--help"], capture_output=True, text=True,
                           timeout=10, env=dict(os.environ, HOME=ctx.tmp))
        check(h.returncode == 0, "%s --help: exit %s: %s" % (" ".join(verb), h.returncode,
                                                             (h.stdout + h.stderr)[-300:]))
        check(h.stdout.startswith("usage: wirewatchctl") and verb[0] in h.stdout,
              "%s --help printed %r" % (" ".join(verb), h.stdout[:200]))
    check(len(seen) >= 18, "only %d verbs checked: %r" % (len(seen), sorted(seen)))
    v = subprocess.run([wctl, "-V"], capture_output=True, text=True, timeout=10)
    check(v.returncode == 0 and v.stdout.startswith("wirewatchctl "), "-V: %r" % v.stdout)
