/*
 * test_match.c - the matcher: the seed articles, fields, NEAR edge cases,
 * multilingual aliases and exclusions, wildcards, case and regex terms,
 * explanations, a property test against a naive evaluator, and bench-match's
 * 100,000 watchlists against a brute-force evaluation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "wirewatch/match.h"
#include "wirewatch/util.h"

static struct entity_set *ents;

/* Number of watchlists of one query that match the document. */
static int
hits_doc(const char *q, const struct match_doc *d)
{
	struct matcher *m = matcher_new(ents);
	struct match_result r = {0};
	char err[WW_ERRLEN];
	int n;

	if (matcher_add(m, "w", q, err, sizeof err) < 0)
		fail_msg("query %s: %s", q, err);
	n = (int)matcher_run(m, d, &r);
	match_result_free(&r);
	matcher_free(m);
	return n;
}

static int
hits(const char *q, const char *content)
{
	struct match_doc d = { .content = content };

	return hits_doc(q, &d);
}

static char *
seed(const char *name)
{
	const char *dir = getenv("WW_SHARED") ? getenv("WW_SHARED") : "../shared";
	char *path = xasprintf("%s/fixtures/seeds/%s", dir, name), err[WW_ERRLEN], *s;
	size_t len;

	s = util_read_file(path, &len, err, sizeof err);
	if (s == NULL)
		fail_msg("%s (set WW_SHARED)", err);
	free(path);
	return s;
}

static void
test_seed_articles(void **state)
{
	char *qna = seed("qna-2025-07-13-kim-lavrov.txt");
	char *dd = seed("devdiscourse-2025-07-13-kim-lavrov.txt");

	(void)state;
	assert_int_equal(hits("@DPRK AND @Russia AND treaty", qna), 1);
	assert_int_equal(hits("@DPRK AND @Russia AND treaty", dd), 0);
	assert_int_equal(hits("@DPRK AND @Russia AND Ukraine", qna), 1);
	assert_int_equal(hits("@DPRK AND @Russia AND Ukraine", dd), 1);
	assert_int_equal(hits("\"north korea\" NEAR/0 russia", qna), 1);   /* Korea-Russia */
	assert_int_equal(hits("@DPRK NEAR/3 treaty", qna), 1);
	assert_int_equal(hits("unconditionalsupport", qna), 1);            /* glued word */
	assert_int_equal(hits("\"Russia's actions\"", qna), 1);            /* curly ’ */
	assert_int_equal(hits("\"Russia's stand\"", dd), 1);               /* straight ' */
	assert_int_equal(hits("\"Kim Jong Un\" AND Pyongyang", dd), 1);    /* NBSP text */
	free(qna);
	free(dd);
}

static void
test_near_edges(void **state)
{
	const char *t = "North Korea-Russia mutual defense treaty";

	(void)state;
	assert_int_equal(hits("@DPRK NEAR/3 treaty", t), 1);
	assert_int_equal(hits("@DPRK NEAR/2 treaty", t), 0);
	assert_int_equal(hits("treaty NEAR/3 @DPRK", t), 1);                 /* either order */
	assert_int_equal(hits("korea NEAR/0 russia", t), 1);                 /* adjacent */
	assert_int_equal(hits("\"north korea\" NEAR/0 korea", t), 1);        /* overlap */
	assert_int_equal(hits("treaty NEAR/1 treaty", "treaty text treaty"), 1);
	assert_int_equal(hits("treaty NEAR/0 treaty", "treaty text treaty"), 0);
	assert_int_equal(hits("treaty NEAR/5 treaty", "one treaty only"), 0);     /* needs two */
	assert_int_equal(hits("treaty NEAR/0 pact", "treaty x pact"), 0);
	assert_int_equal(hits("(pact OR treaty) NEAR/1 defense", t), 1);
	/* both in the document, but in different fields: not near */
	{
		struct match_doc d = { .title = "treaty", .content = "Pyongyang" };
		assert_int_equal(hits_doc("treaty NEAR/5 @DPRK", &d), 0);
		assert_int_equal(hits_doc("treaty AND @DPRK", &d), 1);
	}
}

static void
test_fields(void **state)
{
	struct match_doc d = { .title = "Treaty signed", .summary = "<p>A summary</p>",
		.content = "Body text", .author = "Jane Desk", .category = "Asia\nDiplomacy",
		.feed = "qna" };

	(void)state;
	assert_int_equal(hits_doc("title:treaty", &d), 1);
	assert_int_equal(hits_doc("content:treaty", &d), 0);
	assert_int_equal(hits_doc("summary:summary", &d), 1);
	assert_int_equal(hits_doc("author:jane", &d), 1);
	assert_int_equal(hits_doc("jane", &d), 0);            /* default: title+summary+content */
	assert_int_equal(hits_doc("category:diplomacy", &d), 1);
	assert_int_equal(hits_doc("feed:qna", &d), 1);
	assert_int_equal(hits_doc("title:(body OR signed)", &d), 1);
}

static void
test_entities_multilingual(void **state)
{
	(void)state;
	assert_int_equal(hits("@DPRK", "Delegation arrives in Pyongyang"), 1);
	assert_int_equal(hits("@DPRK", "South Korea and Japan hold talks"), 0);
	assert_int_equal(hits("@DPRK", "Korea wins the match"), 0);
	assert_int_equal(hits("@DPRK", "South Korea warns North Korea"), 1);
	assert_int_equal(hits("@DPRK", "\xd0\x9a\xd0\x9d\xd0\x94\xd0\xa0 \xd0\xb8 \xd0\xa0\xd0\xbe\xd1\x81\xd1\x81\xd0\xb8\xd1\x8f"), 1);
	assert_int_equal(hits("@DPRK", "\xeb\xb6\x81\xed\x95\x9c\xec\x9d\x98 \xeb\xb0\x9c\xed\x91\x9c"), 1);   /* 북한의 발표 */
	assert_int_equal(hits("@DPRK", "\xec\xa1\xb0\xec\x84\xa0\xeb\xaf\xbc\xec\xa3\xbc\xec\xa3\xbc\xec\x9d\x98\xec\x9d\xb8\xeb\xaf\xbc\xea\xb3\xb5\xed\x99\x94\xea\xb5\xad\xec\x9d\x80"), 1); /* 조선민주주의인민공화국은 */
	assert_int_equal(hits("@DPRK", "\xe6\x9c\x9d\xe9\xb2\x9c\xe5\xae\x98\xe5\xaa\x92"), 1);  /* 朝鲜官媒 */
	assert_int_equal(hits("@Russia", "\xd0\x9a\xd1\x80\xd0\xb5\xd0\xbc\xd0\xbb\xd1\x8c \xd0\xb7\xd0\xb0\xd1\x8f\xd0\xb2\xd0\xb8\xd0\xbb"), 1); /* Кремль заявил */
	/* case-sensitive alias: KCNA, not kcna */
	assert_int_equal(hits("@DPRK", "said KCNA"), 1);
	assert_int_equal(hits("@DPRK", "said kcna"), 0);
}

/* The shipped gazetteer beyond the seeds: exclusions and native scripts. */
static void
test_world_entities(void **state)
{
	(void)state;
	assert_int_equal(hits("@DPRK", "조선일보 보도"), 0);          /* Chosun Ilbo is South Korean */
	assert_int_equal(hits("@DPRK", "朝鲜半岛局势"), 0);           /* the peninsula */
	assert_int_equal(hits("@DPRK", "朝鲜半岛和朝鲜"), 1);
	assert_int_equal(hits("@DPRK", "встреча в Северной Корее"), 1);
	assert_int_equal(hits("@Russia", "встреча с Путиным"), 1);
	assert_int_equal(hits("@SouthKorea", "Democratic People's Republic of Korea"), 0);
	assert_int_equal(hits("@SouthKorea", "the Republic of Korea"), 1);
	assert_int_equal(hits("@SouthKorea", "북한 발표"), 0);
	assert_int_equal(hits("@SouthKorea", "대한민국 정부"), 1);
	assert_int_equal(hits("@USA", "Latin American leaders"), 0);
	assert_int_equal(hits("@USA", "American officials"), 1);
	assert_int_equal(hits("@USA", "the U.S. said"), 1);
	assert_int_equal(hits("@USA", "talk to us"), 0);
	assert_int_equal(hits("@Ukraine", "Київ заявив"), 1);
	assert_int_equal(hits("@Ukraine", "Chicken Kiev recipe"), 0);
	assert_int_equal(hits("@China", "中華人民共和國成立"), 1);
	assert_int_equal(hits("@China", "Chinese Taipei team"), 0);
	assert_int_equal(hits("@Iran", "ایران گفت"), 1);
	assert_int_equal(hits("@Japan", "日本政府"), 1);
	assert_int_equal(hits("@Japan AND @China", "東京と北京"), 1);
	assert_int_equal(hits("@China", "the Republic of China on Taiwan"), 0);
	assert_int_equal(hits("@China", "the People's Republic of China"), 1);
	assert_int_equal(hits("@Taiwan", "the People's Republic of China"), 0);
	assert_int_equal(hits("@Taiwan", "中華民國外交部"), 1);
	assert_int_equal(hits("@UK", "Vancouver, British Columbia"), 0);
	assert_int_equal(hits("@UK", "British troops"), 1);
	assert_int_equal(hits("@France", "French fries and Paris Hilton"), 0);
	assert_int_equal(hits("@France", "talks in Paris"), 1);
	assert_int_equal(hits("@India", "the Indian Ocean"), 0);
	assert_int_equal(hits("@India", "नई दिल्ली में बैठक"), 1);
	assert_int_equal(hits("@Israel", "Knesset vote"), 1);
	assert_int_equal(hits("@Israel", "بيان إسرائيل"), 1);
	assert_int_equal(hits("@Germany", "Bundeswehr Einsatz"), 1);
	assert_int_equal(hits("@Germany", "a case of German measles"), 0);
}

/* entity_set_load: "FILE:LINE: message" for every kind of mistake. */
static void
assert_entity_error(const char *conf, const char *want)
{
	char dir[] = "/tmp/ww-entities-XXXXXX", err[WW_ERRLEN], *path;
	struct entity_set *set;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/x.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(conf, f);
	fclose(f);
	set = entity_set_load(dir, err, sizeof err);
	unlink(path);
	rmdir(dir);
	free(path);
	if (want == NULL) {
		if (set == NULL)
			fail_msg("%s: unexpected error %s", conf, err);
		entity_set_free(set);
		return;
	}
	if (set != NULL || strstr(err, want) == NULL || strstr(err, "/x.conf:") == NULL)
		fail_msg("%s: want error '%s', got %s", conf, want, set ? "none" : err);
}

/* conf/entities/world.conf: the other states, ambiguous names case-sensitive. */
static void
test_gazetteer_other_states(void **state)
{
	(void)state;
	assert_int_equal(hits("@Egypt", "Talks in Cairo resumed"), 1);
	assert_int_equal(hits("@Jordan", "Jordan said in a statement"), 1);
	assert_int_equal(hits("@Jordan", "Michael Jordan scored 40"), 0);
	assert_int_equal(hits("@Jordan", "jordan almonds"), 0);
	assert_int_equal(hits("@Turkey", "Turkey and Greece"), 1);
	assert_int_equal(hits("@Turkey", "a roast turkey"), 0);
	assert_int_equal(hits("@Guinea", "a guinea pig in Guinea-Bissau"), 0);
	assert_int_equal(hits("@Sudan", "South Sudan's capital"), 0);
	assert_int_equal(hits("@Sudan", "Khartoum"), 1);
	assert_int_equal(hits("@Myanmar", "Burmese junta"), 1);
	assert_int_equal(hits("@SaudiArabia AND @UAE", "Riyadh and Abu Dhabi"), 1);
	/* office holders, in Latin script and the country's own */
	assert_int_equal(hits("@Turkey", "President Erdogan said"), 1);
	assert_int_equal(hits("@Egypt", "\xd8\xb9\xd8\xa8\xd8\xaf \xd8\xa7\xd9\x84\xd9\x81\xd8\xaa\xd8\xa7\xd8\xad "
	    "\xd8\xa7\xd9\x84\xd8\xb3\xd9\x8a\xd8\xb3\xd9\x8a"), 1); /* Abdel Fattah el-Sisi */
	assert_int_equal(hits("@Greece", "\xce\x9a\xcf\x85\xcf\x81\xce\xb9\xce\xac\xce\xba\xce\xbf\xcf\x82 "
	    "\xce\x9c\xce\xb7\xcf\x84\xcf\x83\xce\xbf\xcf\x84\xce\xac\xce\xba\xce\xb7\xcf\x82"), 1);
	assert_int_equal(hits("@Brazil", "Lula da Silva arrived"), 1);
	assert_int_equal(hits("@Netherlands", "Prime Minister Rob Jetten"), 1);
	/* a leader's name that contains another state's name */
	assert_int_equal(hits("@Montenegro", "Prime Minister Lu\xc3\xads Montenegro of Portugal"), 0);
	assert_int_equal(hits("@Portugal", "Lu\xc3\xads Montenegro"), 1);
	assert_int_equal(hits("@Spain", "talks in Port of Spain"), 0);
	/* 德国 inside 道德国家 ("moral state") is not Germany; 德国 alone is */
	assert_int_equal(hits("@Germany", "\xe9\x81\x93\xe5\xbe\xb7\xe5\x9b\xbd\xe5\xae\xb6"), 0);
	assert_int_equal(hits("@Germany", "\xe5\xbe\xb7\xe5\x9b\xbd\xe6\x94\xbf\xe5\xba\x9c"), 1);
}

static void
test_entity_file_errors(void **state)
{
	(void)state;
	assert_entity_error("[entity \"A\"]\nalias = a\n", NULL);
	assert_entity_error("# c\n\n[entity \"A\"]\nalias = a ; note\ncase-alias = AA\n"
	    "exclude = a b\n", NULL);
	assert_entity_error("alias = a\n", "x.conf:1: 'alias' outside an [entity] section");
	assert_entity_error("[entity A]\n", "x.conf:1: expected [entity \"NAME\"]");
	assert_entity_error("[entity \"A\"]\n[entity \"B\"]\nalias = b\n",
	    "x.conf:1: entity \"A\" has no alias");
	assert_entity_error("[entity \"B\"]\nalias = b\n[entity \"A\"]\n",
	    "x.conf:3: entity \"A\" has no alias");
	assert_entity_error("[entity \"A B\"]\nalias = b\n", "x.conf:1: entity name");
	assert_entity_error("[entity \"A\"]\nalias = a\n[entity \"a\"]\nalias = b\n",
	    "x.conf:3: entity \"a\" is defined twice");
	assert_entity_error("[entity \"A\"]\nalias = --\n", "x.conf:2: '--' has no letter");
	assert_entity_error("[entity \"A\"]\nalias\n", "x.conf:2: expected key = value");
	assert_entity_error("[entity \"A\"]\nalias =\n", "x.conf:2: missing value for 'alias'");
	assert_entity_error("[entity \"A\"]\nname = a\n", "x.conf:2: unknown key 'name'");
}

static void
test_wildcard_case_regex_not(void **state)
{
	(void)state;
	assert_int_equal(hits("sanction*", "new sanctions on exports"), 1);
	assert_int_equal(hits("sanction*", "sanction"), 1);
	assert_int_equal(hits("sanction*", "sanatorium"), 0);
	assert_int_equal(hits("\"new sanction*\"", "new sanctions"), 1);
	assert_int_equal(hits("case:US", "the US said"), 1);
	assert_int_equal(hits("case:US", "told us"), 0);
	assert_int_equal(hits("/kim\\s+jong[- ]un/", "KIM  Jong-un met"), 1);
	assert_int_equal(hits("/KIM/c", "Kim met"), 0);
	assert_int_equal(hits("/KIM/c", "KIM met"), 1);
	assert_int_equal(hits("treaty -pact", "treaty signed"), 1);
	assert_int_equal(hits("treaty -pact", "treaty and pact"), 0);
	assert_int_equal(hits("NOT pact", "anything"), 1);
	assert_int_equal(hits("NOT pact", "a pact"), 0);
	/* accents and case never matter for plain terms */
	assert_int_equal(hits("sao paulo", "S\xc3\xa3o PAULO"), 1);
}

static void
test_explanation(void **state)
{
	struct matcher *m = matcher_new(ents);
	struct match_result r = {0};
	struct match_doc d = { .title = "Talks", .content =
		"<p>Kim met Lavrov; the North Korea\xe2\x80\x93Russia treaty was cited.</p>" };
	char err[WW_ERRLEN];
	json_t *x;

	(void)state;
	assert_int_equal(matcher_add(m, "a", "pact", err, sizeof err), 0);
	assert_int_equal(matcher_add(m, "b", "@DPRK AND treaty -pact", err, sizeof err), 1);
	assert_int_equal(matcher_run(m, &d, &r), 1);
	assert_int_equal(r.hits[0].watchlist, 1);
	assert_string_equal(r.hits[0].name, "b");
	assert_int_equal(r.hits[0].nterms, 2);
	assert_string_equal(r.hits[0].terms[0], "North Korea");
	assert_string_equal(r.hits[0].terms[1], "treaty");
	assert_non_null(strstr(r.hits[0].snippet, "[[North Korea]]\xe2\x80\x93Russia [[treaty]]"));
	assert_null(strstr(r.hits[0].snippet, "<p>"));
	x = json_loads(r.hits[0].explain, 0, NULL);
	assert_non_null(x);
	assert_int_equal(json_array_size(json_object_get(x, "clauses")), 3);
	assert_non_null(json_object_get(json_object_get(x, "spans"), "content"));
	json_decref(x);
	match_result_free(&r);
	matcher_free(m);
}

/* --- property test: the engine against a naive evaluator -------------------- */

/* Words sharing prefixes of 2 to 10 bytes, for the wildcards. */
static const char *vocab[] = { "alpha", "alphabet", "alphabetic", "beta", "betamax",
	"gamma", "delta", "eps", "zeta" };
#define NV 9

struct gnode {
	/*
	 * 0 word, 1 phrase (2 words), 2 AND, 3 OR, 4 NOT, 5 NEAR,
	 * 6 wildcard (first plen bytes of w[0]), 7 phrase "w[0] prefix-of-w[1]*"
	 */
	int kind;
	int w[2];
	int plen;
	int field;           /* 0 default, 1 title only */
	int dist;
	struct gnode *a, *b;
};

static unsigned rng = 12345;

static unsigned
rnd(unsigned n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 16) % n;
}

static struct gnode *
gen(int depth, int nearable_only)
{
	struct gnode *n = xcalloc(1, sizeof *n);
	int k = depth <= 0 ? (int)rnd(2) : (int)rnd(nearable_only ? 3 : 6);

	/* NEAR operands: words, phrases and parenthesised OR-groups of those */
	if (nearable_only && k == 2)
		k = 3;
	if (k <= 1 && rnd(3) == 0)
		k += 6;

	n->kind = k;
	n->w[0] = (int)rnd(NV);
	n->w[1] = (int)rnd(NV);
	n->plen = 2 + (int)rnd((unsigned)strlen(vocab[n->w[k == 7]]) - 1);
	n->field = (k <= 1 || k >= 6) && !nearable_only ? (rnd(4) == 0) : 0;
	n->dist = (int)rnd(3);
	if (k >= 2) {
		n->a = gen(depth - 1, k == 5 || nearable_only);
		if (k != 4)
			n->b = gen(depth - 1, k == 5 || nearable_only);
	}
	return n;
}

static void
gfree(struct gnode *n)
{
	if (n == NULL)
		return;
	gfree(n->a);
	gfree(n->b);
	free(n);
}

static void
grender(struct buf *b, const struct gnode *n)
{
	if (n->field)
		buf_adds(b, "title:");
	switch (n->kind) {
	case 0: buf_adds(b, vocab[n->w[0]]); break;
	case 1: buf_addf(b, "\"%s %s\"", vocab[n->w[0]], vocab[n->w[1]]); break;
	case 2: buf_adds(b, "("); grender(b, n->a); buf_adds(b, " AND "); grender(b, n->b); buf_adds(b, ")"); break;
	case 3: buf_adds(b, "("); grender(b, n->a); buf_adds(b, " OR "); grender(b, n->b); buf_adds(b, ")"); break;
	case 4: buf_adds(b, "(NOT "); grender(b, n->a); buf_adds(b, ")"); break;
	case 5: grender(b, n->a); buf_addf(b, " NEAR/%d ", n->dist); grender(b, n->b); break;
	case 6: buf_addf(b, "%.*s*", n->plen, vocab[n->w[0]]); break;
	case 7: buf_addf(b, "\"%s %.*s*\"", vocab[n->w[0]], n->plen, vocab[n->w[1]]); break;
	}
}

struct gdoc {
	int t[8], nt;   /* title words */
	int c[16], nc;  /* content words */
};

/* Does leaf n occur in field f (0 title, 1 content) at [s, e]? */
static int
leaf_at(const struct gnode *n, const struct gdoc *d, int f, int s)
{
	const int *w = f ? d->c : d->t;
	int len = f ? d->nc : d->nt;

	if (n->kind == 0)
		return s < len && w[s] == n->w[0];
	if (n->kind == 6)
		return s < len && strncmp(vocab[w[s]], vocab[n->w[0]], (size_t)n->plen) == 0;
	if (n->kind == 7)
		return s + 1 < len && w[s] == n->w[0] &&
		    strncmp(vocab[w[s + 1]], vocab[n->w[1]], (size_t)n->plen) == 0;
	return s + 1 < len && w[s] == n->w[0] && w[s + 1] == n->w[1];
}

static int span(const struct gnode *n, const struct gdoc *d, int f, int s, int e);

/*
 * A NEAR's pairs in field f: two distinct occurrences of its operands with
 * at most dist words between.  Returns whether one covers s..e exactly, or
 * any pair at all when s < 0.
 */
static int
near_pairs(const struct gnode *n, const struct gdoc *d, int f, int s, int e)
{
	int len = f ? d->nc : d->nt, i, j, k, l, na = 0, nb = 0, gap;
	int a[16 * 16][2], b[16 * 16][2];

	for (i = 0; i < len; i++)
		for (j = i; j < len; j++) {
			if (span(n->a, d, f, i, j)) {
				a[na][0] = i;
				a[na++][1] = j;
			}
			if (span(n->b, d, f, i, j)) {
				b[nb][0] = i;
				b[nb++][1] = j;
			}
		}
	for (k = 0; k < na; k++)
		for (l = 0; l < nb; l++) {
			int i1 = a[k][0], e1 = a[k][1], i2 = b[l][0], e2 = b[l][1];
			if (i1 == i2 && e1 == e2)
				continue; /* one occurrence is not a pair */
			gap = e1 < i2 ? i2 - e1 - 1 : e2 < i1 ? i1 - e2 - 1 : 0;
			if (gap > n->dist)
				continue;
			if (s < 0 || ((i1 < i2 ? i1 : i2) == s && (e1 > e2 ? e1 : e2) == e))
				return 1;
		}
	return 0;
}

/* Is there an occurrence of n (a NEAR operand) spanning tokens s..e of field f? */
static int
span(const struct gnode *n, const struct gdoc *d, int f, int s, int e)
{
	if (n->kind == 3)
		return span(n->a, d, f, s, e) || span(n->b, d, f, s, e);
	if (n->kind == 5)
		return near_pairs(n, d, f, s, e);
	return e == s + (n->kind == 1 || n->kind == 7) && leaf_at(n, d, f, s);
}

static int
naive(const struct gnode *n, const struct gdoc *d)
{
	int f, s, e, len;

	switch (n->kind) {
	case 5:
		return near_pairs(n, d, 0, -1, -1) || near_pairs(n, d, 1, -1, -1);
	case 0:
	case 1:
	case 6:
	case 7:
		for (f = n->field ? 0 : 0; f < (n->field ? 1 : 2); f++) {
			len = f ? d->nc : d->nt;
			for (s = 0; s < len; s++)
				for (e = s; e < len; e++)
					if (span(n, d, f, s, e))
						return 1;
		}
		return 0;
	case 2: return naive(n->a, d) && naive(n->b, d);
	case 3: return naive(n->a, d) || naive(n->b, d);
	default: return !naive(n->a, d);
	}
}

static void
test_property_engine_equals_naive(void **state)
{
	struct matcher *m;
	struct gnode *q[40];
	struct buf text = {0}, title = {0}, src = {0};
	struct gdoc d;
	char err[WW_ERRLEN];
	int round, i, j, expect_hit[40];

	(void)state;
	for (round = 0; round < 60; round++) {
		m = matcher_new(ents);
		for (i = 0; i < 40; i++) {
			q[i] = gen(3, 0);
			buf_reset(&src);
			grender(&src, q[i]);
			if (matcher_add(m, "q", src.s, err, sizeof err) != i)
				fail_msg("query %s: %s", src.s, err);
		}
		for (j = 0; j < 50; j++) {
			struct match_result r = {0};
			struct match_doc md = {0};
			size_t h;
			d.nt = (int)rnd(5);
			d.nc = (int)rnd(14);
			buf_reset(&title);
			buf_reset(&text);
			for (i = 0; i < d.nt; i++)
				buf_addf(&title, "%s%s", i ? " " : "", vocab[d.t[i] = (int)rnd(NV)]);
			for (i = 0; i < d.nc; i++)
				buf_addf(&text, "%s%s", i ? " " : "", vocab[d.c[i] = (int)rnd(NV)]);
			md.title = title.s ? title.s : "";
			md.content = text.s ? text.s : "";
			/* re-filing under the rarest triggers seen so far changes nothing */
			if (j % 20 == 19)
				matcher_reindex(m);
			matcher_run(m, &md, &r);
			memset(expect_hit, 0, sizeof expect_hit);
			for (h = 0; h < r.nhits; h++)
				expect_hit[r.hits[h].watchlist] = 1;
			for (i = 0; i < 40; i++)
				if (expect_hit[i] != naive(q[i], &d)) {
					buf_reset(&src);
					grender(&src, q[i]);
					fail_msg("query %s on title '%s' content '%s': engine %d, naive %d",
					    src.s, md.title, md.content, expect_hit[i], !expect_hit[i]);
				}
			match_result_free(&r);
		}
		for (i = 0; i < 40; i++)
			gfree(q[i]);
		matcher_free(m);
	}
	buf_free(&text);
	buf_free(&title);
	buf_free(&src);
}

/*
 * Text is matched in NFC, item after item through the same buffers: a
 * decomposed "é" is reported as the composed one, and a shorter ASCII item
 * after it sees none of it.
 */
static void
test_nfc_reused_buffers(void **state)
{
	struct matcher *m = matcher_new(ents);
	struct match_result r = {0};
	struct match_doc d = { .title = "Caf\x65\xcc\x81 Flore opens", .content =
		"<p>The Cafe\xcc\x81 de Flore &amp; its terrace</p>" };
	char err[WW_ERRLEN];

	(void)state;
	if (matcher_add(m, "w", "caf\xc3\xa9 AND terrace", err, sizeof err) < 0)
		fail_msg("%s", err);
	assert_int_equal(matcher_run(m, &d, &r), 1);
	assert_int_equal(r.hits[0].nterms, 2);
	assert_string_equal(r.hits[0].terms[0], "Caf\xc3\xa9");
	assert_string_equal(r.hits[0].terms[1], "terrace");
	match_result_free(&r);
	d.title = "cafe";
	d.content = "terr";
	assert_int_equal(matcher_run(m, &d, &r), 0);
	match_result_free(&r);
	d.content = "a terrace";
	assert_int_equal(matcher_run(m, &d, &r), 1);
	match_result_free(&r);
	matcher_free(m);
}

/*
 * bench-match's largest size, with its generator: 100,000 watchlists (the
 * same six kinds of query over a 20,000-word vocabulary) and items of an
 * 8-word title and ~70 words of content; the hits of every 4th of 1,200
 * items (the index is re-filed by the pattern statistics after 1,024)
 * against a brute-force evaluation of each of the 100,000 queries over the
 * item's words, and in watchlist order.
 */
#define BV 20000
#define BWL 100000
#define BITEMS 1200

static char bvocab[BV][12];
static unsigned long long brng;

static unsigned
brnd(unsigned n)
{
	brng ^= brng << 13;
	brng ^= brng >> 7;
	brng ^= brng << 17;
	return (unsigned)(brng % n);
}

struct bquery {
	int kind, a, b, c;
};

/* Tokens of a field: a vocabulary index, or -1 - an index into balias. */
static const char *balias[] = { "north", "korea", "pyongyang", "kim", "jong", "un", "moscow" };

struct bfield {
	int tok[400];
	int n;
};

static const char *
btok(int t)
{
	return t >= 0 ? bvocab[t] : balias[-1 - t];
}

static int
bword(void)
{
	unsigned r = brnd(BV);

	return (int)brnd(r + 1);
}

/* Distinct occurrences of x and y at most dist words apart in f. */
static int
bnear(const struct bfield *f, int x, int y, int dist)
{
	int i, j;

	for (i = 0; i < f->n; i++)
		for (j = 0; f->tok[i] == x && j < f->n; j++)
			if (f->tok[j] == y && i != j && abs(i - j) - 1 <= dist)
				return 1;
	return 0;
}

static int
bphrase(const struct bfield *f, int x, int y)
{
	int i;

	for (i = 0; i + 1 < f->n; i++)
		if (f->tok[i] == x && f->tok[i + 1] == y)
			return 1;
	return 0;
}

static int
bhas(const struct bfield *f, int x)
{
	int i;

	for (i = 0; i < f->n; i++)
		if (f->tok[i] == x)
			return 1;
	return 0;
}

static int
bprefix(const struct bfield *f, int x)
{
	int i;

	for (i = 0; i < f->n; i++)
		if (strncmp(btok(f->tok[i]), bvocab[x], strlen(bvocab[x])) == 0)
			return 1;
	return 0;
}

/* An occurrence of @DPRK ("North Korea", "Pyongyang", "Kim Jong Un") within dist words of x. */
static int
bdprk_near(const struct bfield *f, int x, int dist)
{
	int i, s, e, p;

	for (i = 0; i < f->n; i++) {
		s = i;
		if (f->tok[i] == -1 && i + 1 < f->n && f->tok[i + 1] == -2)
			e = i + 1;
		else if (f->tok[i] == -3)
			e = i;
		else if (f->tok[i] == -4 && i + 2 < f->n && f->tok[i + 1] == -5 && f->tok[i + 2] == -6)
			e = i + 2;
		else
			continue;
		for (p = 0; p < f->n; p++)
			if (f->tok[p] == x && ((p > e && p - e - 1 <= dist) || (p < s && s - p - 1 <= dist)))
				return 1;
	}
	return 0;
}

static int
bmatch(const struct bquery *q, const struct bfield *t, const struct bfield *c, const unsigned char *in)
{
	switch (q->kind) {
	case 0: return in[q->a] && in[q->b];
	case 1: return (in[q->a] || in[q->c]) && in[q->b];
	case 2: return bphrase(t, q->a, q->b) || bphrase(c, q->a, q->b);
	case 3: return bnear(t, q->a, q->b, 5) || bnear(c, q->a, q->b, 5);
	case 4: return (bdprk_near(t, q->a, 3) || bdprk_near(c, q->a, 3)) && !in[q->c];
	default: return (bhas(t, q->a) || bprefix(t, q->b) || bprefix(c, q->b)) && in[q->c];
	}
}

static void
test_bench_100k_equals_brute_force(void **state)
{
	struct matcher *m = matcher_new(ents);
	struct bquery *q = xcalloc(BWL, sizeof *q);
	struct bfield t, c;
	struct buf tb = {0}, cb = {0}, qs = {0};
	static unsigned char in[BV];
	char err[WW_ERRLEN];
	size_t i, k, h, compared = 0, total = 0;
	int j, a;

	(void)state;
	brng = 88172645463325252ULL;
	for (i = 0; i < BV; i++)
		snprintf(bvocab[i], sizeof bvocab[i], "w%c%c%05zu", 'a' + (int)(i % 26),
		    'a' + (int)(i / 26 % 26), i);
	for (i = 0; i < BWL; i++) {
		/* named things: words outside the 100 commonest, as bench-match */
		q[i].a = 100 + (int)brnd(BV - 100);
		q[i].b = 100 + (int)brnd(BV - 100);
		q[i].c = 100 + (int)brnd(BV - 100);
		q[i].kind = (int)brnd(6);
		buf_reset(&qs);
		switch (q[i].kind) {
		case 0: buf_addf(&qs, "%s AND %s", bvocab[q[i].a], bvocab[q[i].b]); break;
		case 1: buf_addf(&qs, "(%s OR %s) AND %s", bvocab[q[i].a], bvocab[q[i].c], bvocab[q[i].b]); break;
		case 2: buf_addf(&qs, "\"%s %s\"", bvocab[q[i].a], bvocab[q[i].b]); break;
		case 3: buf_addf(&qs, "%s NEAR/5 %s", bvocab[q[i].a], bvocab[q[i].b]); break;
		case 4: buf_addf(&qs, "@DPRK NEAR/3 %s -%s", bvocab[q[i].a], bvocab[q[i].c]); break;
		default: buf_addf(&qs, "(title:%s OR %s*) AND %s", bvocab[q[i].a], bvocab[q[i].b], bvocab[q[i].c]); break;
		}
		if (matcher_add(m, "w", qs.s, err, sizeof err) != (int)i)
			fail_msg("query %s: %s", qs.s, err);
	}
	for (k = 0; k < BITEMS; k++) {
		struct match_result r = {0};
		struct match_doc d = {0};
		buf_reset(&tb);
		buf_reset(&cb);
		t.n = c.n = 0;
		for (j = 0; j < 8; j++) {
			t.tok[t.n++] = a = bword();
			buf_addf(&tb, "%s%s", j ? " " : "", bvocab[a]);
		}
		buf_adds(&cb, "<p>");
		for (j = 0; j < 70; j++) {
			if (brnd(60) == 0) {
				switch (brnd(4)) {
				case 0: buf_adds(&cb, "North Korea "); c.tok[c.n++] = -1; c.tok[c.n++] = -2; break;
				case 1: buf_adds(&cb, "Pyongyang "); c.tok[c.n++] = -3; break;
				case 2:
					buf_adds(&cb, "Kim Jong Un ");
					c.tok[c.n++] = -4; c.tok[c.n++] = -5; c.tok[c.n++] = -6;
					break;
				default: buf_adds(&cb, "Moscow "); c.tok[c.n++] = -7; break;
				}
			}
			c.tok[c.n++] = a = bword();
			buf_addf(&cb, "%s%s", bvocab[a], brnd(12) == 0 ? ". " : " ");
		}
		buf_adds(&cb, "</p>");
		d.title = tb.s;
		d.content = cb.s;
		matcher_run(m, &d, &r);
		total += r.nhits;
		for (h = 1; h < r.nhits; h++)
			assert_true(r.hits[h - 1].watchlist < r.hits[h].watchlist);
		if (k % 4 == 0) {
			for (j = 0; j < t.n; j++)
				if (t.tok[j] >= 0)
					in[t.tok[j]] = 1;
			for (j = 0; j < c.n; j++)
				if (c.tok[j] >= 0)
					in[c.tok[j]] = 1;
			for (i = h = 0; i < BWL; i++) {
				int engine = h < r.nhits && (size_t)r.hits[h].watchlist == i;
				h += engine;
				if (engine != bmatch(&q[i], &t, &c, in))
					fail_msg("item %zu (title '%s' content '%s'), watchlist %zu (kind %d): "
					    "engine %d, brute force %d", k, tb.s, cb.s, i, q[i].kind,
					    engine, !engine);
				compared += engine;
			}
			memset(in, 0, sizeof in);
		}
		match_result_free(&r);
	}
	/* the sample is not trivial: about 6 hits per item */
	assert_true(compared > 1000);
	assert_true(total > 5 * BITEMS);
	buf_free(&tb);
	buf_free(&cb);
	buf_free(&qs);
	free(q);
	matcher_free(m);
}

int
main(void)
{
	char err[WW_ERRLEN];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_articles),
		cmocka_unit_test(test_near_edges),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_entities_multilingual),
		cmocka_unit_test(test_world_entities),
		cmocka_unit_test(test_gazetteer_other_states),
		cmocka_unit_test(test_entity_file_errors),
		cmocka_unit_test(test_wildcard_case_regex_not),
		cmocka_unit_test(test_explanation),
		cmocka_unit_test(test_property_engine_equals_naive),
		cmocka_unit_test(test_nfc_reused_buffers),
		cmocka_unit_test(test_bench_100k_equals_brute_force),
	};
	int rc;

	if ((ents = entity_set_load("conf/entities", err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = cmocka_run_group_tests_name("match", tests, NULL, NULL);
	entity_set_free(ents);
	return rc;
}
