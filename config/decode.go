package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// decode turns a raw value from any layer into the key's Go type. Strings
// (environment variables, flags, quoted values in a file) are parsed;
// native file values must have the right type. It returns the message
// after the key when the value does not fit.
func decode(k *keyDef, raw any) (any, string) {
	switch k.kind {
	case kString:
		switch v := raw.(type) {
		case string:
			return v, ""
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, bool:
			// A YAML number or bool where a string is expected: the
			// intent is plain, keep its text.
			if k.secret {
				return nil, "the value is not a string"
			}
			return fmt.Sprint(v), ""
		}
		return nil, describe(k, raw) + " is not a string"
	case kEnum:
		if v, ok := raw.(string); ok {
			return v, ""
		}
		return nil, fmt.Sprintf("%s is not allowed (allowed: %s)", describe(k, raw), k.allowed)
	case kInt:
		if n, ok := toInt(raw); ok {
			return n, ""
		}
		return nil, fmt.Sprintf("%s is not an integer (allowed: %s)", describe(k, raw), k.allowed)
	case kFloat:
		if f, ok := toFloat(raw); ok {
			return f, ""
		}
		return nil, fmt.Sprintf("%s is not a number (allowed: %s)", describe(k, raw), k.allowed)
	case kBool:
		if b, ok := toBool(raw); ok {
			return b, ""
		}
		return nil, fmt.Sprintf("%s is not a boolean (allowed: true, false)", describe(k, raw))
	case kDuration:
		if d, ok := toDuration(raw); ok {
			return d, ""
		}
		msg := describe(k, raw) + " is not a duration (e.g. 30s, 5m)"
		if _, isNum := toFloat(raw); isNum {
			if _, isStr := raw.(string); !isStr {
				msg = describe(k, raw) + " is not a duration: give a unit (e.g. 30s, 5m)"
			}
		}
		if s, ok := raw.(string); ok && isNumber(s) {
			msg = describe(k, raw) + " is not a duration: give a unit (e.g. 30s, 5m)"
		}
		return nil, msg
	}
	return nil, "unsupported type"
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

func toInt(raw any) (int64, bool) {
	switch v := raw.(type) {
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint:
		return int64(v), uint64(v) <= math.MaxInt64
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint64:
		return int64(v), v <= math.MaxInt64
	case float32:
		return floatToInt(float64(v))
	case float64:
		// JSON numbers arrive as float64.
		return floatToInt(v)
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil && fitsInt(n)
	}
	return 0, false
}

func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	n := int64(f)
	return n, fitsInt(n)
}

// fitsInt reports whether n fits in an int on this platform.
func fitsInt(n int64) bool { return n >= math.MinInt && n <= math.MaxInt }

func toFloat(raw any) (float64, bool) {
	switch v := raw.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	}
	if n, ok := toInt(raw); ok {
		return float64(n), true
	}
	return 0, false
}

func toBool(raw any) (bool, bool) {
	switch v := raw.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "yes", "1", "on":
			return true, true
		case "false", "no", "0", "off":
			return false, true
		}
	}
	return false, false
}

// toDuration accepts Go duration syntax. A bare number is refused (its unit
// would be a guess), except 0, which needs none.
func toDuration(raw any) (time.Duration, bool) {
	switch v := raw.(type) {
	case time.Duration:
		return v, true
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		return d, err == nil
	}
	if f, ok := toFloat(raw); ok && f == 0 {
		return 0, true
	}
	return 0, false
}

// describe renders a raw value for a message: strings quoted, lists and
// mappings named. A secret key's value is never shown.
func describe(k *keyDef, raw any) string {
	if k.secret {
		return "the value"
	}
	return formatValue(raw)
}

func formatValue(raw any) string {
	var s string
	switch v := raw.(type) {
	case nil:
		return "null"
	case string:
		s = strconv.Quote(v)
	case time.Duration:
		s = strconv.Quote(FormatDuration(v))
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	default:
		s = fmt.Sprint(v)
	}
	return s
}
