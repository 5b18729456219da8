package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// ItemSelector names a set of items: the one selector behind items list,
// quarantine, release and repair. Every filter that is set must hold (they
// are ANDed); explicit IDs intersect the filters. Stores evaluate it with
// set-based queries; Matches is the reference semantics that memstore
// implements and the conformance suite checks pgstore against.
type ItemSelector struct {
	Org string
	// Queue needs Org.
	Queue string
	State ItemState
	// Cause is the item's recorded fault cause (work_items.fault_cause).
	Cause Cause
	// WaitedOver keeps items that have waited longer than this at Now
	// (Now - enqueued_at > WaitedOver).
	WaitedOver time.Duration
	// Attrs must all match (see AttrMatch).
	Attrs []AttrMatch
	// Revision keeps items whose current revision, or whose journal copy,
	// is this revision.
	Revision int64
	IDs      []int64
	// Scope narrows the selection to the items an action applies to.
	Scope SelectScope
	// RevisionHealth narrows by the state of the current revision.
	RevisionHealth RevisionHealth
	// ExcludeOperation leaves out items that already carry an event of
	// this operation: a resumed bulk action never changes an item twice.
	ExcludeOperation string
	// After and Limit page in id order (ids greater than After).
	After int64
	Limit int
	// Now is the reference time for WaitedOver.
	Now time.Time
}

// SelectScope is the set of states an action applies to.
type SelectScope string

const (
	// ScopeAny: every item.
	ScopeAny SelectScope = ""
	// ScopeQuarantine: queued items (skipped ones included).
	ScopeQuarantine SelectScope = "quarantine"
	// ScopeRelease: quarantined items, and queued items flagged by the skip
	// policy.
	ScopeRelease SelectScope = "release"
	// ScopeLive: queued, quarantined and assigned items, the ones repair
	// and verify look at.
	ScopeLive SelectScope = "live"
)

// RevisionHealth filters by the current revision.
type RevisionHealth string

const (
	RevisionAny RevisionHealth = ""
	// RevisionBroken: the current revision is missing or its attributes
	// are invalid (what repair fixes).
	RevisionBroken RevisionHealth = "broken"
	// RevisionSound: the current revision exists and is valid.
	RevisionSound RevisionHealth = "sound"
)

// Filtered reports whether any filter narrows the selection (ids count as
// a filter). Scope, paging and Now do not.
func (s ItemSelector) Filtered() bool {
	return s.Org != "" || s.Queue != "" || s.State != "" || s.Cause != "" || s.WaitedOver > 0 ||
		len(s.Attrs) > 0 || s.Revision != 0 || len(s.IDs) > 0
}

// ItemCauses are the fault causes an item can record.
var ItemCauses = []Cause{CauseMissingRevision, CauseCorruptRevision, CauseUnknownQueue}

// Validate checks a selector that an operator put together.
func (s ItemSelector) Validate() error {
	if s.Queue != "" && s.Org == "" {
		return errors.New("--queue needs --org (a queue name is only unique within its org)")
	}
	if s.State != "" {
		if _, err := ParseItemState(string(s.State)); err != nil {
			return err
		}
	}
	if s.Cause != "" && !slices.Contains(ItemCauses, s.Cause) {
		return fmt.Errorf("unknown cause %q (allowed: missing_revision, corrupt_revision, unknown_queue)", s.Cause)
	}
	if s.WaitedOver < 0 {
		return errors.New("--waited-over must not be negative")
	}
	if s.Revision < 0 {
		return errors.New("--revision must be a positive revision id")
	}
	for _, id := range s.IDs {
		if id <= 0 {
			return fmt.Errorf("item id %d is not a positive whole number", id)
		}
	}
	for _, a := range s.Attrs {
		if a.Key == "" {
			return errors.New("--attr needs KEY=VALUE with a non-empty key")
		}
	}
	return nil
}

// MatchesItem applies the selector's filters on the item's own fields
// (org, queue, state, cause, wait, revision, ids, scope, paging). The
// attribute and revision-health filters need the item's current revision
// and are applied by Matches.
func (s ItemSelector) MatchesItem(it *WorkItem) bool {
	switch {
	case s.Org != "" && it.OrgID != s.Org,
		s.Queue != "" && it.QueueID != s.Queue,
		s.State != "" && it.State != s.State,
		s.Cause != "" && it.FaultCause != s.Cause,
		s.WaitedOver > 0 && !(s.Now.Sub(it.EnqueuedAt) > s.WaitedOver),
		s.Revision != 0 && it.CurrentRevisionID != s.Revision && it.JournalRevisionID != s.Revision,
		len(s.IDs) > 0 && !slices.Contains(s.IDs, it.ID),
		it.ID <= s.After:
		return false
	}
	switch s.Scope {
	case ScopeQuarantine:
		return it.State == StateQueued
	case ScopeRelease:
		return it.State == StateQuarantined || (it.State == StateQueued && it.Skipped)
	case ScopeLive:
		return it.State == StateQueued || it.State == StateQuarantined || it.State == StateAssigned
	}
	return true
}

// Matches is the whole selector on one item. rev is the item's current
// revision as the store holds it (found false when the row is missing).
// Broken follows what repair fixes: a missing revision, or attributes that
// do not validate.
func (s ItemSelector) Matches(it *WorkItem, revFound bool, revAttrs []byte) bool {
	if !s.MatchesItem(it) {
		return false
	}
	switch s.RevisionHealth {
	case RevisionBroken:
		if revFound && ValidateAttributes(revAttrs) == nil {
			return false
		}
	case RevisionSound:
		if !revFound || ValidateAttributes(revAttrs) != nil {
			return false
		}
	}
	if len(s.Attrs) == 0 {
		return true
	}
	doc := SearchAttributes(it, revFound, revAttrs)
	if doc == nil {
		return false
	}
	for _, a := range s.Attrs {
		if !a.Match(doc) {
			return false
		}
	}
	return true
}

// SearchAttributes is the document that attribute filters look at: the
// journal copy kept on the item when it is the copy of the current
// revision (which survives the revision row, and keeps what a revision
// said when it was written even if the row was later rewritten in place),
// otherwise the current revision's attributes, otherwise nothing.
func SearchAttributes(it *WorkItem, revFound bool, revAttrs []byte) []byte {
	if it.JournalRevisionID != 0 && it.JournalRevisionID == it.CurrentRevisionID && len(it.JournalAttributes) > 0 {
		return it.JournalAttributes
	}
	if revFound {
		return revAttrs
	}
	return nil
}

// AttrMatch is one --attr KEY=VALUE filter. It matches when the
// attribute KEY of the document is the string VALUE, or a number equal to
// VALUE (when VALUE is a JSON number), or an array with such an element.
type AttrMatch struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (a AttrMatch) String() string { return a.Key + "=" + a.Value }

// ParseAttrMatch parses KEY=VALUE.
func ParseAttrMatch(s string) (AttrMatch, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return AttrMatch{}, fmt.Errorf("malformed --attr %q: give it as KEY=VALUE, such as tier=gold or skills=billing", s)
	}
	return AttrMatch{Key: k, Value: v}, nil
}

// number returns VALUE as a JSON number literal, if it is one.
func (a AttrMatch) number() (json.Number, bool) {
	v := strings.TrimSpace(a.Value)
	if v == "" {
		return "", false
	}
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil || dec.More() {
		return "", false
	}
	n, ok := x.(json.Number)
	return n, ok
}

// Containments returns the JSON documents D such that the attribute
// matches exactly when the document contains one of them (jsonb's @>):
// {KEY: VALUE}, {KEY: [VALUE]}, and the same with VALUE as a number when
// it is one. pgstore matches with them on a GIN index.
func (a AttrMatch) Containments() [][]byte {
	vals := []any{a.Value}
	if n, ok := a.number(); ok {
		vals = append(vals, n)
	}
	var out [][]byte
	for _, v := range vals {
		for _, w := range []any{v, []any{v}} {
			b, err := json.Marshal(map[string]any{a.Key: w})
			if err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// Match reports whether a JSON document matches, with the semantics of
// Containments under jsonb containment: strings compare byte for byte
// after unescaping, numbers by value, arrays by any element (one level).
func (a AttrMatch) Match(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return false
	}
	v, ok := m[a.Key]
	if !ok {
		return false
	}
	num, isNum := a.number()
	scalar := func(x any) bool {
		switch y := x.(type) {
		case string:
			return y == a.Value
		case json.Number:
			return isNum && numEqual(y, num)
		}
		return false
	}
	if arr, ok := v.([]any); ok {
		return slices.ContainsFunc(arr, scalar)
	}
	return scalar(v)
}

// numEqual compares two JSON numbers by value, exactly, in time linear in
// their length (a hostile exponent such as 1e999999999 costs nothing).
func numEqual(a, b json.Number) bool {
	x, ok1 := canonNumber(string(a))
	y, ok2 := canonNumber(string(b))
	return ok1 && ok2 && x.neg == y.neg && x.digits == y.digits && x.exp.Cmp(y.exp) == 0
}

// canonical is a number as sign, significant digits (no leading or
// trailing zeros) and the power of ten of the last digit. Zero has no
// digits and no sign.
type canonical struct {
	neg    bool
	digits string
	exp    *big.Int
}

func canonNumber(s string) (canonical, bool) {
	c := canonical{exp: new(big.Int)}
	if strings.HasPrefix(s, "-") {
		c.neg, s = true, s[1:]
	}
	mant, expPart, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return c, false
	}
	if hasExp {
		if _, ok := c.exp.SetString(strings.TrimPrefix(expPart, "+"), 10); !ok {
			return c, false
		}
	}
	c.exp.Sub(c.exp, big.NewInt(int64(len(frac))))
	digits = strings.TrimLeft(digits, "0")
	trimmed := strings.TrimRight(digits, "0")
	c.exp.Add(c.exp, big.NewInt(int64(len(digits)-len(trimmed))))
	c.digits = trimmed
	if c.digits == "" {
		c.neg, c.exp = false, new(big.Int)
	}
	return c, true
}
