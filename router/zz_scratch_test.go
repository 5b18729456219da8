package router

import "testing"

func TestZZScratch(t *testing.T) {
	for _, s := range []string{
		`{"priority": 1, "channel": "chat"}}`,
		`{"priority": 1, "channel": "chat"}]`,
		`{"priority": 1, "channel": "chat"} x`,
		`{"PRIORITY": 1, "Channel": "chat"}`,
		`{"priority": 1, "channel": "chat", "ſkills": ["a"]}`,
		`{"priority": 1, "channel": "chat", "priority": null}`,
		`{"priority": 007, "channel": "chat"}`,
		`{"priority": -0, "channel": "chat"}`,
		`{"priority": 1, "channel": "chat", "skills": "a"}`,
		`{"priority": 1, "channel": "chat", "x": 1}`,
		`{"priority": 1, "channel": "chat", "team": "\ud800"}`,
	} {
		a, err := ParseAttributes([]byte(s))
		t.Logf("%s -> %+v %v", s, a, err)
	}
	defer func() { t.Log(recover()) }()
	CorruptAttributes(-9223372036854775808)
}
