package config

import (
	"errors"
	"strings"

	"github.com/routeops/routeops/redact"
)

// Error is a bad configuration value. Its message names the key, the bad
// value and what is allowed, for example
//
//	config: routing.on_item_fault: "qurantine" is not allowed (allowed: quarantine, skip, block)
//	config: health.stall_after: "soon" is not a duration (e.g. 30s, 5m)
//
// When Load knows where the value came from, the message ends with it
// ("; from environment variable ROUTEOPS_ROUTING_ON_ITEM_FAULT").
// The value of a secret key (dsn) is never shown.
type Error struct {
	// Key is the config key, e.g. "routing.on_item_fault".
	Key string
	// Value is the offending value as written ("" for a secret key).
	Value string
	// Allowed describes the allowed values, e.g. "quarantine, skip, block"
	// or "1 to 256".
	Allowed string
	// Msg is everything after the key: the quoted value and the problem.
	Msg string
	// Source says where the value came from: "file PATH",
	// "env ROUTEOPS_...", "flag --NAME", "default", or "" when unknown.
	Source string

	// text, when set, is the whole message with secrets removed.
	text string
}

func (e *Error) Error() string {
	if e.text != "" {
		return e.text
	}
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Key)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if s := describeSource(e.Source); s != "" {
		b.WriteString("; ")
		b.WriteString(s)
	}
	return b.String()
}

// describeSource turns a Source value into a phrase for a message.
func describeSource(src string) string {
	switch {
	case strings.HasPrefix(src, "file "):
		return "in " + strings.TrimPrefix(src, "file ")
	case strings.HasPrefix(src, "env "):
		return "from environment variable " + strings.TrimPrefix(src, "env ")
	case strings.HasPrefix(src, "flag "):
		return "from flag " + strings.TrimPrefix(src, "flag ")
	case strings.HasPrefix(src, "credential "):
		return "in credential " + strings.TrimPrefix(src, "credential ")
	}
	return ""
}

// FileError is a config file that cannot be used: it does not exist (when
// named explicitly), cannot be read, or does not parse. Msg holds the
// parser's complaint, with a line number when the parser gives one.
type FileError struct {
	Path string
	Msg  string

	text string // see Error.text
}

func (e *FileError) Error() string {
	if e.text != "" {
		return e.text
	}
	return "config: file " + e.Path + ": " + e.Msg
}

// scrubError returns err with every secret removed from its message. An
// *Error or *FileError keeps its type and fields (scrubbed).
func scrubError(s redact.Secrets, err error) error {
	if err == nil || len(s) == 0 {
		return err
	}
	var e *Error
	if errors.As(err, &e) && error(e) == err {
		c := *e
		c.Key, c.Value, c.Allowed, c.Msg, c.Source = s.Scrub(c.Key), s.Scrub(c.Value), s.Scrub(c.Allowed), s.Scrub(c.Msg), s.Scrub(c.Source)
		c.text = ""
		if msg := s.Scrub(e.Error()); msg != c.Error() {
			c.text = msg
		}
		return &c
	}
	var fe *FileError
	if errors.As(err, &fe) && error(fe) == err {
		c := &FileError{Path: s.Scrub(fe.Path), Msg: s.Scrub(fe.Msg)}
		if msg := s.Scrub(fe.Error()); msg != c.Error() {
			c.text = msg
		}
		return c
	}
	if msg := err.Error(); s.Scrub(msg) != msg {
		return errors.New(s.Scrub(msg))
	}
	return err
}
