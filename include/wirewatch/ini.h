/*
 * ini.h - the line reader of wirewatch.conf: git-config style INI text
 * into section headers and complete key = value pairs, each with its line.
 *
 * The reader knows no section or key names; config.c gives them meaning.
 * Syntax: "[section]" headers, "key = value" (or "key: value"), ';' or
 * '#' at the start of a line for a comment, ';' after white space for a
 * comment at the end of a line, an optional UTF-8 BOM, LF or CRLF.  Lines
 * may be of any length.  A line indented deeper than the key line above it
 * continues that key's value, joined with one space, when the caller says
 * the key may span lines (ini_handler.may_span); for any other key such a
 * line is an error, since a URL or a number split over lines is a
 * mistake, not a style.  A blank line or a header ends a value; comment
 * lines inside one are skipped.  NUL bytes, invalid UTF-8 and control
 * characters other than tab are refused with their line and column.
 */
#ifndef WIREWATCH_INI_H
#define WIREWATCH_INI_H

#include <stddef.h>

/* Larger is not a configuration file (or is /dev/zero). */
#define INI_MAX_FILE (128 * 1024 * 1024)

/* Where one line of a value spanning lines starts in the joined value. */
struct ini_piece {
	size_t off;
	int line;
};

/*
 * The callbacks return 0 to go on, or -1 to stop the reader (having
 * recorded their own error).  Every string is valid UTF-8 without control
 * characters other than tab, and lives only during the call.
 */
struct ini_handler {
	/* A "[name]" header; name is the text between the brackets, trimmed. */
	int (*section)(void *arg, int line, const char *name);
	/*
	 * A complete "key = value" (value may be "", key is never "").  line
	 * is the key's; pieces[0..npieces) says where each line of a value
	 * that spans lines starts in it (npieces >= 1, pieces[0].off == 0).
	 */
	int (*key)(void *arg, int line, const char *key, const char *value,
	    const struct ini_piece *pieces, size_t npieces);
	/* 1 when key, in the section last announced, may span lines; NULL: none. */
	int (*may_span)(void *arg, const char *key);
	/* Those keys for messages, e.g. "'query' and 'sinks'"; NULL: none. */
	const char *span_keys;
};

/*
 * The whole of path (any kind of file but a directory, at most
 * INI_MAX_FILE bytes), malloc'd with a NUL after the *len bytes; NULL
 * with "PATH: reason" in err.
 */
char *ini_read_file(const char *path, size_t *len, char *err, size_t errlen);

/*
 * Reads text[0..len) (text[len] must exist and be writable: lines are cut
 * in place) and calls h for each header and key in order.  path names the
 * text in messages.  Returns 0, or -1 when a callback stopped it (err
 * untouched) or on an error of the text itself, with "PATH:LINE: message"
 * in err.
 */
int ini_parse(const char *path, char *text, size_t len,
    const struct ini_handler *h, void *arg, char *err, size_t errlen);

/* Characters (code points) in valid UTF-8 s[0..n): columns in messages. */
size_t ini_columns(const char *s, size_t n);

#endif
