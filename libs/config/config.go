// Package config reads a program's settings from the environment and an
// optional .env file, the same way for every binary.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"
)

// WithDotEnv returns a lookup that prefers getenv and falls back to the
// values of the .env file at path. A missing file is not an error: in
// containers everything comes from the environment.
func WithDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	file, err := godotenv.Read(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return file[key]
	}, nil
}

// Load fills cfg (a pointer to a struct with `env` tags) from getenv. A
// missing required value fails with an error naming the variable.
func Load(getenv func(string) string, cfg any) error {
	params, err := env.GetFieldParams(cfg)
	if err != nil {
		return fmt.Errorf("config fields: %w", err)
	}
	values := make(map[string]string, len(params))
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			values[p.Key] = v
		}
	}
	if err := env.ParseWithOptions(cfg, env.Options{Environment: values}); err != nil {
		return fmt.Errorf("config: %w", nameVariables(cfg, values, err))
	}
	return nil
}

// nameVariables rewrites parse errors, which name Go fields (MaxAge is in
// more than one struct), to name the environment variables the user has
// to fix.
func nameVariables(cfg any, values map[string]string, err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var msgs []string
	named := false
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			msgs = append(msgs, e.Error())
			continue
		}
		if !named {
			msgs = append(msgs, unparsable(cfg, values)...)
			named = true
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// unparsable names every variable whose value does not parse, each tried
// alone on a fresh settings struct.
func unparsable(cfg any, values map[string]string) []string {
	t := reflect.TypeOf(cfg).Elem()
	var msgs []string
	for _, key := range slices.Sorted(maps.Keys(values)) {
		err := env.ParseWithOptions(reflect.New(t).Interface(), env.Options{Environment: map[string]string{key: values[key]}})
		var agg env.AggregateError
		if !errors.As(err, &agg) {
			continue
		}
		for _, e := range agg.Errors {
			if pe := (env.ParseError{}); errors.As(e, &pe) {
				msgs = append(msgs, fmt.Sprintf("%s: %v", key, pe.Err))
			}
		}
	}
	return msgs
}

// fieldKeys maps the fields of struct t that carry an env tag to their
// variables.
func fieldKeys(t reflect.Type, keys map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			keys[f.Name] = name
		}
	}
}

// LogValue renders a config struct for the start-up log line: every field
// by its variable name, with secrets masked. Fields tagged `mask:"url"`
// lose the password of their URL; `mask:"all"` are replaced entirely.
func LogValue(cfg any) slog.Value {
	var attrs []slog.Attr
	collect(reflect.Indirect(reflect.ValueOf(cfg)), &attrs)
	return slog.GroupValue(attrs...)
}

func collect(v reflect.Value, attrs *[]slog.Attr) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			if fv.Kind() == reflect.Struct {
				collect(fv, attrs)
			}
			continue
		}
		switch f.Tag.Get("mask") {
		case "all":
			if !fv.IsZero() {
				*attrs = append(*attrs, slog.String(name, "***"))
				continue
			}
		case "url":
			*attrs = append(*attrs, slog.String(name, MaskURL(fv.String())))
			continue
		}
		*attrs = append(*attrs, slog.Any(name, fv.Interface()))
	}
}

// masked replaces every secret MaskURL finds.
const masked = "xxxxx"

// MaskURL hides the secrets of a connection string, in every form the
// services accept: a URL's password (postgres://u:secret@h, redis://:secret@h),
// a NATS token (nats://secret@h, which has no password), secret query
// parameters (?password=, ?sslpassword=, ?token=), each URL of a
// comma-separated NATS server list, and libpq key=value strings
// ("host=h password=secret", quoted values too). What cannot be parsed is
// hidden whole: it may be a secret pasted in the wrong place.
func MaskURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if !strings.Contains(raw, "://") && libpqPair.MatchString(raw) {
		return libpqSecret.ReplaceAllString(raw, "${1}"+masked)
	}
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = maskOne(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// userIsName lists the schemes whose URL user without a password is an
// account name; elsewhere (nats://secret@host) it is a token.
var userIsName = map[string]bool{"postgres": true, "postgresql": true, "redis": true, "rediss": true, "unix": true}

func maskOne(raw string) string {
	if !strings.Contains(raw, "://") {
		// host:port, or user:pass@host:port: NATS adds nats:// itself.
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			return masked + raw[at:]
		}
		return raw
	}
	u, err := url.Parse(raw)
	// A fragment, or an @ past the host, is a password with an unescaped
	// '#', '?' or '/' in it: part of it would be printed as something else.
	if err != nil || u.Fragment != "" || strings.Contains(u.RawQuery, "@") || strings.Contains(u.Path, "@") {
		return "(unparseable URL)"
	}
	return maskParsed(u)
}

func maskParsed(u *url.URL) string {
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), masked)
		} else if u.User.Username() != "" && !userIsName[strings.ToLower(u.Scheme)] {
			u.User = url.User(masked)
		}
	}
	if u.RawQuery != "" {
		pairs := strings.Split(u.RawQuery, "&")
		for i, p := range pairs {
			k, _, _ := strings.Cut(p, "=")
			if name, err := url.QueryUnescape(k); err == nil && secretName(name) {
				pairs[i] = k + "=" + masked
			}
		}
		u.RawQuery = strings.Join(pairs, "&")
	}
	return u.String()
}

// secretName reports parameter names that hold secrets (password,
// sslpassword, token, auth_token, secret, ...).
func secretName(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "token", "secret", "auth", "credential"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

var (
	// libpqPair recognises a libpq key=value connection string.
	libpqPair = regexp.MustCompile(`(?i)^\s*[a-z_]+\s*=`)
	// libpqSecret is one secret key=value pair; values may be single-quoted
	// with backslash escapes.
	libpqSecret = regexp.MustCompile(`(?i)(\b[a-z_]*(?:pass|pwd|token|secret|auth|credential)[a-z_]*\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)
)

// SafeError hides the credentials of any URL quoted in err: net/url puts the
// whole URL, password included, in its parse errors (redis.ParseURL and
// nats.Connect return them as they are).
func SafeError(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) || ue.URL == "" {
		return err
	}
	msg := err.Error()
	safe := MaskURL(ue.URL)
	msg = strings.ReplaceAll(msg, strconv.Quote(ue.URL), strconv.Quote(safe))
	return errors.New(strings.ReplaceAll(msg, ue.URL, safe))
}

// FromEnvironment is WithDotEnv for the file named by ENV_FILE (default
// .env in the working directory).
func FromEnvironment(getenv func(string) string) (func(string) string, error) {
	path := getenv("ENV_FILE")
	if path == "" {
		path = ".env"
	}
	return WithDotEnv(getenv, path)
}
