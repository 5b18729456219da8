// Package redact keeps database passwords out of every message: it masks
// the password positions of a DSN (DSN), and scrubs a DSN's password, in
// every form it could be printed in, from free text (Text, Secrets). It is
// the one redactor of routeops: config, pgstore, bench and the commands all
// use it. It imports nothing of routeops, so that any package may.
package redact

import (
	"slices"
	"strconv"
	"strings"
)

// Mask replaces a password.
const Mask = "xxxxx"

// isPasswordKey reports whether a connection parameter holds a secret.
func isPasswordKey(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	return k == "password" || k == "sslpassword"
}

// DSN returns dsn with every password replaced by xxxxx: the password in a
// URL's user info, password= and sslpassword= query parameters, and
// password= and sslpassword= keyword values (quoted or not). Everything
// else is kept, so the result still says where routeops connects. A
// malformed DSN can be read more than one way; DSN masks the password
// under every reading (libpq's, one where the password holds a raw '@' or
// '/', and one where the query starts at the first '?'), so it may hide
// more than the password but never less.
func DSN(dsn string) string {
	out, _ := redactDSN(dsn, Mask)
	return out
}

// Text replaces the DSN's password, wherever it appears inside s (an error
// message, a log line), with xxxxx; the DSN itself, where s quotes it
// whole, becomes DSN(dsn). It looks for the password both as written in
// the DSN and decoded (percent-encoding, quoting, backslash escapes). A DSN
// without a password leaves s unchanged.
func Text(s string, dsn string) string {
	sec := Of(dsn)
	if dsn != "" && len(sec) > 0 {
		s = strings.ReplaceAll(s, dsn, DSN(dsn))
	}
	return sec.Scrub(s)
}

// span is a password position [lo, hi) in a DSN. urlEnc says the text is
// percent-encoded; otherwise it may be single-quoted with backslash
// escapes (keyword/value form).
type span struct {
	lo, hi int
	urlEnc bool
}

// redactDSN masks every password position of dsn with mask and returns the
// result and the passwords found, as written and decoded.
func redactDSN(dsn, mask string) (string, []string) {
	var spans []span
	if start := schemeEnd(dsn); start >= 0 {
		spans = urlSpans(dsn, start)
	}
	spans = append(spans, keywordSpans(dsn)...)
	if len(spans) == 0 {
		return dsn, nil
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.lo != b.lo {
			return a.lo - b.lo
		}
		return a.hi - b.hi
	})
	var found []string
	for _, sp := range spans {
		found = append(found, spanVariants(dsn[sp.lo:sp.hi], sp.urlEnc)...)
	}
	var b strings.Builder
	pos := 0
	for i := 0; i < len(spans); {
		lo, hi := spans[i].lo, spans[i].hi
		j := i + 1
		for j < len(spans) && spans[j].lo <= hi {
			hi = max(hi, spans[j].hi)
			j++
		}
		if j-i > 1 {
			found = append(found, dsn[lo:hi])
		}
		b.WriteString(dsn[pos:lo])
		b.WriteString(mask)
		pos = hi
		i = j
	}
	b.WriteString(dsn[pos:])
	return b.String(), found
}

// spanVariants returns the forms in which a password could be printed.
func spanVariants(raw string, urlEnc bool) []string {
	var out []string
	if urlEnc {
		dec := percentDecode(raw)
		out = append(out, raw, dec, strings.Trim(dec, " "), percentDecode(strings.ReplaceAll(raw, "+", " ")))
	} else {
		inner := raw
		if len(inner) >= 2 && inner[0] == '\'' && inner[len(inner)-1] == '\'' {
			inner = inner[1 : len(inner)-1]
		} else if strings.HasPrefix(inner, "'") {
			inner = inner[1:]
		}
		out = append(out, raw, inner, unescapeBackslash(inner))
	}
	// A raw '@' makes the split between password and host a guess: keep
	// both sides.
	if i := strings.IndexByte(raw, '@'); i > 0 {
		out = append(out, raw[:i], raw[strings.LastIndexByte(raw, '@')+1:])
	}
	return out
}

// schemeEnd returns the index just after "scheme://" when dsn is a URL
// (after optional leading spaces), or -1.
func schemeEnd(dsn string) int {
	i := 0
	for i < len(dsn) && isSpace(dsn[i]) {
		i++
	}
	start := i
	for i < len(dsn) {
		c := dsn[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if alpha || i > start && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			i++
			continue
		}
		break
	}
	if i == start || !strings.HasPrefix(dsn[i:], "://") {
		return -1
	}
	return i + 3
}

// urlSpans finds the password positions of a URL DSN whose authority
// starts at start, under three readings:
//   - libpq's: the user info ends at the first '@' if it comes before any
//     '/'; the query starts at the next '?';
//   - wide: the user info ends at the last '@' before the host, so a
//     password with a raw '@' or '/' is covered (skipped when a '?' comes
//     before the first '@', which then is most likely in the query);
//   - query-first: the query starts at the first '?'.
func urlSpans(dsn string, start int) []span {
	p := dsn[start:]
	var spans []span
	userinfo := func(ui int) {
		if c := strings.IndexByte(p[:ui], ':'); c >= 0 {
			spans = append(spans, span{start + c + 1, start + ui, true})
		}
	}
	// libpq.
	queryFrom := 0
	if i := strings.IndexAny(p, "@/"); i >= 0 && p[i] == '@' {
		userinfo(i)
		queryFrom = i + 1
	}
	if q := strings.IndexByte(p[queryFrom:], '?'); q >= 0 {
		spans = append(spans, querySpans(dsn, start+queryFrom+q+1)...)
	}
	// Wide.
	if at := strings.IndexByte(p, '@'); at >= 0 && !strings.Contains(p[:at], "?") {
		end := len(p)
		if j := strings.IndexAny(p[at:], "/?"); j >= 0 {
			end = at + j
		}
		ui := strings.LastIndexByte(p[:end], '@')
		userinfo(ui)
		if q := strings.IndexByte(p[ui:], '?'); q >= 0 {
			spans = append(spans, querySpans(dsn, start+ui+q+1)...)
		}
	}
	// Query-first.
	if q := strings.IndexByte(p, '?'); q >= 0 {
		spans = append(spans, querySpans(dsn, start+q+1)...)
	}
	return spans
}

// querySpans returns the values of password and sslpassword parameters in
// the query that starts at dsn[from:].
func querySpans(dsn string, from int) []span {
	var spans []span
	pos := from
	for _, pair := range strings.Split(dsn[from:], "&") {
		if k, _, ok := strings.Cut(pair, "="); ok && isPasswordKey(percentDecode(k)) {
			spans = append(spans, span{pos + len(k) + 1, pos + len(pair), true})
		}
		pos += len(pair) + 1
	}
	return spans
}

// keywordSpans finds password and sslpassword values in a keyword/value
// DSN ("host=h password='se cret' user=u"), lexed as libpq does: a value is
// either single-quoted (a backslash escapes the next character) or runs to
// the next space (a backslash escapes here too). The keyword is the last
// word before '='.
func keywordSpans(dsn string) []span {
	var spans []span
	pos := 0
	for {
		eq := strings.IndexByte(dsn[pos:], '=')
		if eq < 0 {
			return spans
		}
		key := strings.TrimRight(dsn[pos:pos+eq], " \t\n\r\v\f")
		if i := strings.LastIndexAny(key, " \t\n\r\v\f"); i >= 0 {
			key = key[i+1:]
		}
		pos += eq + 1
		for pos < len(dsn) && isSpace(dsn[pos]) {
			pos++
		}
		lo := pos
		if pos < len(dsn) && dsn[pos] == '\'' {
			pos++
			for pos < len(dsn) && dsn[pos] != '\'' {
				if dsn[pos] == '\\' {
					pos++
				}
				pos++
			}
			pos = min(pos+1, len(dsn))
		} else {
			for pos < len(dsn) && !isSpace(dsn[pos]) {
				if dsn[pos] == '\\' {
					pos++
				}
				pos++
			}
			pos = min(pos, len(dsn))
		}
		if isPasswordKey(key) {
			spans = append(spans, span{lo, pos, false})
			var more []span
			pos, more = malformedTail(dsn, lo, pos)
			spans = append(spans, more...)
		}
	}
}

// malformedTail covers what libpq would misread after a password value
// that ends at pos: a quote inside the password ("password='se'cret'")
// ends the value early, and the rest ("cret'") is a word without '=',
// which the driver's error then quotes ("missing = after cret'"). Each
// such word up to the next key=value is part of the password: it returns
// where they end and their spans (each word, each without its quotes, and
// the whole password with them).
func malformedTail(dsn string, lo, pos int) (int, []span) {
	var spans []span
	end := pos
	for {
		q := end
		for q < len(dsn) && isSpace(dsn[q]) {
			q++
		}
		r := q
		for r < len(dsn) && !isSpace(dsn[r]) {
			r++
		}
		if q >= len(dsn) || strings.Contains(dsn[q:r], "=") {
			break
		}
		spans = append(spans, span{q, r, false})
		if t := strings.Trim(dsn[q:r], "'"); t != "" && t != dsn[q:r] {
			i := q + strings.Index(dsn[q:r], t)
			spans = append(spans, span{i, i + len(t), false})
		}
		end = r
	}
	if end > pos {
		spans = append(spans, span{lo, end, false})
	}
	return end, spans
}

// percentDecode decodes %XX sequences and leaves anything malformed alone.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func unescapeBackslash(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Secrets are strings that must never appear in a message.
type Secrets []string

// Of returns the passwords of a DSN in every form that could be printed.
func Of(dsn string) Secrets {
	var s Secrets
	s.AddDSN(dsn)
	return s
}

// Add adds values, and the forms Go's %q prints them in, as secrets.
func (s *Secrets) Add(vals ...string) {
	for _, v := range vals {
		// Messages quote values Go-style ("%q"), which escapes quotes,
		// backslashes and control characters: that form is a secret too.
		q := strconv.Quote(v)
		for _, form := range []string{v, q[1 : len(q)-1]} {
			if form != "" && !slices.Contains(*s, form) {
				*s = append(*s, form)
			}
		}
	}
}

// AddDSN adds the passwords of dsn, in every form that could be printed.
func (s *Secrets) AddDSN(dsn string) {
	if dsn == "" {
		return
	}
	_, found := redactDSN(dsn, Mask)
	s.Add(found...)
	// With stray spaces around it a DSN may be read either way.
	if t := strings.TrimSpace(dsn); t != dsn {
		_, found = redactDSN(t, Mask)
		s.Add(found...)
	}
}

// AddText scans free text (a config file, which may not even parse) for
// anything shaped like a DSN password: the user info of a URL, and values
// after "password=" or "password:". It over-collects on purpose: a parser's
// complaint about a broken file may quote any of it.
func (s *Secrets) AddText(text string) {
	const maxCandidate = 4096 // longer than any real DSN
	clip := func(s string) string { return s[:min(len(s), maxCandidate)] }
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' })
	for _, line := range lines {
		// URLs: each "://" to the end of its line, with and without
		// trailing quoting.
		for rest := line; ; {
			i := strings.Index(rest, "://")
			if i < 0 {
				break
			}
			u := "x" + clip(rest[i:])
			s.AddDSN(u)
			s.AddDSN(strings.TrimRight(u, "\"', }]#"))
			if j := strings.IndexAny(u, "\"'` "); j > 0 {
				s.AddDSN(u[:j])
			}
			rest = rest[i+3:]
		}
		// password=..., password: ...
		lower := strings.ToLower(line)
		for from := 0; ; {
			i := strings.Index(lower[from:], "password")
			if i < 0 {
				break
			}
			k := from + i + len("password")
			from = k
			for k < len(line) && (line[k] == ' ' || line[k] == '\t' || line[k] == '"' || line[k] == '\'') {
				k++
			}
			if k >= len(line) || line[k] != '=' && line[k] != ':' {
				continue
			}
			val := clip(strings.TrimLeft(line[k+1:], " \t"))
			s.AddDSN("password=" + val)
			t := strings.TrimSpace(val)
			u := strings.Trim(t, `"'`)
			s.Add(t, u, percentDecode(u))
			if j := strings.IndexAny(u, "&#\"' ,}"); j > 0 {
				s.Add(u[:j], percentDecode(u[:j]))
			}
		}
	}
}

// Scrub replaces every secret in msg with the mask, until none is left.
// This ends: each replacement either removes a character that is not a
// mask character, or (for a secret made only of mask characters, which is
// longer than the mask) shortens the text. A secret that fits inside the
// mask picks another mask.
func (s Secrets) Scrub(msg string) string {
	if len(s) == 0 || msg == "" {
		return msg
	}
	mask := ""
	for _, m := range []string{Mask, "*****", "#####"} {
		if !slices.ContainsFunc(s, func(sec string) bool { return strings.Contains(m, sec) }) {
			mask = m
			break
		}
	}
	if mask == "" {
		return withheld
	}
	// Longest first, so that a secret inside another goes with it.
	sorted := slices.Clone([]string(s))
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for range 100000 {
		changed := false
		for _, sec := range sorted {
			if strings.Contains(msg, sec) {
				msg = strings.ReplaceAll(msg, sec, mask)
				changed = true
			}
		}
		if !changed {
			return msg
		}
	}
	return withheld
}

const withheld = "[message withheld: it contained a secret]"
