package config

import (
	"strings"
)

// suggest returns the known key (or two) closest to an unknown file key,
// or "" when none is close.
func suggest(unknown string) string {
	norm := normalizeKey(unknown)
	cands := make([]string, len(keys))
	for i, k := range keys {
		cands[i] = k.key
	}
	if s := closest(norm, cands, normalizeKey); s != "" {
		return s
	}
	// The right leaf in the wrong place: on_item_fault -> routing.on_item_fault.
	leaf := norm[strings.LastIndexByte(norm, '.')+1:]
	var same []string
	for _, k := range keys {
		if k.key[strings.LastIndexByte(k.key, '.')+1:] == leaf {
			same = append(same, k.key)
		}
	}
	if len(same) > 0 && len(same) <= 3 {
		return strings.Join(same, " or ")
	}
	return ""
}

// suggestEnv does the same for an unknown ROUTEOPS_* variable.
func suggestEnv(unknown string) string {
	cands := make([]string, len(keys))
	for i, k := range keys {
		cands[i] = EnvName(k.key)
	}
	return closest(strings.ToUpper(unknown), cands, func(s string) string { return s })
}

func normalizeKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// closest returns the candidate with the smallest edit distance to s (after
// norm), when that distance is small for the length; ties are joined with
// "or".
func closest(s string, cands []string, norm func(string) string) string {
	if len(s) > 200 {
		return ""
	}
	best, bestD := []string(nil), -1
	for _, c := range cands {
		d := editDistance(s, norm(c))
		if bestD < 0 || d < bestD {
			best, bestD = []string{c}, d
		} else if d == bestD {
			best = append(best, c)
		}
	}
	limit := 1
	switch {
	case len(s) >= 12:
		limit = 3
	case len(s) >= 5:
		limit = 2
	}
	if bestD < 0 || bestD > limit || len(best) > 2 {
		return ""
	}
	return strings.Join(best, " or ")
}

// editDistance is the Levenshtein distance over bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
