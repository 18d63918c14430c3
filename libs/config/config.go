// Package config reads a program's settings from the environment and an
// optional .env file, the same way for every binary.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"reflect"
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
		return fmt.Errorf("config: %w", nameVariables(cfg, err))
	}
	return nil
}

// nameVariables rewrites parse errors, which name Go fields, to name the
// environment variable the user has to fix.
func nameVariables(cfg any, err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	keys := map[string]string{}
	fieldKeys(reflect.Indirect(reflect.ValueOf(cfg)).Type(), keys)
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && keys[pe.Name] != "" {
			msgs = append(msgs, fmt.Sprintf("%s: %v", keys[pe.Name], pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

func fieldKeys(t reflect.Type, keys map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			keys[f.Name] = name
		} else if f.Type.Kind() == reflect.Struct {
			fieldKeys(f.Type, keys)
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

// MaskURL hides the password of a URL such as postgres://u:secret@host/db.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
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
