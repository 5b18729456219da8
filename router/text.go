package router

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// UnsafeRune reports whether r must never reach a terminal as it is: C0
// and C1 controls, DEL, the bidi and direction marks (U+061C, U+200E,
// U+200F, U+202A-U+202E, U+2066-U+2069) and the line and paragraph
// separators (U+2028, U+2029). Every output form escapes these, and ids
// may not contain them (the pgstore schema's routeops_clean_text refuses
// the same set; a test compares the two).
func UnsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// MaxIDLen is the longest org, queue, team or agent id, in characters.
const MaxIDLen = 128

// ErrBadID refuses an org, queue, team or agent id that is empty, too
// long, not UTF-8, or holds a character UnsafeRune refuses.
var ErrBadID = errors.New("invalid id")

// CheckID validates an org, queue, team or agent id; kind names which, for
// the message. Stores refuse what it refuses.
func CheckID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: the %s id is empty", ErrBadID, kind)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: the %s id is not valid UTF-8", ErrBadID, kind)
	case utf8.RuneCountInString(id) > MaxIDLen:
		return fmt.Errorf("%w: the %s id is longer than %d characters", ErrBadID, kind, MaxIDLen)
	}
	for _, r := range id {
		if UnsafeRune(r) {
			return fmt.Errorf("%w: the %s id contains the control or bidi character U+%04X, which ids may not hold", ErrBadID, kind, r)
		}
	}
	return nil
}

// CheckName validates a person's or process's name that routeops records
// (an operator, an OS user): valid UTF-8, at most MaxIDLen characters, and
// no character UnsafeRune refuses. what names the source, for the message.
func CheckName(what, name string) error {
	switch {
	case !utf8.ValidString(name):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case utf8.RuneCountInString(name) > MaxIDLen:
		return fmt.Errorf("%s is longer than %d characters", what, MaxIDLen)
	}
	for _, r := range name {
		if UnsafeRune(r) {
			return fmt.Errorf("%s %q contains control characters or bidi marks (U+%04X), which names may not hold", what, name, r)
		}
	}
	return nil
}
