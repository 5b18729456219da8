package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/routeops/routeops/redact"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// LoadOptions says where Load looks.
type LoadOptions struct {
	// File is the config file (--config). Empty: ROUTEOPS_CONFIG if set,
	// else the first that exists of ./routeops.yaml and
	// $XDG_CONFIG_HOME/routeops/config.yaml (~/.config/routeops/config.yaml
	// when XDG_CONFIG_HOME is unset). A file named explicitly (here or in
	// ROUTEOPS_CONFIG) must exist. The format follows the extension: .yaml
	// or .yml, .toml, .json; anything else is read as YAML.
	File string
	// Env looks up an environment variable; os.LookupEnv when nil. An
	// empty value counts as unset.
	Env func(string) (string, bool)
	// Environ lists the environment as KEY=VALUE, to warn about ROUTEOPS_*
	// variables that match no key. When nil: os.Environ if Env is nil too,
	// otherwise no such warnings.
	Environ func() []string
	// Flags are the parsed command-line flags; may be nil.
	Flags *pflag.FlagSet
	// FlagKeys maps a flag name to the config key that it overrides, e.g.
	// "on-item-fault" -> "routing.on_item_fault". A flag overrides only when
	// it was set on the command line (Changed). Nil: DefaultFlagKeys().
	// Flags missing from Flags are ignored.
	FlagKeys map[string]string
	// Dir is the directory searched for routeops.yaml; the working
	// directory when empty.
	Dir string
	// IgnoreEnv lists more ROUTEOPS_* variables that are not config keys
	// and must not draw a warning. ROUTEOPS_CONFIG and ROUTEOPS_TEST_* are
	// always ignored.
	IgnoreEnv []string
}

const envPrefix = "ROUTEOPS_"

// Load builds the configuration: defaults < file < ROUTEOPS_* environment
// < flags. It returns warnings (unknown keys) even when it fails. Errors are
// *Error for a bad value (naming the key and the allowed values) or
// *FileError for a file that is missing or broken. No error or warning ever
// contains the password of a DSN from any layer.
func Load(opts LoadOptions) (cfg *Config, warnings []string, err error) {
	env := opts.Env
	environ := opts.Environ
	if env == nil {
		env = os.LookupEnv
		if environ == nil {
			environ = os.Environ
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := env(name)
		return v, ok && v != ""
	}
	flagKeys := opts.FlagKeys
	if flagKeys == nil {
		flagKeys = DefaultFlagKeys()
	}

	var sec redact.Secrets
	// Every error and warning leaves through here, scrubbed of every
	// password that any layer's DSN holds.
	defer func() {
		for i := range warnings {
			warnings[i] = sec.Scrub(warnings[i])
		}
		err = scrubError(sec, err)
	}()

	// Collect the DSNs of the environment, the credentials and flags
	// first, so that even the earliest error is scrubbed.
	creds, cerr := secretLayers(lookup, &sec)
	if cerr != nil {
		return nil, nil, cerr
	}
	changed, err := changedFlags(opts.Flags, flagKeys, &sec)
	if err != nil {
		return nil, nil, err
	}

	v := viper.NewWithOptions(viper.KeyDelimiter("."))
	c := &Config{sources: map[string]string{}}

	path, warnings, err := readFileLayer(v, c, opts, lookup, &sec)
	if err != nil {
		return nil, warnings, err
	}

	for _, k := range keys {
		v.SetDefault(k.key, k.def)
	}

	// Unknown ROUTEOPS_* variables.
	if environ != nil {
		warnings = append(warnings, checkEnv(environ(), opts.IgnoreEnv)...)
	}

	if err := walkLayers(v, c, path, creds, changed, lookup); err != nil {
		return nil, warnings, err
	}
	if err := c.Validate(); err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// changedFlags returns the flags the command line set, by key, and adds
// the DSNs among them to sec.
func changedFlags(flags *pflag.FlagSet, flagKeys map[string]string, sec *redact.Secrets) (map[string]*pflag.Flag, error) {
	changed := map[string]*pflag.Flag{} // key -> changed flag
	if flags != nil {
		names := make([]string, 0, len(flagKeys))
		for name := range flagKeys {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			key := flagKeys[name]
			if _, ok := keyIndex[key]; !ok {
				return nil, fmt.Errorf("config: flag --%s is mapped to unknown key %q", name, key)
			}
			f := flags.Lookup(name)
			if f == nil || !f.Changed {
				continue
			}
			changed[key] = f
			if keyIndex[key].secret {
				sec.AddDSN(f.Value.String())
			}
		}
	}

	return changed, nil
}

// readFileLayer reads the configuration file (the named one, else
// ROUTEOPS_CONFIG, else the first found) into v, adds its secrets to sec,
// and returns its path ("" for none) and the warnings of unknown keys.
func readFileLayer(v *viper.Viper, c *Config, opts LoadOptions, lookup func(string) (string, bool), sec *redact.Secrets) (path string, warnings []string, err error) {
	// The file.
	path, explicit := opts.File, opts.File != ""
	if !explicit {
		if p, ok := lookup("ROUTEOPS_CONFIG"); ok {
			path, explicit = p, true
		}
	}
	if !explicit {
		path = findFile(opts.Dir, lookup)
	}
	if path != "" {
		data, rerr := readFile(path)
		switch {
		case rerr == nil:
		case errors.Is(rerr, errTooLarge):
			return "", nil, &FileError{Path: path, Msg: rerr.Error()}
		case errors.Is(rerr, fs.ErrNotExist):
			return "", nil, &FileError{Path: path, Msg: "does not exist"}
		default:
			var pe *fs.PathError
			if errors.As(rerr, &pe) {
				rerr = pe.Err
			}
			return "", nil, &FileError{Path: path, Msg: "cannot be read: " + rerr.Error()}
		}
		sec.AddText(string(data))
		format := fileFormat(path)
		v.SetConfigType(format)
		if perr := readConfig(v, data); perr != nil {
			return "", nil, &FileError{Path: path, Msg: parseMessage(format, data, perr)}
		}
		for _, k := range keys {
			if d, ok := v.Get(k.key).(string); ok && k.secret {
				sec.AddDSN(d)
			}
		}
		c.File = path
		var ferr error
		warnings, ferr = checkFileKeys(v, path)
		if ferr != nil {
			return "", warnings, ferr
		}
	}

	return path, warnings, nil
}

// walkLayers decides each key from its layers (default < file <
// credential < environment < flag), decodes it into c and records where
// it came from.
func walkLayers(v *viper.Viper, c *Config, path string, creds map[string]credential, changed map[string]*pflag.Flag, lookup func(string) (string, bool)) error {
	for i := range keys {
		k := &keys[i]
		src := "default"
		if v.InConfig(k.key) {
			src = "file " + path
		}
		if cr, ok := creds[k.key]; ok {
			v.Set(k.key, cr.value)
			src = "credential " + cr.path
		}
		if ev, ok := lookup(EnvName(k.key)); ok {
			v.Set(k.key, ev)
			src = "env " + EnvName(k.key)
		}
		if f, ok := changed[k.key]; ok {
			v.Set(k.key, f.Value.String())
			src = "flag --" + f.Name
		}
		raw := v.Get(k.key)
		val, msg := decode(k, raw)
		if msg != "" {
			e := &Error{Key: k.key, Allowed: k.allowed, Msg: msg, Source: src}
			if !k.secret {
				e.Value = rawText(raw)
			}
			return e
		}
		k.set(c, val)
		c.sources[k.key] = src
	}
	return nil
}

// secretLayers adds the DSNs of the environment and of the credentials
// to sec, and returns the credentials by key.
func secretLayers(lookup func(string) (string, bool), sec *redact.Secrets) (map[string]credential, error) {
	creds := map[string]credential{}
	for _, k := range keys {
		if !k.secret {
			continue
		}
		if v, ok := lookup(EnvName(k.key)); ok {
			sec.AddDSN(v)
		}
		cr, err := readCredential(lookup, k.key)
		if err != nil {
			return nil, err
		}
		if cr.path != "" {
			sec.AddDSN(cr.value)
			creds[k.key] = cr
		}
	}
	return creds, nil
}

// credential is a secret key's value read from a credential file.
type credential struct{ path, value string }

// CredentialsEnv names the directory of credential files: systemd sets it
// for a unit with LoadCredential= (and anything else may, for secrets
// mounted as files). A secret key (dsn, db.listen_dsn, db.read_dsn) is read
// from the file named like the key there, when it exists, above the
// config file and below the environment and flags.
const CredentialsEnv = "CREDENTIALS_DIRECTORY"

func readCredential(lookup func(string) (string, bool), key string) (credential, error) {
	dir, ok := lookup(CredentialsEnv)
	if !ok {
		return credential{}, nil
	}
	path := filepath.Join(dir, key)
	data, err := readFile(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		return credential{}, nil
	case errors.Is(err, errTooLarge):
		return credential{}, &FileError{Path: path, Msg: err.Error()}
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return credential{}, &FileError{Path: path, Msg: "cannot be read: " + err.Error()}
	}
	return credential{path: path, value: strings.TrimRight(string(data), "\r\n")}, nil
}

// maxFileSize bounds a config file; real ones are a few kilobytes.
const maxFileSize = 1 << 20

var errTooLarge = fmt.Errorf("is larger than %d bytes: not a config file", maxFileSize)

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, errTooLarge
	}
	return data, nil
}

// readConfig parses the file into v. A parser that panics on hostile
// input must not take routeops down: that is reported as a parse error.
func readConfig(v *viper.Viper, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot be parsed (%v)", r)
		}
	}()
	return v.ReadConfig(bytes.NewReader(data))
}

// rawText is the Value of an *Error: strings as written, others printed.
func rawText(raw any) string {
	if s, ok := raw.(string); ok {
		return s
	}
	return formatValue(raw)
}

// findFile returns the first default config file that exists, or "".
func findFile(dir string, lookup func(string) (string, bool)) string {
	candidates := []string{filepath.Join(dir, "routeops.yaml")}
	if x, ok := lookup("XDG_CONFIG_HOME"); ok {
		candidates = append(candidates, filepath.Join(x, "routeops", "config.yaml"))
	} else if h, ok := lookup("HOME"); ok {
		candidates = append(candidates, filepath.Join(h, ".config", "routeops", "config.yaml"))
	} else if h, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(h, ".config", "routeops", "config.yaml"))
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

func fileFormat(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return "toml"
	case ".json":
		return "json"
	}
	return "yaml"
}

// parseMessage explains a parse failure, with a line number when the
// parser gives one (YAML puts it in its message; JSON gives an offset;
// TOML a position).
func parseMessage(format string, data []byte, err error) string {
	var cpe viper.ConfigParseError
	if errors.As(err, &cpe) && cpe.Unwrap() != nil {
		err = cpe.Unwrap()
	}
	msg := err.Error()
	switch format {
	case "json":
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Sprintf("line %d: invalid JSON: %s", lineAt(data, se.Offset), msg)
		case errors.As(err, &te):
			return fmt.Sprintf("line %d: invalid JSON: the top level must be an object of keys", lineAt(data, te.Offset))
		}
		return "invalid JSON: " + msg
	case "toml":
		var pe interface{ Position() (int, int) }
		if errors.As(err, &pe) {
			line, col := pe.Position()
			return fmt.Sprintf("line %d, column %d: invalid TOML: %s", line, col, strings.TrimPrefix(msg, "toml: "))
		}
		return "invalid TOML: " + strings.TrimPrefix(msg, "toml: ")
	}
	if strings.Contains(msg, "cannot unmarshal") && strings.Contains(msg, "into map") {
		line := ""
		if i := strings.Index(msg, "line "); i >= 0 {
			rest := msg[i+5:]
			if j := strings.IndexByte(rest, ':'); j > 0 {
				line = "line " + rest[:j] + ": "
			}
		}
		return line + "invalid YAML: the top level must be a mapping of keys (like `routing:`)"
	}
	return "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

func lineAt(data []byte, off int64) int {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// checkFileKeys warns about keys in the file that match no config key, and
// fails when a section (routing, log, ...) holds a plain value.
func checkFileKeys(v *viper.Viper, path string) ([]string, error) {
	fileKeys := v.AllKeys()
	slices.Sort(fileKeys)
	var warnings []string
	for _, fk := range fileKeys {
		if _, ok := keyIndex[fk]; ok {
			continue
		}
		if sections[fk] {
			if val := v.Get(fk); val != nil {
				return warnings, &Error{Key: fk, Value: rawText(val), Allowed: "a mapping of keys",
					Msg:    fmt.Sprintf("%s is not a section (it holds keys such as %s)", formatValue(val), firstKeyIn(fk)),
					Source: "file " + path}
			}
			continue
		}
		if knownLeafPrefix(fk) {
			// e.g. dsn: {a: 1}; decoding the key reports it.
			continue
		}
		w := "unknown config key " + fk + " in " + path
		if s := suggest(fk); s != "" {
			w += " (did you mean " + s + "?)"
		}
		warnings = append(warnings, w)
	}
	return warnings, nil
}

func firstKeyIn(section string) string {
	for _, k := range keys {
		if strings.HasPrefix(k.key, section+".") {
			return k.key
		}
	}
	return section
}

func knownLeafPrefix(fk string) bool {
	for i := range len(fk) {
		if fk[i] == '.' {
			if _, ok := keyIndex[fk[:i]]; ok {
				return true
			}
		}
	}
	return false
}

// checkEnv warns about ROUTEOPS_* variables that match no key.
func checkEnv(environ []string, ignore []string) []string {
	known := map[string]bool{"ROUTEOPS_CONFIG": true}
	for _, k := range keys {
		known[EnvName(k.key)] = true
	}
	for _, n := range ignore {
		known[n] = true
	}
	var names []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || known[name] || strings.HasPrefix(name, "ROUTEOPS_TEST_") {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var warnings []string
	for _, name := range names {
		w := "unknown config key " + name + " in the environment"
		if s := suggestEnv(name); s != "" {
			w += " (did you mean " + s + "?)"
		}
		warnings = append(warnings, w)
	}
	return warnings
}
