/*
 * story_redis.c - story signatures in Redis: the function library, the
 * commands that call it and the parsing of their replies; see
 * story_redis.h for the layout.  The commands are built here and sent by
 * whoever holds the connection (the daemon's async store, the benchmark's
 * synchronous one), so both file and read the same records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/cluster.h"
#include "wirewatch/keys.h"
#include "wirewatch/store.h"
#include "wirewatch/story_redis.h"
#include "wirewatch/util.h"

#define DAY 86400

const char story_redis_library[] =
"#!lua name=wirewatch_story\n"
"-- ww_story_cands: KEYS the band hashes of the days to read, then their\n"
"-- signature hashes in the same order; ARGV the most candidates, then the\n"
"-- band keys.  Returns the signatures of the refs filed under the most of\n"
"-- the bands (ties: the later day, the newer), each once.\n"
"redis.register_function{function_name='ww_story_cands', flags={'no-writes'},\n"
"callback=function(keys, args)\n"
"  local nd, max = #keys / 2, tonumber(args[1])\n"
"  local bands = {}\n"
"  for i = 2, #args do bands[#bands + 1] = args[i] end\n"
"  local hits, order, day = {}, {}, {}\n"
"  for d = 1, nd do\n"
"    for _, v in ipairs(redis.call('HMGET', keys[d], unpack(bands))) do\n"
"      if v then\n"
"        for i = 1, #v - 15, 16 do\n"
"          local r = string.sub(v, i, i + 15)\n"
"          if hits[r] then hits[r] = hits[r] + 1\n"
"          else hits[r] = 1; order[#order + 1] = r; day[r] = d end\n"
"        end\n"
"      end\n"
"    end\n"
"  end\n"
"  -- the most bands first, the newest first among equals: by counting,\n"
"  -- not sorting (thousands of refs when the buckets are full)\n"
"  local by, top = {}, 0\n"
"  for _, r in ipairs(order) do\n"
"    local h = hits[r]\n"
"    by[h] = by[h] or {}\n"
"    by[h][#by[h] + 1] = r\n"
"    if h > top then top = h end\n"
"  end\n"
"  local per, taken = {}, 0\n"
"  for h = top, 1, -1 do\n"
"    local l = by[h]\n"
"    if l then\n"
"      for i = #l, 1, -1 do\n"
"        if taken >= max then break end\n"
"        local d = day[l[i]]\n"
"        per[d] = per[d] or {}\n"
"        per[d][#per[d] + 1] = l[i]\n"
"        taken = taken + 1\n"
"      end\n"
"    end\n"
"    if taken >= max then break end\n"
"  end\n""  local out = {}\n"
"  for d, refs in pairs(per) do\n"
"    for _, s in ipairs(redis.call('HMGET', keys[nd + d], unpack(refs))) do\n"
"      if s then out[#out + 1] = s end\n"
"    end\n"
"  end\n"
"  return out\n"
"end}\n"
"-- file: the signature sig under ref in the day's hashes kb (bands) and\n"
"-- ks (signatures); each band keeps its newest max refs.\n"
"-- (One HMGET and one HSET: a redis.call costs more than its command.)\n"
"local function file(kb, ks, ttl, max, ref, sig, bands)\n"
"  redis.call('HSET', ks, ref, sig)\n"
"  local old = redis.call('HMGET', kb, unpack(bands))\n"
"  local new, set = {}, {}\n"
"  for i, b in ipairs(bands) do\n"
"    local v = (new[b] or old[i] or '') .. ref\n"
"    if #v > max * 16 then v = string.sub(v, #v - max * 16 + 1) end\n"
"    if not new[b] then set[#set + 1] = b end\n"
"    new[b] = v\n"
"  end\n"
"  local fv = {}\n"
"  for _, b in ipairs(set) do fv[#fv + 1] = b; fv[#fv + 1] = new[b] end\n"
"  redis.call('HSET', kb, unpack(fv))\n"
"  redis.call('EXPIRE', kb, ttl)\n"
"  redis.call('EXPIRE', ks, ttl)\n"
"end\n"
"-- ww_story_add: KEYS the band hash and the signature hash of the item's\n"
"-- day; ARGV ttl, refs kept per band, ref, signature, then the bands.\n"
"redis.register_function('ww_story_add', function(keys, args)\n"
"  local bands = {}\n"
"  for i = 5, #args do bands[#bands + 1] = args[i] end\n"
"  file(keys[1], keys[2], args[1], tonumber(args[2]), args[3], args[4], bands)\n"
"  return 1\n"
"end)\n"
"-- ww_story_record: ww_record_item with stories.  KEYS seen, outbox, the\n"
"-- story record, the band and signature hashes of the item's day, recent,\n"
"-- the day's alert counter; ARGV seen ttl, record ttl, signature ttl, refs\n"
"-- per band, ref, signature, the source (JSON), the number of bands, the\n"
"-- bands, keep ms, nk, the kept item (nk strings: field, value, ...), then\n"
"-- per alert: id, sink, watchlist, item, first alert, update (empty: none), mode (item,\n"
"-- thread, digest, none), update interval (ms).  Per watchlist the first\n"
"-- item of the story sends its alerts; later ones send updates as the\n"
"-- mode says.  The seen mark, the kept item (as ww_record_item in the\n"
"-- wirewatch library: recent trimmed by exact MINID, PEXPIRE), what is\n"
"-- queued and its count on the day's counter are one atomic call.\n"
"-- Returns 0 (seen before) or the list of the alerts queued (1-based\n"
"-- positions among the alerts given; empty when none).\n"
"redis.register_function('ww_story_record', function(keys, args)\n"
CLUSTER_LUA_FENCE("8")
"  if not redis.call('SET', keys[1], '1', 'NX', 'EX', args[1]) then\n"
"    return 0\n"
"  end\n"
"  local nb = tonumber(args[8])\n"
"  local bands = {}\n"
"  for i = 9, 8 + nb do bands[#bands + 1] = args[i] end\n"
"  file(keys[4], keys[5], args[3], tonumber(args[4]), args[5], args[6], bands)\n"
"  local t = redis.call('TIME')\n"
"  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"  local keep, nk = tonumber(args[9 + nb]), tonumber(args[10 + nb])\n"
"  if keep > 0 and nk > 0 then\n"
"    redis.call('XADD', keys[6], 'MINID', string.format('%d', now - keep),\n"
"      '*', unpack(args, 11 + nb, 10 + nb + nk))\n"
"    redis.call('PEXPIRE', keys[6], keep)\n"
"  end\n"
"  local src = redis.call('HGET', keys[3], 'sources')\n"
"  local list = src and cjson.decode(src) or {}\n"
"  if #list < 50 then\n"
"    list[#list + 1] = cjson.decode(args[7])\n"
"    redis.call('HSET', keys[3], 'sources', cjson.encode(list))\n"
"  end\n"
"  local first, sent, k = {}, {}, 0\n"
"  for i = 11 + nb + nk, #args, 8 do\n"
"    k = k + 1\n"
"    local id, sink, wl, item = args[i], args[i+1], args[i+2], args[i+3]\n"
"    local mode, send = args[i+6], nil\n"
"    if mode == 'item' then\n"
"      send = args[i+4]\n"
"    else\n"
"      if first[wl] == nil then\n"
"        first[wl] = redis.call('HSETNX', keys[3], 'w:' .. wl, id) == 1\n"
"      end\n"
"      if first[wl] then\n"
"        send = args[i+4]\n"
"      elseif mode == 'thread' then\n"
"        send = args[i+5]\n"
"      elseif mode == 'digest' then\n"
"        local last = tonumber(redis.call('HGET', keys[3], 'u:' .. sink) or '0')\n"
"        if now - last >= tonumber(args[i+7]) then\n"
"          redis.call('HSET', keys[3], 'u:' .. sink, now)\n"
"          send = args[i+5]\n"
"        end\n"
"      end\n"
"    end\n"
"    if send and send ~= '' then\n"
"      redis.call('XADD', keys[2], '*', 'id', id, 'sink', sink,\n"
"        'watchlist', wl, 'item', item, 'alert', send)\n"
"      sent[#sent + 1] = k\n"
"    end\n"
"  end\n"
"  redis.call('EXPIRE', keys[3], args[2])\n"
"  if #sent > 0 then\n"
"    redis.call('INCRBY', keys[7], #sent)\n"
"    redis.call('EXPIRE', keys[7], 691200)\n"
"  end\n"
"  return sent\n"
"end)\n"
"-- ww_story_msg: KEYS the story record; ARGV field, value.  Sets the field\n"
"-- (a sink's first message of the story: tg:<sink>) on a record that still\n"
"-- exists, so that it keeps the record's expiry.\n"
"redis.register_function('ww_story_msg', function(keys, args)\n"
"  if redis.call('EXISTS', keys[1]) == 0 then return 0 end\n"
"  return redis.call('HSET', keys[1], args[1], args[2])\n"
"end)\n";

void
story_cmd_free(struct story_cmd *c)
{
	int i;

	for (i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	c->argv = NULL;
	c->argc = 0;
}

static int64_t
day_of(int64_t t)
{
	return t >= 0 ? t / DAY : (t - DAY + 1) / DAY;
}

void
story_redis_lookup_cmd(const char *prefix, const uint64_t bands[STORY_BANDS],
    int64_t since, int64_t t, struct story_cmd *out)
{
	int64_t d0, d;
	int nd, i = 0, b;

	story_redis_days(since, t, &d0, &nd);
	out->argc = 4 + 2 * nd + STORY_BANDS;
	out->argv = xcalloc((size_t)out->argc, sizeof *out->argv);
	out->argv[i++] = xstrdup("FCALL_RO");
	out->argv[i++] = xstrdup("ww_story_cands");
	out->argv[i++] = xasprintf("%d", 2 * nd);
	for (d = d0; d < d0 + nd; d++)
		out->argv[i++] = story_redis_day_key(prefix, KEY_STORY_BANDS, d * DAY);
	for (d = d0; d < d0 + nd; d++)
		out->argv[i++] = story_redis_day_key(prefix, KEY_STORY_SIGS, d * DAY);
	out->argv[i++] = xasprintf("%d", STORY_CANDS_MAX);
	for (b = 0; b < STORY_BANDS; b++)
		out->argv[i++] = xasprintf("%016llx", (unsigned long long)bands[b]);
}

/* Hex digit values plus one (0: not a lowercase hex digit). */
static const unsigned char hexv[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
	['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13,
	['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static int
unhex(const char *s, size_t n, unsigned char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned hi, lo, bad = 0;
	size_t i;

	if (n % 2 != 0)
		return -1;
	for (i = 0; i < n / 2; i++) {
		hi = hexv[u[2 * i]];
		lo = hexv[u[2 * i + 1]];
		bad |= (hi == 0) | (lo == 0);
		out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	return bad ? -1 : 0;
}

void
story_redis_days(int64_t since, int64_t t, int64_t *d0, int *nd)
{
	int64_t a = day_of(since), b = day_of(t);

	if (b < a)
		b = a;
	if (b - a > 30) /* a window of a month at most: bounded work */
		a = b - 30;
	*d0 = a;
	*nd = (int)(b - a + 1);
}

/*
 * The refs found, as ww_story_cands counts them: each ref once, in the
 * order first seen, with the bands it was found under; an open-addressing
 * table (of indexes + 1) finds a ref's entry.
 */
struct story_ref_ent {
	char ref[16];
	int day;
	unsigned hits;
	size_t seen;            /* order first seen */
};

static uint64_t
ref_hash(const char *r)
{
	uint64_t a, b;

	memcpy(&a, r, 8);
	memcpy(&b, r + 8, 8);
	return util_mix64(a ^ util_mix64(b));
}

void
story_refs_add(struct story_refs *rs, int day, const char *v, size_t len)
{
	size_t i, k, mask, h;
	uint32_t *old;
	size_t oldcap;

	for (i = 0; i + 16 <= len; i += 16) {
		if ((rs->n + 1) * 2 > rs->tcap) {
			old = rs->table;
			oldcap = rs->tcap;
			rs->tcap = oldcap ? 2 * oldcap : 256;
			rs->table = xcalloc(rs->tcap, sizeof *rs->table);
			mask = rs->tcap - 1;
			for (k = 0; k < oldcap; k++) {
				if (old[k] == 0)
					continue;
				for (h = ref_hash(rs->v[old[k] - 1].ref) & mask; rs->table[h] != 0;
				    h = (h + 1) & mask)
					;
				rs->table[h] = old[k];
			}
			free(old);
		}
		mask = rs->tcap - 1;
		for (h = ref_hash(v + i) & mask; rs->table[h] != 0; h = (h + 1) & mask)
			if (memcmp(rs->v[rs->table[h] - 1].ref, v + i, 16) == 0)
				break;
		if (rs->table[h] != 0) {
			rs->v[rs->table[h] - 1].hits++;
			continue;
		}
		if (rs->n == rs->cap) {
			rs->cap = rs->cap ? 2 * rs->cap : 64;
			rs->v = xreallocarray(rs->v, rs->cap, sizeof *rs->v);
		}
		memcpy(rs->v[rs->n].ref, v + i, 16);
		rs->v[rs->n].day = day;
		rs->v[rs->n].hits = 1;
		rs->v[rs->n].seen = rs->n;
		rs->n++;
		rs->table[h] = (uint32_t)rs->n;
	}
}

/* The most bands first, the later seen first among equals. */
static int
cmp_rank(const void *a, const void *b)
{
	const struct story_ref_ent *x = a, *y = b;

	if (x->hits != y->hits)
		return x->hits > y->hits ? -1 : 1;
	return x->seen > y->seen ? -1 : x->seen < y->seen;
}

/* By day, then by rank (seen is the rank by then). */
static int
cmp_day(const void *a, const void *b)
{
	const struct story_ref_ent *x = a, *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return x->seen < y->seen ? -1 : x->seen > y->seen;
}

size_t
story_refs_pick(struct story_refs *rs, size_t max, char (*refs)[STORY_IDLEN],
    int *days)
{
	size_t i, n;

	if (rs->n == 0)
		return 0;
	qsort(rs->v, rs->n, sizeof *rs->v, cmp_rank);
	n = rs->n < max ? rs->n : max;
	for (i = 0; i < n; i++)
		rs->v[i].seen = i;
	qsort(rs->v, n, sizeof *rs->v, cmp_day);
	for (i = 0; i < n; i++) {
		memcpy(refs[i], rs->v[i].ref, 16);
		refs[i][16] = '\0';
		days[i] = rs->v[i].day;
	}
	return n;
}

void
story_refs_free(struct story_refs *rs)
{
	free(rs->v);
	free(rs->table);
	memset(rs, 0, sizeof *rs);
}

int
story_redis_parse_cands(const struct store_reply *r, int64_t since,
    struct story_sig **out, size_t *n, size_t *cap)
{
	const struct store_reply *e;
	const char *hex;
	size_t i, len;

	if (store_reply_type(r) != STORE_ARRAY)
		return -1;
	for (i = 0; i < store_reply_len(r); i++) {
		e = store_reply_elem(r, i);
		if (store_reply_type(e) == STORE_STRING &&
		    (hex = store_reply_str(e, &len)) != NULL)
			story_redis_parse_sig(hex, len, since, NULL, 0, out, n, cap);
	}
	return 0;
}

/* The known signature whose hex is s (n chars), or NULL. */
static struct story_known *
known_find(struct story_known *known, size_t nknown, const char *s, size_t n)
{
	size_t k;

	for (k = 0; k < nknown; k++)
		if (known[k].len == n && memcmp(known[k].hex, s, n) == 0)
			return &known[k];
	return NULL;
}

void
story_redis_parse_sig(const char *hex, size_t len, int64_t since,
    struct story_known *known, size_t nknown, struct story_sig **out, size_t *n,
    size_t *cap)
{
	unsigned char raw[STORY_SIG_HEADER + 4 * STORY_TERMS];
	struct story_known *kn;
	struct story_sig *sig;

	if (len > 2 * sizeof raw)
		return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*out = xreallocarray(*out, *cap, sizeof **out);
	}
	sig = &(*out)[*n];
	if ((kn = known_find(known, nknown, hex, len)) != NULL) {
		kn->used = 1;
		*sig = *kn->sig;
	} else if (unhex(hex, len, raw) == -1 || story_sig_unpack(raw, len / 2, sig) == -1)
		return;
	if (sig->time >= since)
		(*n)++;
}

size_t
story_redis_sig_hex_to(const struct story_sig *sig, char out[STORY_SIG_HEXMAX])
{
	unsigned char raw[STORY_SIG_HEADER + 4 * STORY_TERMS];
	size_t len = story_sig_pack(sig, raw), k;

	for (k = 0; k < len; k++) {
		out[2 * k] = "0123456789abcdef"[raw[k] >> 4];
		out[2 * k + 1] = "0123456789abcdef"[raw[k] & 15];
	}
	out[2 * len] = '\0';
	return 2 * len;
}

char *
story_redis_sig_hex(const struct story_sig *sig)
{
	char hex[STORY_SIG_HEXMAX];

	story_redis_sig_hex_to(sig, hex);
	return xstrdup(hex);
}

char *
story_redis_day_key(const char *prefix, const char *name, int64_t t)
{
	char day[24];

	snprintf(day, sizeof day, "%lld", (long long)day_of(t));
	return keys_name(prefix, name, day, NULL);
}

void
story_redis_add_cmd(const char *prefix, long long window, const char *ref,
    const uint64_t bands[STORY_BANDS], const struct story_sig *sig, struct story_cmd *out)
{
	char *hex = story_redis_sig_hex(sig);
	int i = 0, b;

	out->argc = 9 + STORY_BANDS;
	out->argv = xcalloc((size_t)out->argc, sizeof *out->argv);
	out->argv[i++] = xstrdup("FCALL");
	out->argv[i++] = xstrdup("ww_story_add");
	out->argv[i++] = xstrdup("2");
	out->argv[i++] = story_redis_day_key(prefix, KEY_STORY_BANDS, sig->time);
	out->argv[i++] = story_redis_day_key(prefix, KEY_STORY_SIGS, sig->time);
	out->argv[i++] = xasprintf("%lld", window + DAY);
	out->argv[i++] = xasprintf("%d", STORY_BUCKET_MAX);
	out->argv[i++] = xstrndup(ref, 16);
	out->argv[i++] = hex;
	for (b = 0; b < STORY_BANDS; b++)
		out->argv[i++] = xasprintf("%016llx", (unsigned long long)bands[b]);
}
