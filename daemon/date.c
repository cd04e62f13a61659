/*
 * date.c - the one date parser for feeds; see date.h.
 *
 * Two readers, picked by shape:
 *   - ISO 8601 / W3CDTF (and the compact ISO forms feedparser accepts:
 *     -0312, 031231, 03-12-31, -03-12, 03335), anchored and strict: any
 *     trailing garbage rejects the date;
 *   - everything else (RFC 822 and its corruptions, asctime, Perforce,
 *     Greek, Korean, "13-07-2025 02:57 IST", "July 13, 2025") by tokens:
 *     every token must be understood, or the date is rejected.
 * Words are compared in text_fold's normal form (case folded, accents
 * stripped), so "Ιούλ" and "július" match "ιουλ" and "julius".  Nothing is
 * guessed: an unknown word, a field out of range or a malformed zone gives
 * -1.  A date without a zone is UTC, except the Korean forms, which are KST (+09:00).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "wirewatch/date.h"
#include "wirewatch/text.h"
#include "wirewatch/util.h"

struct dt {
	int year, month, day, hour, min, sec;
	int have_time;
	long offset;      /* seconds east of UTC */
	int have_zone;
	int pm;           /* -1 none, 0 am, 1 pm */
};

static const char *months_en[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"
};
static const char *months_full[] = {
	"january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december"
};
/* Greek abbreviations and Hungarian names, folded (no accents). */
static const char *months_el[] = {
	"ιαν", "φεβ", "μαρ", "απρ", "μαι", "ιουν", "ιουλ", "αυγ", "σεπ", "οκτ", "νοε", "δεκ"
};
static const char *months_hu[] = {
	"januar", "februar", "marcius", "aprilis", "majus", "junius", "julius",
	"augusztus", "szeptember", "oktober", "november", "december"
};
static const char *weekdays[] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday",
	"wednesday", "thursday", "friday", "saturday", "sunday", "tues", "thur",
	"thurs", "κυρ", "δευ", "τρι", "τετ", "πεμ", "παρ", "σαβ", NULL
};

static const struct { const char *name; int minutes; } zones[] = {
	{ "ut", 0 }, { "utc", 0 }, { "gmt", 0 }, { "z", 0 }, { "etc/gmt", 0 },
	{ "etc/utc", 0 }, { "wet", 0 },
	{ "est", -300 }, { "edt", -240 }, { "cst", -360 }, { "cdt", -300 },
	{ "mst", -420 }, { "mdt", -360 }, { "pst", -480 }, { "pdt", -420 },
	{ "akst", -540 }, { "akdt", -480 }, { "hst", -600 },
	{ "at", -240 }, { "ast", -240 }, { "adt", -180 }, { "et", -300 },
	{ "ct", -360 }, { "mt", -420 }, { "pt", -480 },
	{ "bst", 60 }, { "cet", 60 }, { "cest", 120 }, { "met", 60 }, { "mest", 120 },
	{ "eet", 120 }, { "eest", 180 }, { "msk", 180 },
	{ "ist", 330 },  /* India: what the outlets that write IST mean */
	{ "pkt", 300 }, { "sgt", 480 }, { "hkt", 480 }, { "kst", 540 }, { "jst", 540 },
	{ "aest", 600 }, { "aedt", 660 }, { "nzst", 720 }, { "nzdt", 780 },
	{ NULL, 0 }
};

static int
days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

static int
finish(struct dt *d, time_t *out)
{
	struct tm tm;
	time_t t;

	if (d->pm >= 0) {
		if (d->hour < 1 || d->hour > 12)
			return -1;
		d->hour = d->hour % 12 + (d->pm ? 12 : 0);
	}
	if (d->year < 1 || d->year > 9999 || d->month < 1 || d->month > 12 ||
	    d->day < 1 || d->day > days_in_month(d->year, d->month) ||
	    d->hour < 0 || d->hour > 23 || d->min < 0 || d->min > 59 ||
	    d->sec < 0 || d->sec > 60)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = d->year - 1900;
	tm.tm_mon = d->month - 1;
	tm.tm_mday = d->day;
	tm.tm_hour = d->hour;
	tm.tm_min = d->min;
	tm.tm_sec = d->sec > 59 ? 59 : d->sec;
	t = timegm(&tm);
	*out = t - d->offset;
	return 0;
}

/* Reads exactly n digits (n > 0), or 1..-n digits when n < 0. */
static int
digits(const char **p, int n, int *val)
{
	int count = 0, max = n < 0 ? -n : n, v = 0;

	while (count < max && isdigit((unsigned char)(*p)[count])) {
		v = v * 10 + ((*p)[count] - '0');
		count++;
	}
	if (count == 0 || (n > 0 && count != n))
		return -1;
	*p += count;
	*val = v;
	return 0;
}

/* "+hh:mm", "+hhmm", "+hh" at *p; advances. */
static int
zone_offset(const char **p, long *off)
{
	int sign, h, m = 0;

	if (**p != '+' && **p != '-')
		return -1;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (digits(p, 2, &h) == -1)
		return -1;
	if (**p == ':')
		(*p)++;
	if (isdigit((unsigned char)**p) && digits(p, 2, &m) == -1)
		return -1;
	if (h > 23 || m > 59)
		return -1;
	*off = sign * (h * 3600L + m * 60L);
	return 0;
}

static int
month_of(const char *w)
{
	int i;

	for (i = 0; i < 12; i++)
		if (!strcmp(w, months_en[i]) || !strcmp(w, months_full[i]) ||
		    !strcmp(w, months_el[i]) || !strcmp(w, months_hu[i]) ||
		    (i == 8 && !strcmp(w, "sept")))
			return i + 1;
	/* Greek variants */
	if (!strcmp(w, "ιον"))
		return 6;
	if (!strcmp(w, "ιολ"))
		return 7;
	return 0;
}

static int
zone_of(const char *w, long *off)
{
	int i;

	for (i = 0; zones[i].name != NULL; i++)
		if (!strcmp(w, zones[i].name)) {
			*off = zones[i].minutes * 60L;
			return 0;
		}
	/* Military letters, J excepted; Z is UTC. */
	if (w[0] >= 'a' && w[0] <= 'z' && w[1] == '\0' && w[0] != 'j') {
		char c = w[0];
		int h = c == 'z' ? 0 : c <= 'i' ? c - 'a' + 1 : c <= 'm' ? c - 'a' :
		    -(c - 'n' + 1);
		*off = -h * 3600L; /* RFC 822: A is -1h ... N is +1h */
		return 0;
	}
	return -1;
}

/* --- ISO 8601 / W3CDTF ------------------------------------------------ */

static int
iso_time_and_zone(const char *p, struct dt *d)
{
	int frac;

	if (*p == '\0')
		return 0;
	if (*p == 'T' || *p == 't')
		p++;
	else if (*p == ' ')
		while (*p == ' ')
			p++;
	else
		return -1;
	/* Korean "오전"/"오후" (am/pm) between date and time. */
	if (!strncmp(p, "오전", 6) || !strncmp(p, "오후", 6)) {
		d->pm = !strncmp(p, "오후", 6);
		d->offset = 9 * 3600L;
		p += 6;
		while (*p == ' ')
			p++;
	}
	if (digits(&p, -2, &d->hour) == -1)
		return -1;
	d->have_time = 1;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &d->min) == -1)
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &d->sec) == -1)
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				if (digits(&p, -9, &frac) == -1)
					return -1;
			}
		}
	} else {
		return -1;
	}
	while (*p == ' ')
		p++;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		if (zone_offset(&p, &d->offset) == -1)
			return -1;
	}
	return *p == '\0' ? 0 : -1;
}

static int
iso_month_name(const char **p, int *month)
{
	const char *s = *p;
	char *w;
	int m;

	while (*s != '\0' && *s != '-' && !isdigit((unsigned char)*s))
		s++;
	if (s == *p)
		return -1;
	w = text_fold(*p, (size_t)(s - *p));
	m = month_of(w);
	free(w);
	if (m == 0)
		return -1;
	*month = m;
	*p = s;
	return 0;
}

static int
parse_iso(const char *s, struct dt *d)
{
	const char *p = s;
	int yy, ddd;

	/* Compact forms with two-digit years. */
	if (s[0] == '-' || (strlen(s) <= 8 && !(strspn(s, "0123456789") == 4 &&
	    (s[4] == '\0' || s[4] == '-')))) {
		p = s;
		if (*p == '-') {
			p++;
			if (digits(&p, 2, &yy) == -1)
				return -1;
			if (*p == '-')
				p++;
			if (digits(&p, 2, &d->month) == -1 || *p != '\0')
				return -1;
			d->year = 2000 + yy;
			d->day = 1;
			return 0;
		}
		if (digits(&p, 2, &yy) == -1)
			return -1;
		d->year = 2000 + yy;
		if (*p == '-') {
			p++;
			if (digits(&p, 2, &d->month) == -1 || *p++ != '-' ||
			    digits(&p, 2, &d->day) == -1 || *p != '\0')
				return -1;
			return 0;
		}
		if (strlen(p) == 4) {
			if (digits(&p, 2, &d->month) == -1 || digits(&p, 2, &d->day) == -1)
				return -1;
			return 0;
		}
		if (strlen(p) == 3 && digits(&p, 3, &ddd) == 0) {
			/*
			 * YYDDD.  A day number below 32 reads as well as a cut
			 * YYMMDD ("22013"), so only an unambiguous one counts.
			 */
			if (ddd < 32 || ddd > 366)
				return -1;
			d->month = 1;
			d->day = 1;
			while (d->month <= 12 && ddd > days_in_month(d->year, d->month)) {
				ddd -= days_in_month(d->year, d->month);
				d->month++;
			}
			d->day = ddd;
			return d->month > 12 ? -1 : 0;
		}
		return -1;
	}
	if (digits(&p, 4, &d->year) == -1)
		return -1;
	d->month = d->day = 1;
	if (*p == '\0')
		return 0;
	if (*p++ != '-')
		return -1;
	if (isdigit((unsigned char)*p)) {
		if (digits(&p, -3, &d->month) == -1)
			return -1;
	} else if (iso_month_name(&p, &d->month) == -1) {
		return -1;
	}
	if (*p == '\0')
		return 0;
	if (*p++ != '-' || digits(&p, -2, &d->day) == -1)
		return -1;
	return iso_time_and_zone(p, d);
}

static int
looks_iso(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (s[0] == '-' && isdigit((unsigned char)s[1]))
		return 1;
	if (n == 4 && (s[4] == '\0' || s[4] == '-'))
		return 1;
	return n == strlen(s) || (n == 2 && s[2] == '-' && strlen(s) == 8);
}

/* --- token reader ------------------------------------------------------- */

static int
numeric_date(const char *tok, struct dt *d)
{
	int a, b, c, na, nc;
	const char *p = tok;
	char sep;

	na = (int)strspn(p, "0123456789");
	if (digits(&p, -4, &a) == -1)
		return -1;
	sep = *p;
	if (sep != '-' && sep != '/' && sep != '.')
		return -1;
	p++;
	if (digits(&p, -2, &b) == -1 || *p++ != sep)
		return -1;
	nc = (int)strspn(p, "0123456789");
	if (digits(&p, -4, &c) == -1 || *p != '\0')
		return -1;
	if (na == 4) {
		d->year = a; d->month = b; d->day = c;
	} else if (nc == 4) {
		d->year = c;
		/* dd-mm-yyyy, dd.mm.yyyy; mm/dd/yyyy unless the first is > 12 */
		if (sep == '/' && a <= 12) {
			d->month = a; d->day = b;
		} else {
			d->day = a; d->month = b;
		}
	} else {
		return -1;
	}
	return 0;
}

static int
clock_token(const char *tok, struct dt *d)
{
	const char *p = tok;
	int frac;

	if (digits(&p, -2, &d->hour) == -1 || *p++ != ':' ||
	    digits(&p, -2, &d->min) == -1)
		return -1;
	if (*p == ':') {
		p++;
		if (digits(&p, -2, &d->sec) == -1)
			return -1;
		if (*p == '.') {
			p++;
			if (digits(&p, -9, &frac) == -1)
				return -1;
		}
	}
	d->have_time = 1;
	/* "11:22am" */
	if (!strcasecmp(p, "am") || !strcasecmp(p, "pm")) {
		d->pm = tolower((unsigned char)*p) == 'p';
		return 0;
	}
	if (*p == '+' || *p == '-') {
		d->have_zone = 1;
		return zone_offset(&p, &d->offset) == -1 || *p != '\0' ? -1 : 0;
	}
	return *p == '\0' ? 0 : -1;
}

static int
word_token(const char *tok, struct dt *d, int *month_found)
{
	const char *p;
	char *w = text_fold(tok, strlen(tok));
	size_t n = strlen(w);
	int rc = 0, m, i;

	if (n > 0 && w[n - 1] == '.')
		w[--n] = '\0';
	for (i = 0; weekdays[i] != NULL; i++)
		if (!strcmp(w, weekdays[i]))
			goto out;
	if ((m = month_of(w)) != 0) {
		d->month = m;
		*month_found = 1;
		goto out;
	}
	if (!strcmp(w, "am") || !strcmp(w, "a.m") || !strcmp(w, "pm") || !strcmp(w, "p.m")) {
		d->pm = w[0] == 'p';
		goto out;
	}
	if (d->have_time && !d->have_zone) {
		/* "GMT+3", "GMT-01:01", "UTC+05:30" */
		if ((!strncmp(w, "gmt", 3) || !strncmp(w, "utc", 3)) &&
		    (w[3] == '+' || w[3] == '-')) {
			p = w + 3;
			if (isdigit((unsigned char)p[1]) && !isdigit((unsigned char)p[2]) &&
			    p[2] == '\0') {
				d->offset = (p[0] == '-' ? -1 : 1) * (p[1] - '0') * 3600L;
			} else if (zone_offset(&p, &d->offset) == -1 || *p != '\0') {
				rc = -1;
				goto out;
			}
			d->have_zone = 1;
			goto out;
		}
		if (zone_of(w, &d->offset) == 0) {
			d->have_zone = 1;
			goto out;
		}
	}
	rc = -1;
out:
	free(w);
	return rc;
}

static int
korean_unit(const char *tok, struct dt *d)
{
	const char *p = tok;
	int v;

	if (digits(&p, -4, &v) == -1)
		return -1;
	if (!strcmp(p, "년"))
		d->year = v;
	else if (!strcmp(p, "월"))
		d->month = v;
	else if (!strcmp(p, "일"))
		d->day = v;
	else
		return -1;
	d->offset = 9 * 3600L;
	return 0;
}

static int
parse_tokens(const char *s, struct dt *d)
{
	char *copy = xstrdup(s), *tok, *save = NULL;
	int nums[4], nnum = 0, numlen[4], month_found = 0, numeric = 0, rc = -1, i;
	const char *p;

	for (tok = strtok_r(copy, " ,\t", &save); tok != NULL;
	    tok = strtok_r(NULL, " ,\t", &save)) {
		if (isdigit((unsigned char)tok[0])) {
			if (strchr(tok, ':') != NULL) {
				if (clock_token(tok, d) == -1)
					goto out;
			} else if (strspn(tok, "0123456789") == strlen(tok)) {
				if (nnum == 4)
					goto out;
				numlen[nnum] = (int)strlen(tok);
				nums[nnum++] = atoi(tok);
			} else if (strpbrk(tok, "-/.") != NULL && !numeric) {
				if (numeric_date(tok, d) == -1)
					goto out;
				numeric = 1;
			} else if (korean_unit(tok, d) == -1) {
				goto out;
			} else {
				numeric = 2;
			}
		} else if ((tok[0] == '+' || tok[0] == '-') && d->have_time) {
			p = tok;
			if (zone_offset(&p, &d->offset) == -1 || *p != '\0')
				goto out;
			d->have_zone = 1;
		} else if (!strcmp(tok, "오전") || !strcmp(tok, "오후")) {
			d->pm = !strcmp(tok, "오후");
			d->offset = 9 * 3600L;
		} else if (word_token(tok, d, &month_found) == -1) {
			goto out;
		}
	}
	if (numeric) {
		/* The date came whole; a lone number left over is an error. */
		if (nnum != 0)
			goto out;
	} else {
		if (!month_found)
			goto out;
		for (i = 0; i < nnum; i++) {
			if (numlen[i] >= 3 || (d->day != 0 && d->year == 0))
				d->year = numlen[i] == 2 ? nums[i] + (nums[i] < 69 ? 2000 : 1900) :
				    nums[i];
			else if (d->day == 0)
				d->day = nums[i];
			else
				goto out;
		}
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/*
 * ISO 8601 basic format ("20250713", "20250713T094100Z",
 * "20250713T0941+0530") rewritten as the extended form, or NULL.
 */
static char *
iso_basic(const char *s)
{
	struct buf b = {0};
	size_t n = strspn(s, "0123456789"), t;

	if (n != 8 || (s[8] != '\0' && s[8] != 'T'))
		return NULL;
	buf_addf(&b, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
	s += 8;
	if (*s == 'T') {
		s++;
		t = strspn(s, "0123456789");
		if (t != 4 && t != 6) {
			buf_free(&b);
			return NULL;
		}
		buf_addf(&b, "T%.2s:%.2s", s, s + 2);
		if (t == 6)
			buf_addf(&b, ":%.2s", s + 4);
		s += t;
		if (*s == '.' || *s == ',') {
			buf_addc(&b, '.');
			for (s++; isdigit((unsigned char)*s); s++)
				buf_addc(&b, *s);
		}
		if ((*s == '+' || *s == '-') && strspn(s + 1, "0123456789") == 4 &&
		    s[5] == '\0') {
			buf_addf(&b, "%c%.2s:%.2s", *s, s + 1, s + 3);
			s += 5;
		}
		buf_adds(&b, s);
	} else if (*s != '\0') {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

int
date_parse(const char *s, time_t *out)
{
	struct dt d;
	char *trimmed, *ext;
	int rc;

	if (s == NULL)
		return -1;
	trimmed = xstrdup_trimmed(s);
	if (*trimmed == '\0') {
		free(trimmed);
		return -1;
	}
	memset(&d, 0, sizeof d);
	d.pm = -1;
	if ((ext = iso_basic(trimmed)) != NULL) {
		rc = parse_iso(ext, &d);
		free(ext);
	} else if (looks_iso(trimmed))
		rc = parse_iso(trimmed, &d);
	else
		rc = parse_tokens(trimmed, &d);
	if (rc == 0)
		rc = finish(&d, out);
	free(trimmed);
	return rc;
}
