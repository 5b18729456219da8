package redact

import (
	"strings"
	"testing"
)

func TestDSN(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://u:secret@h/db", "postgres://u:xxxxx@h/db"},
		{"postgresql://u:secret@h:5432,h2:5433/db?sslmode=require", "postgresql://u:xxxxx@h:5432,h2:5433/db?sslmode=require"},
		{"postgres://u:p%40ss%2Fw%3Ard@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u%40corp:s%20cret@[::1]:5432/db", "postgres://u%40corp:xxxxx@[::1]:5432/db"},
		{"postgres://u:@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db", "postgres://h/db"},
		{"postgres://h/db?user=u&password=secret&sslmode=disable", "postgres://h/db?user=u&password=xxxxx&sslmode=disable"},
		{"postgres://h/db?sslpassword=k3y&pass%77ord=secret", "postgres://h/db?sslpassword=xxxxx&pass%77ord=xxxxx"},
		{"postgres://u:one@h/db?password=two", "postgres://u:xxxxx@h/db?password=xxxxx"},
		{"postgres://h:5432/db?application_name=a@b", "postgres://h:5432/db?application_name=a@b"},
		// Malformed: raw '@', '/', ':' in the password; it is hidden all the same.
		{"postgres://u:p@ss@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u:p/ss@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u:se:cr:et@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u:p?ss@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://h?password=a@b", "postgres://h?password=xxxxx"},
		// Keyword/value.
		{"host=h password=secret user=u", "host=h password=xxxxx user=u"},
		{"host=h password = secret user=u", "host=h password = xxxxx user=u"},
		{"host=h password='se cret' user=u", "host=h password=xxxxx user=u"},
		{`host=h password='it\'s \\ ok' user=u`, "host=h password=xxxxx user=u"},
		{`host=h password=se\ cret user=u`, "host=h password=xxxxx user=u"},
		{"host=h sslpassword=k3y password=secret", "host=h sslpassword=xxxxx password=xxxxx"},
		{"password=secret", "password=xxxxx"},
		{"host=h PASSWORD=secret", "host=h PASSWORD=xxxxx"},
		{"host=h password='unterminated", "host=h password=xxxxx"},
		{"host=h password=", "host=h password=xxxxx"},
		{"host=h user=password", "host=h user=password"},
		{"host=h application_name='password=x'", "host=h application_name='password=x'"},
		{"", ""},
		{"not a dsn", "not a dsn"},
	}
	for _, tc := range cases {
		if got := DSN(tc.in); got != tc.want {
			t.Errorf("DSN(%q)\n   = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	cases := []struct {
		dsn, msg string
		secrets  []string // must not survive
		keep     string   // must survive
	}{
		{"postgres://u:secret@h/db", "failed to connect to postgres://u:secret@h/db: password secret rejected",
			[]string{"secret"}, "failed to connect to postgres://u:xxxxx@h/db: password xxxxx rejected"},
		{"postgres://u:p%40ss%21@h/db", "auth failed for p@ss! (p%40ss%21)",
			[]string{"p@ss!", "p%40ss%21"}, "auth failed for xxxxx (xxxxx)"},
		{"host=h password='se cret' user=u", `bad password "se cret" in host=h password='se cret' user=u`,
			[]string{"se cret"}, `bad password "xxxxx" in host=h password=xxxxx user=u`},
		{`host=h password='a\'b"c' user=u`, `value "a'b\"c" and a'b"c`,
			[]string{`a'b"c`, `a'b\"c`}, `value "xxxxx" and xxxxx`},
		{"postgres://h/db?password=q%2Bw+e", "q+w e and q+w+e", []string{"q+w e", "q+w+e"}, "xxxxx and xxxxx"},
		{"postgres://u@h/db", "nothing secret here", nil, "nothing secret here"},
		{"", "nothing secret here", nil, "nothing secret here"},
		// A password made of the mask's own letters gets another mask.
		{"postgres://u:xx@h/db", "pw xx", []string{"xx"}, "pw *****"},
	}
	for _, tc := range cases {
		got := Text(tc.msg, tc.dsn)
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("Text(%q) = %q still holds %q", tc.msg, got, s)
			}
		}
		if got != tc.keep {
			t.Errorf("Text(%q, %q)\n   = %q\nwant %q", tc.msg, tc.dsn, got, tc.keep)
		}
	}
}
