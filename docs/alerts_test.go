// Package docs holds the documentation that ships with routeops; its tests
// check that the alert rules work (promtool's unit tests) and name only
// metrics that routeops exports.
package docs

import (
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/routeops/routeops/ops"
)

// promtool finds the promtool binary: $ROUTEOPS_PROMTOOL, then PATH.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ROUTEOPS_PROMTOOL"); p != "" {
		return p
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is needed to test docs/alerts.yml and was not found: install it "+
			"(Debian: apt-get install prometheus) or set ROUTEOPS_PROMTOOL to its path (%v)", err)
	}
	return p
}

// TestAlertRules runs promtool's checks and the unit tests in
// alerts_test.yml.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type testFile struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestEveryRuleIsTested: each rule has a case where it fires and one
// where it does not, and names only metrics that routeops exports.
func TestEveryRuleIsTested(t *testing.T) {
	var rules ruleFile
	var tests testFile
	readYAML(t, "alerts.yml", &rules)
	readYAML(t, "alerts_test.yml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	exported := exportedMetrics()
	metricRe := regexp.MustCompile(`routeops_[a-z0-9_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s needs a promtool test where it fires and one where it stays quiet (fires %v, quiet %v)",
					r.Alert, fires[r.Alert], quiet[r.Alert])
			}
			for _, m := range metricRe.FindAllString(r.Expr, -1) {
				if !exported[m] {
					t.Errorf("alert %s uses %s, which routeops does not export (it exports %v)", r.Alert, m, sortedKeys(exported))
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules found in alerts.yml")
	}
}

// exportedMetrics are the metric names that routeops serve registers.
func exportedMetrics() map[string]bool {
	out := map[string]bool{}
	for _, n := range ops.NewMetrics(nil).Names() {
		out[n] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
