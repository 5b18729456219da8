package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on revision attributes. They bound the work a hostile or broken
// writer can cause, and they are mirrored by the SQL function
// routeops_attributes_valid in the pgstore schema.
const (
	MaxAttributesBytes = 64 << 10
	MaxTeamLen         = 64
	MaxTierLen         = 32
	MaxSkills          = 32
	MaxSkillLen        = 64
)

// Channels allowed in attributes.
var Channels = []string{"chat", "email", "sms", "voice"}

// Attributes are the decoded routing attributes of a revision.
type Attributes struct {
	Priority int      `json:"priority"`
	Channel  string   `json:"channel"`
	Team     string   `json:"team,omitempty"`
	Skills   []string `json:"skills,omitempty"`
	Tier     string   `json:"tier,omitempty"`
}

// AttributeError says why attributes are corrupt. It is a permanent item
// fault of class corrupt_revision.
type AttributeError struct{ Reason string }

func (e *AttributeError) Error() string { return "corrupt attributes: " + e.Reason }

func attrErr(format string, args ...any) error {
	return &AttributeError{Reason: fmt.Sprintf(format, args...)}
}

// rawAttributes decodes the known keys without interpreting them, so that
// each can be type-checked strictly (encoding/json would, for instance,
// accept the string "5" into a json.Number).
type rawAttributes struct {
	Priority json.RawMessage `json:"priority"`
	Channel  json.RawMessage `json:"channel"`
	Team     json.RawMessage `json:"team"`
	Skills   json.RawMessage `json:"skills"`
	Tier     json.RawMessage `json:"tier"`
}

// ParseAttributes decodes and validates revision attributes. The rules:
// a JSON object; "priority" an integer 0..100 written as digits; "channel"
// one of chat, email, sms, voice; optional "team" and "tier" non-empty
// strings; optional "skills" an array of non-empty strings; null counts as
// absent for the optional keys; no other keys. Anything else is corrupt.
func ParseAttributes(b []byte) (Attributes, error) {
	var a Attributes
	if len(b) == 0 {
		return a, attrErr("empty")
	}
	if len(b) > MaxAttributesBytes {
		return a, attrErr("too large (%d bytes, limit %d)", len(b), MaxAttributesBytes)
	}
	if !utf8.Valid(b) {
		return a, attrErr("not valid UTF-8")
	}
	if fa, ok := parseFast(b); ok {
		return fa, nil
	}
	return parseStrict(b)
}

// parseStrict is the complete decoder, with precise error messages.
func parseStrict(b []byte) (Attributes, error) {
	var a Attributes
	raw, err := strictFields(b)
	if err != nil {
		return a, err
	}
	if a.Priority, err = strictPriority(raw.Priority); err != nil {
		return a, err
	}
	if isAbsent(raw.Channel) {
		return a, attrErr("channel is missing")
	}
	ch, ok := jsonString(raw.Channel)
	if !ok || !slices.Contains(Channels, ch) {
		return a, attrErr("channel must be one of chat, email, sms, voice, got %s", clip(raw.Channel))
	}
	a.Channel = ch
	if a.Team, err = optionalString("team", raw.Team, MaxTeamLen); err != nil {
		return a, err
	}
	if a.Tier, err = optionalString("tier", raw.Tier, MaxTierLen); err != nil {
		return a, err
	}
	if a.Skills, err = strictSkills(raw.Skills); err != nil {
		return a, err
	}
	return a, nil
}

// strictFields checks the envelope (size, UTF-8, one JSON object and
// nothing after it) and splits the object into its known keys, refusing
// any other key.
func strictFields(b []byte) (rawAttributes, error) {
	var raw rawAttributes
	if len(b) == 0 {
		return raw, attrErr("empty")
	}
	if len(b) > MaxAttributesBytes {
		return raw, attrErr("too large (%d bytes, limit %d)", len(b), MaxAttributesBytes)
	}
	if !utf8.Valid(b) {
		return raw, attrErr("not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return raw, attrErr("not a JSON object")
	}
	// Decode into a map so that keys match exactly (encoding/json matches
	// struct fields case-insensitively, even under Unicode folding); the
	// last of duplicate keys wins, as in PostgreSQL's jsonb.
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&fields); err != nil {
		return raw, attrErr("does not decode: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return raw, attrErr("trailing data after the object")
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := fields[k]
		switch k {
		case "priority":
			raw.Priority = v
		case "channel":
			raw.Channel = v
		case "team":
			raw.Team = v
		case "skills":
			raw.Skills = v
		case "tier":
			raw.Tier = v
		default:
			return raw, attrErr("unknown key %s", strconv.Quote(k))
		}
	}
	return raw, nil
}

// strictPriority decodes a priority: a whole number from 0 to 100.
func strictPriority(p json.RawMessage) (int, error) {
	if isAbsent(p) {
		return 0, attrErr("priority is missing")
	}
	if len(p) > 3 || !allDigits(p) {
		return 0, attrErr("priority must be a whole number from 0 to 100, got %s", clip(p))
	}
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	if n > 100 {
		return 0, attrErr("priority must be a whole number from 0 to 100, got %d", n)
	}
	return n, nil
}

// strictSkills decodes the optional skills: an array of at most MaxSkills
// strings of 1 to MaxSkillLen characters.
func strictSkills(v json.RawMessage) ([]string, error) {
	if isAbsent(v) {
		return nil, nil
	}
	var items []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &items) != nil {
		return nil, attrErr("skills must be an array of strings, got %s", clip(v))
	}
	if len(items) > MaxSkills {
		return nil, attrErr("skills has %d entries, limit %d", len(items), MaxSkills)
	}
	if len(items) == 0 {
		return nil, nil
	}
	skills := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := jsonString(it)
		if !ok {
			return nil, attrErr("skills must be an array of strings, got element %s", clip(it))
		}
		if l := utf8.RuneCountInString(s); l == 0 || l > MaxSkillLen {
			return nil, attrErr("each skill must be 1 to %d characters", MaxSkillLen)
		}
		skills = append(skills, s)
	}
	return skills, nil
}

// ValidateAttributes reports whether attributes are valid.
func ValidateAttributes(b []byte) error {
	_, err := ParseAttributes(b)
	return err
}

// Marshal renders attributes the way PostgreSQL prints a jsonb value (keys
// ordered by length then bytewise, one space after ':' and ','), so that
// what routeops writes reads back byte for byte from either store.
func (a Attributes) Marshal() []byte {
	var b bytes.Buffer
	str := func(s string) { writeJSONBString(&b, s) }
	b.WriteByte('{')
	sep := func() {
		if b.Len() > 1 {
			b.WriteString(", ")
		}
	}
	if a.Team != "" {
		sep()
		b.WriteString(`"team": `)
		str(a.Team)
	}
	if a.Tier != "" {
		sep()
		b.WriteString(`"tier": `)
		str(a.Tier)
	}
	if len(a.Skills) > 0 {
		sep()
		b.WriteString(`"skills": [`)
		for i, s := range a.Skills {
			if i > 0 {
				b.WriteString(", ")
			}
			str(s)
		}
		b.WriteByte(']')
	}
	sep()
	b.WriteString(`"channel": `)
	str(a.Channel)
	b.WriteString(`, "priority": `)
	b.WriteString(strconv.Itoa(a.Priority))
	b.WriteByte('}')
	return b.Bytes()
}

// ClassifyRevision turns the result of loading an item's current revision
// into a fault class: missing_revision when the row is gone,
// corrupt_revision when its attributes do not decode or validate.
func ClassifyRevision(found bool, revisionID int64, attrs []byte) (Attributes, Cause, error) {
	if !found {
		return Attributes{}, CauseMissingRevision, fmt.Errorf("current revision %d not found", revisionID)
	}
	if len(attrs) > MaxAttributesBytes {
		return Attributes{}, CauseOversizedAttributes, OversizedError(revisionID, len(attrs))
	}
	a, err := ParseAttributes(attrs)
	if err != nil {
		return Attributes{}, CauseCorruptRevision, fmt.Errorf("revision %d: %w", revisionID, err)
	}
	return a, CauseNone, nil
}

// OversizedError describes a revision whose attributes are over the size
// limit, for the item's last error.
func OversizedError(revisionID int64, bytes int) error {
	return fmt.Errorf("revision %d: attributes too large (%d bytes, over the size limit); not loaded", revisionID, bytes)
}

// ClassifyClaimed classifies a claimed item's current revision, as
// ClassifyRevision does, and an oversized one (which the store did not
// load) as oversized_attributes.
func ClassifyClaimed(ci *ClaimedItem) (Attributes, Cause, error) {
	if ci.RevisionFound && ci.Oversized {
		return Attributes{}, CauseOversizedAttributes, OversizedError(ci.Item.CurrentRevisionID, ci.Bytes)
	}
	return ClassifyRevision(ci.RevisionFound, ci.Item.CurrentRevisionID, ci.Attributes)
}

// ClassifyHead classifies a queue head's current revision as
// ClassifyClaimed does.
func ClassifyHead(h *HeadItem) (Attributes, Cause, error) {
	if h.RevisionFound && h.Oversized {
		return Attributes{}, CauseOversizedAttributes, OversizedError(h.CurrentRevisionID, h.Bytes)
	}
	return ClassifyRevision(h.RevisionFound, h.CurrentRevisionID, h.Attributes)
}

// PriorityOf returns the priority of attributes, or 0 when they are invalid.
// Stores denormalize it onto the item so that the head is an index scan.
func PriorityOf(b []byte) int {
	a, err := ParseAttributes(b)
	if err != nil {
		return 0
	}
	return a.Priority
}

func isAbsent(r json.RawMessage) bool {
	return len(r) == 0 || string(r) == "null"
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func jsonString(r json.RawMessage) (string, bool) {
	if len(r) == 0 || r[0] != '"' {
		return "", false
	}
	// encoding/json turns an unpaired UTF-16 surrogate escape into U+FFFD;
	// PostgreSQL refuses it. Refuse it too, so both stores agree.
	if loneSurrogate(r) {
		return "", false
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		return "", false
	}
	// PostgreSQL cannot store NUL in text or jsonb; refusing it here keeps
	// both stores agreeing on what is valid.
	if strings.ContainsRune(s, 0) {
		return "", false
	}
	return s, true
}

func optionalString(key string, r json.RawMessage, max int) (string, error) {
	if isAbsent(r) {
		return "", nil
	}
	s, ok := jsonString(r)
	if !ok {
		return "", attrErr("%s must be a string, got %s", key, clip(r))
	}
	if l := utf8.RuneCountInString(s); l == 0 || l > max {
		return "", attrErr("%s must be 1 to %d characters", key, max)
	}
	return s, nil
}

// clip shortens a raw value for an error message, on a rune boundary, and
// keeps the message valid UTF-8.
func clip(r []byte) string {
	const max = 40
	if len(r) <= max {
		return strings.ToValidUTF8(string(r), "\uFFFD")
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(r[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(r[:cut]), "\uFFFD") + "…"
}

// IsAttributeError reports whether err is a corrupt-attributes error.
func IsAttributeError(err error) bool {
	var ae *AttributeError
	return errors.As(err, &ae)
}

// CorruptAttributes returns one of a few attribute values that are valid
// JSON (PostgreSQL's jsonb accepts them) but not valid attributes. Drills
// use them to corrupt revisions.
func CorruptAttributes(i int) []byte {
	vals := []string{
		`{"priority": "high", "channel": "chat"}`,
		`{"channel": "fax", "priority": 10}`,
		`"garbage"`,
		`{"priority": 500, "channel": "email"}`,
		`[1, 2, 3]`,
	}
	return []byte(vals[uint(i)%uint(len(vals))])
}

// writeJSONBString writes s as a JSON string the way PostgreSQL prints one
// in jsonb output: '"' and '\\' escaped, \b \f \n \r \t, other control
// characters as \u00xx, everything else (including U+2028 and U+2029,
// which encoding/json escapes) as raw UTF-8.
func writeJSONBString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// loneSurrogate reports whether a raw JSON string holds a \uD800-\uDFFF
// escape that is not part of a high-low pair.
func loneSurrogate(r []byte) bool {
	hex4 := func(i int) (int, bool) {
		if i+4 > len(r) {
			return 0, false
		}
		n := 0
		for _, c := range r[i : i+4] {
			switch {
			case c >= '0' && c <= '9':
				n = n*16 + int(c-'0')
			case c >= 'a' && c <= 'f':
				n = n*16 + int(c-'a'+10)
			case c >= 'A' && c <= 'F':
				n = n*16 + int(c-'A'+10)
			default:
				return 0, false
			}
		}
		return n, true
	}
	for i := 0; i < len(r); i++ {
		if r[i] != '\\' || i+1 >= len(r) {
			continue
		}
		if r[i+1] != 'u' {
			i++ // skip the escaped character
			continue
		}
		u, ok := hex4(i + 2)
		if !ok {
			return false // not valid JSON; the decoder says so
		}
		switch {
		case u >= 0xD800 && u <= 0xDBFF:
			if i+7 < len(r) && r[i+6] == '\\' && r[i+7] == 'u' {
				if lo, ok := hex4(i + 8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 11
					continue
				}
			}
			return true
		case u >= 0xDC00 && u <= 0xDFFF:
			return true
		}
		i += 5
	}
	return false
}
