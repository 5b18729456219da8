package ops_test

import (
	"os/user"
	"testing"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

func TestResolveActor(t *testing.T) {
	cases := []struct {
		name     string
		operator string
		env      map[string]string
		want     router.Actor
		str      string
	}{
		{"operator flag wins", "carol", map[string]string{"USER": "alice", "SUDO_USER": "bob"},
			router.Actor{Name: "carol", OSUser: "alice", Origin: "local"}, "carol"},
		{"operator flag is trimmed", "  carol ", map[string]string{"USER": "alice"},
			router.Actor{Name: "carol", OSUser: "alice", Origin: "local"}, "carol"},
		{"blank flag falls back", "   ", map[string]string{"USER": "alice"},
			router.Actor{Name: "alice", OSUser: "alice", Origin: "local"}, "alice"},
		{"SUDO_USER over USER", "", map[string]string{"USER": "root", "SUDO_USER": "bob"},
			router.Actor{Name: "bob", OSUser: "root (sudo from bob)", Origin: "local"}, "bob"},
		{"USER", "", map[string]string{"USER": "alice"},
			router.Actor{Name: "alice", OSUser: "alice", Origin: "local"}, "alice"},
		{"LOGNAME when USER is unset", "", map[string]string{"LOGNAME": "dave"},
			router.Actor{Name: "dave", OSUser: "dave", Origin: "local"}, "dave"},
		// With no USER or LOGNAME, the OS account running the process.
		{"no USER: the OS account", "", map[string]string{},
			router.Actor{Name: osAccount(), OSUser: osAccount(), Origin: "local"}, osAccount()},
		{"origin from SSH_CONNECTION", "", map[string]string{"USER": "alice", "SSH_CONNECTION": "198.51.100.4 52311 10.0.0.5 22"},
			router.Actor{Name: "alice", OSUser: "alice", Origin: "198.51.100.4"}, "alice@198.51.100.4"},
		{"IPv6 origin", "carol", map[string]string{"USER": "alice", "SSH_CONNECTION": "2001:db8::7 52311 2001:db8::1 22"},
			router.Actor{Name: "carol", OSUser: "alice", Origin: "2001:db8::7"}, "carol@2001:db8::7"},
		{"garbage SSH_CONNECTION is local", "", map[string]string{"USER": "alice", "SSH_CONNECTION": "not-an-address 1 2 3"},
			router.Actor{Name: "alice", OSUser: "alice", Origin: "local"}, "alice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ops.ResolveActor(c.operator, func(k string) string { return c.env[k] })
			if got != c.want || got.String() != c.str {
				t.Fatalf("got %+v (%q), want %+v (%q)", got, got.String(), c.want, c.str)
			}
		})
	}
}

func osAccount() string {
	u, err := user.Current()
	if err != nil {
		return "unknown"
	}
	return u.Username
}
