package tui

import (
	"testing"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

func TestTrend(t *testing.T) {
	var tr trend
	if tr.spark(4) != "    " || tr.arrow() != " " {
		t.Fatal("empty trend")
	}
	for _, v := range []int{0, 2, 4, 8, 8, 1} {
		tr.push(v)
	}
	if got := tr.spark(8); got != "  ▁▃▅██▂" {
		t.Fatalf("spark %q", got)
	}
	if got := tr.spark(3); got != "██▂" {
		t.Fatalf("spark of the last 3: %q", got)
	}
	if tr.arrow() != "↓" {
		t.Fatal("arrow")
	}
	for range 20 {
		tr.push(5)
	}
	if tr.n != trendLen || tr.arrow() != "→" || tr.spark(8) != "████████" {
		t.Fatalf("full trend %q", tr.spark(8))
	}
}

func TestFormatting(t *testing.T) {
	ages := map[float64]string{0: "-", 0.4: "0s", 59: "59s", 60: "1m00s", 599: "9m59s", 600: "10m", 3599: "59m",
		3600: "1h00m", 35999: "9h59m", 36000: "10h", 86399: "23h", 86400: "1d", 864000: "10d"}
	for in, want := range ages {
		if got := present.Age(in); got != want {
			t.Errorf("present.Age(%v) = %q, want %q", in, got, want)
		}
		if len(present.Age(in)) > 5 {
			t.Errorf("present.Age(%v) wider than 5", in)
		}
	}
	if trunc("abcdef", 4) != "abc…" || trunc("ab", 4) != "ab" || trunc("✖ CRIT", 3) != "✖ …" {
		t.Errorf("trunc: %q %q", trunc("abcdef", 4), trunc("✖ CRIT", 3))
	}
	if padLeft("7", 3) != "  7" || padRight("✖ CRIT", 7) != "✖ CRIT " {
		t.Error("padding")
	}
	if present.Count(999999) != "999999" || present.Count(1234567) != "1234k" {
		t.Error("present.Count")
	}
	if present.HealthWord(ops.HealthCritical) != "✖ CRIT" || present.HealthWord(ops.HealthWarning) != "▲ WARN" || present.HealthWord(ops.HealthOK) != "● OK" {
		t.Error("health words")
	}
	if present.StalledText(2, router.CauseMissingRevision) != "STALLED×2 missing_revision" || present.StalledText(0, "") != "" {
		t.Error("stall text")
	}
}
