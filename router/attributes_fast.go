package router

import (
	"unicode/utf8"
)

// parseFast decodes the common shape of attributes without encoding/json:
// an object whose keys are the five known ones, each at most once, with
// plain values (strings without escapes, digit-only priority, arrays of
// such strings, null). It reports ok=false for anything else, including
// every invalid input, and ParseAttributes then takes the strict path,
// which gives the precise error. So the fast path can only ever accept
// what the strict path accepts (FuzzFastPathAgrees checks it).
func parseFast(b []byte) (a Attributes, ok bool) {
	p := fastParser{b: b}
	p.ws()
	if !p.eat('{') {
		return a, false
	}
	var seen uint8
	p.ws()
	if p.peek() == '}' {
		return a, false // empty object: the strict path says what is missing
	}
	for {
		p.ws()
		key, kok := p.str()
		if !kok {
			return a, false
		}
		p.ws()
		if !p.eat(':') {
			return a, false
		}
		p.ws()
		if !p.field(string(key), &a, &seen) {
			return a, false
		}
		p.ws()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return a, false
		}
	}
	p.ws()
	if p.i != len(p.b) || seen&(seenPriority|seenChannel) != seenPriority|seenChannel {
		return a, false
	}
	return a, true
}

// The keys parseFast has seen, one bit each: a key seen twice goes to the
// strict path.
const (
	seenPriority = 1 << iota
	seenChannel
	seenTeam
	seenTier
	seenSkills
)

// field decodes the value of one key into a. It reports false for an
// unknown or repeated key and for any value the fast path does not take.
func (p *fastParser) field(key string, a *Attributes, seen *uint8) bool {
	var bit uint8
	switch key {
	case "priority":
		bit = seenPriority
	case "channel":
		bit = seenChannel
	case "team":
		bit = seenTeam
	case "tier":
		bit = seenTier
	case "skills":
		bit = seenSkills
	}
	if bit == 0 || *seen&bit != 0 {
		return false
	}
	*seen |= bit
	switch bit {
	case seenPriority:
		n, ok := p.digits()
		if !ok || n > 100 {
			return false
		}
		a.Priority = n
	case seenChannel:
		s, ok := p.str()
		if !ok {
			return false
		}
		// Constant strings, so that the item holds no copy of the input.
		switch string(s) {
		case "chat":
			a.Channel = "chat"
		case "email":
			a.Channel = "email"
		case "sms":
			a.Channel = "sms"
		case "voice":
			a.Channel = "voice"
		default:
			return false
		}
	case seenTeam, seenTier:
		return p.shortString(bit, a)
	case seenSkills:
		return p.skills(a)
	}
	return true
}

// shortString decodes team or tier: null, or a string of 1 to its limit
// characters.
func (p *fastParser) shortString(bit uint8, a *Attributes) bool {
	if p.null() {
		return true
	}
	limit := MaxTeamLen
	if bit == seenTier {
		limit = MaxTierLen
	}
	s, ok := p.str()
	if !ok {
		return false
	}
	if n := utf8.RuneCount(s); n == 0 || n > limit {
		return false
	}
	if bit == seenTeam {
		a.Team = string(s)
	} else {
		a.Tier = string(s)
	}
	return true
}

// skills decodes null or an array of at most MaxSkills plain strings.
func (p *fastParser) skills(a *Attributes) bool {
	if p.null() {
		return true
	}
	if !p.eat('[') {
		return false
	}
	p.ws()
	if p.eat(']') {
		return true
	}
	for {
		p.ws()
		s, ok := p.str()
		if !ok {
			return false
		}
		if n := utf8.RuneCount(s); n == 0 || n > MaxSkillLen {
			return false
		}
		if len(a.Skills) == MaxSkills {
			return false
		}
		a.Skills = append(a.Skills, string(s))
		p.ws()
		if p.eat(']') {
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *fastParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) null() bool {
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// str reads a string with no escapes and no control characters; the
// caller's input was checked to be valid UTF-8.
func (p *fastParser) str() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// digits reads 1 to 3 digits with no sign, fraction or exponent, and
// checks that the number ends there.
func (p *fastParser) digits() (int, bool) {
	n, d := 0, 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int(p.b[p.i]-'0')
		p.i++
		d++
		if d > 3 {
			return 0, false
		}
	}
	if d == 0 || (d > 1 && p.b[p.i-d] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r', ',', '}':
		default:
			return 0, false
		}
	}
	return n, true
}
