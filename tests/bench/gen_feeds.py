#!/usr/bin/env python3
"""gen_feeds.py - synthetic news feeds for `make bench-parse`.

Writes N feeds of M items each into OUTDIR, cycling through RSS 2.0 (with
content:encoded and dc:creator), Atom 1.0 and RSS 1.0, with the sizes and
mix of markup real wire feeds have: a few hundred bytes of escaped HTML
per summary, CDATA content, categories, enclosures, RFC 822 and RFC 3339
dates.  Deterministic (seeded), so runs are comparable.

usage: gen_feeds.py OUTDIR [NFEEDS [NITEMS]]
"""
import os
import random
import sys

WORDS = ("treaty summit minister ceasefire election parliament sanctions missile "
         "talks border trade tariff embassy protest court ruling budget inflation "
         "storm earthquake refugees vaccine outbreak strike union merger shares "
         "oil gas pipeline satellite launch nuclear reactor drone coalition vote").split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def words(r, n):
    return " ".join(r.choice(WORDS) for _ in range(n))


def html_para(r):
    return "<p>%s <a href=\"/story/%d\">%s</a> &amp; %s.</p>" % (
        words(r, 12).capitalize(), r.randint(1, 10**6), words(r, 3), words(r, 20))


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rfc822(r):
    return "%s, %02d %s 2025 %02d:%02d:%02d +0000" % (
        r.choice(DAYS), r.randint(1, 28), r.choice(MONTHS), r.randint(0, 23),
        r.randint(0, 59), r.randint(0, 59))


def iso(r):
    return "2025-%02d-%02dT%02d:%02d:%02dZ" % (
        r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59),
        r.randint(0, 59))


def rss20(r, i, nitems):
    out = ['<?xml version="1.0" encoding="utf-8"?>\n'
           '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
           '<title>Wire %d</title>\n<link>https://news%d.example/</link>\n'
           '<description>%s</description>\n<language>en-us</language>\n'
           '<lastBuildDate>%s</lastBuildDate>\n' % (i, i, words(r, 8), rfc822(r))]
    for j in range(nitems):
        body = "".join(html_para(r) for _ in range(3))
        out.append(
            '<item>\n<title>%s</title>\n<link>https://news%d.example/%d/%d</link>\n'
            '<guid isPermaLink="false">urn:news%d:%d</guid>\n<pubDate>%s</pubDate>\n'
            '<dc:creator>%s</dc:creator>\n<category>%s</category><category>%s</category>\n'
            '<description>%s</description>\n'
            '<content:encoded><![CDATA[%s]]></content:encoded>\n'
            '<enclosure url="https://cdn.example/%d.jpg" type="image/jpeg" length="%d"/>\n'
            '</item>\n' % (esc(words(r, 9).capitalize()), i, i, j, i, j, rfc822(r),
                           words(r, 2).title(), r.choice(WORDS), r.choice(WORDS),
                           esc(html_para(r)), body, j, r.randint(1000, 10**6)))
    out.append('</channel>\n</rss>\n')
    return "".join(out)


def atom10(r, i, nitems):
    out = ['<?xml version="1.0" encoding="utf-8"?>\n'
           '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">\n'
           '<title>Wire %d</title>\n<id>tag:news%d.example,2025:feed</id>\n'
           '<link rel="alternate" href="https://news%d.example/"/>\n'
           '<link rel="self" href="https://news%d.example/atom"/>\n'
           '<updated>%s</updated>\n<subtitle>%s</subtitle>\n' % (
               i, i, i, i, iso(r), words(r, 8))]
    for j in range(nitems):
        body = "".join(html_para(r) for _ in range(3))
        out.append(
            '<entry>\n<title type="html">%s</title>\n<id>tag:news%d.example,2025:%d</id>\n'
            '<link rel="alternate" type="text/html" href="https://news%d.example/%d/%d"/>\n'
            '<published>%s</published>\n<updated>%s</updated>\n'
            '<author><name>%s</name><email>desk@news%d.example</email></author>\n'
            '<category term="%s"/><category term="%s"/>\n'
            '<summary type="html">%s</summary>\n<content type="html">%s</content>\n'
            '</entry>\n' % (esc(words(r, 9).capitalize()), i, j, i, i, j, iso(r), iso(r),
                            words(r, 2).title(), i, r.choice(WORDS), r.choice(WORDS),
                            esc(html_para(r)), esc(body)))
    out.append('</feed>\n')
    return "".join(out)


def rss10(r, i, nitems):
    out = ['<?xml version="1.0" encoding="utf-8"?>\n'
           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
           '<channel rdf:about="https://news%d.example/rss">\n<title>Wire %d</title>\n'
           '<link>https://news%d.example/</link>\n<description>%s</description>\n'
           '<dc:date>%s</dc:date>\n</channel>\n' % (i, i, i, words(r, 8), iso(r))]
    for j in range(nitems):
        out.append(
            '<item rdf:about="https://news%d.example/%d/%d">\n<title>%s</title>\n'
            '<link>https://news%d.example/%d/%d</link>\n<dc:date>%s</dc:date>\n'
            '<dc:creator>%s</dc:creator>\n<dc:subject>%s</dc:subject>\n'
            '<description>%s</description>\n'
            '<content:encoded>%s</content:encoded>\n</item>\n' % (
                i, i, j, esc(words(r, 9).capitalize()), i, i, j, iso(r),
                words(r, 2).title(), r.choice(WORDS), esc(html_para(r)),
                esc("".join(html_para(r) for _ in range(3)))))
    out.append('</rdf:RDF>\n')
    return "".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    nfeeds = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    nitems = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    os.makedirs(outdir, exist_ok=True)
    r = random.Random(20250714)
    gens = (rss20, atom10, rss10)
    for i in range(nfeeds):
        with open(os.path.join(outdir, "feed%04d.xml" % i), "w", encoding="utf-8") as f:
            f.write(gens[i % 3](r, i, nitems))


if __name__ == "__main__":
    main()
