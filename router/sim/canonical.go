package sim

import (
	"strconv"
	"unicode/utf8"

	"github.com/routeops/routeops/router"
)

// CanonicalJSON renders attributes the way PostgreSQL prints a jsonb value,
// so that the embedded store and pgstore hold byte-identical attributes and
// a value read back from the database compares equal to the one written.
//
// The jsonb rules: object keys ordered by length, then bytewise; one space
// after every ':' and ','; array elements keep their order; strings escape
// '"', '\\', \b, \f, \n, \r, \t, and every other control character below
// U+0020 as \u00xx (lower-case hex), and keep all other characters as raw
// UTF-8. Empty team, tier and skills are left out, as Attributes.Marshal
// does. Invalid UTF-8 in a string is written as U+FFFD. (A NUL character is
// written as \u0000, which jsonb refuses; attributes never need one.)
//
// For the five attribute keys the rule gives: team, tier, skills, channel,
// priority.
func CanonicalJSON(a router.Attributes) []byte {
	n := 40 + len(a.Channel) + len(a.Team) + len(a.Tier)
	for _, s := range a.Skills {
		n += len(s) + 4
	}
	return appendAttributes(make([]byte, 0, n), &a)
}

// appendAttributes appends the canonical JSON of a to dst.
func appendAttributes(dst []byte, a *router.Attributes) []byte {
	dst = append(dst, '{')
	sep := false
	// Keys in jsonb order: by length, then bytewise.
	if a.Team != "" {
		dst = appendKey(dst, sep, "team")
		dst = appendJSONString(dst, a.Team)
		sep = true
	}
	if a.Tier != "" {
		dst = appendKey(dst, sep, "tier")
		dst = appendJSONString(dst, a.Tier)
		sep = true
	}
	if len(a.Skills) > 0 {
		dst = appendKey(dst, sep, "skills")
		dst = append(dst, '[')
		for i, s := range a.Skills {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendJSONString(dst, s)
		}
		dst = append(dst, ']')
		sep = true
	}
	dst = appendKey(dst, sep, "channel")
	dst = appendJSONString(dst, a.Channel)
	dst = appendKey(dst, true, "priority")
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	return append(dst, '}')
}

// appendKey appends `"k": `, preceded by ", " when sep is set.
func appendKey(dst []byte, sep bool, k string) []byte {
	if sep {
		dst = append(dst, ", "...)
	}
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, `": `...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string escaped the way PostgreSQL's
// escape_json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// Fast path: printable ASCII without quotes or backslashes.
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				dst = append(dst, c)
			}
		}
		i++
	}
	return append(dst, '"')
}
