// Package redacttest writes a password into DSNs the ways people do, for
// the tests that check that no message ever holds it (package redact's own,
// and config's).
package redacttest

import (
	"fmt"
	"strings"
)

// PercentEncodeAll percent-encodes every byte but the URL-unreserved ones.
func PercentEncodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// PercentEncodeSome encodes only what a URL cannot hold, as people do.
func PercentEncodeSome(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; strings.IndexByte("%@/?#: &=", c) >= 0 || c >= 0x80 {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// QuoteKeyword single-quotes a keyword/value DSN value, escaping
// backslashes and quotes.
func QuoteKeyword(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// EscapeKeyword writes an unquoted keyword/value DSN value, escaping
// spaces, backslashes and a leading quote.
func EscapeKeyword(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; strings.IndexByte(" \t\n\r\v\f\\", c) >= 0 || c == '\'' && i == 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
