package config

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
)

// Validate checks cfg and every struct inside it that has a Validate method,
// and names each failure by its environment variable. Each shared setting
// is validated once, by the package that owns its struct (stream.Config,
// settle.Config, ...), so a binary cannot forget one of them.
func Validate(cfg any) error {
	var msgs []string
	validateValue(reflect.Indirect(reflect.ValueOf(cfg)), &msgs)
	if len(msgs) == 0 {
		return nil
	}
	slices.Sort(msgs)
	return errors.New(strings.Join(msgs, "; "))
}

func validateValue(v reflect.Value, msgs *[]string) {
	if val, ok := v.Interface().(validation.Validatable); ok {
		if err := val.Validate(); err != nil {
			var errs validation.Errors
			if !errors.As(err, &errs) {
				*msgs = append(*msgs, err.Error())
			}
			keys := map[string]string{}
			fieldKeys(v.Type(), keys)
			for field, e := range errs {
				*msgs = append(*msgs, fmt.Sprintf("%s: %v", cmpOr(keys[field], field), e))
			}
		}
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.IsExported() && f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
			validateValue(v.Field(i), msgs)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Setting is one environment variable a binary reads.
type Setting struct {
	Name     string `json:"name"`
	Type     string `json:"type"` // string, integer, duration, boolean
	Default  string `json:"default"`
	Required bool   `json:"required"`
	// Zero says what an empty or zero value means, for the settings where
	// it is allowed ("off", "the system temp directory"); "" where it is
	// refused.
	Zero string `json:"zero,omitempty"`
	Help string `json:"help"`
}

// Describe lists the settings of cfg (a struct or a pointer to one) in
// field order, nested structs included, from their tags: env (name,
// required), envDefault, help, and zero (what an empty or 0 value means,
// where it is allowed).
func Describe(cfg any) []Setting {
	var out []Setting
	describe(reflect.Indirect(reflect.ValueOf(cfg)).Type(), &out)
	return out
}

func describe(t reflect.Type, out *[]Setting) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			if f.Type.Kind() == reflect.Struct {
				describe(f.Type, out)
			}
			continue
		}
		if slices.ContainsFunc(*out, func(s Setting) bool { return s.Name == name }) {
			continue
		}
		*out = append(*out, Setting{
			Name: name, Type: typeName(f.Type), Default: f.Tag.Get("envDefault"),
			Required: slices.Contains(strings.Split(opts, ","), "required"),
			Zero:     f.Tag.Get("zero"), Help: f.Tag.Get("help"),
		})
	}
}

func typeName(t reflect.Type) string {
	switch {
	case reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()):
		return "string" // read from its own text (a size with units)
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Slice:
		return "list"
	}
	return "string"
}

// HelpEnvFlag is the argument that makes a binary print its settings and
// exit.
const HelpEnvFlag = "--help-env"

// WriteEnv writes settings as a .env file would hold them: each variable
// after a comment with its type, whether it is required, what zero means
// and its meaning, set to its default.
func WriteEnv(w io.Writer, settings []Setting) error {
	var b strings.Builder
	for _, s := range settings {
		attrs := []string{s.Type}
		if s.Required {
			attrs = append(attrs, "required")
		}
		if s.Zero != "" {
			attrs = append(attrs, "empty or 0: "+s.Zero)
		}
		fmt.Fprintf(&b, "# %s (%s): %s\n%s=%s\n", s.Name, strings.Join(attrs, "; "), s.Help, s.Name, quote(s.Default))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quote makes a default POSIX-shell sourceable, as .env.example is.
func quote(v string) string {
	if v == "" || !strings.ContainsAny(v, " \t\"'$`\\#&;|<>()*?[]{}~!") {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// NonZero is the rule of a setting that must be set, and not to 0 (ozzo's
// Min and Max pass a zero value, so they need it beside them).
func NonZero() validation.Rule { return validation.Required.Error("must be set and not 0") }

// WritableDir is the rule of a directory setting: empty (a default), or an
// existing directory the process can create files in.
func WritableDir() validation.Rule { return validation.By(writableDir) }

func writableDir(v any) error {
	dir, _ := v.(string)
	if dir == "" {
		return nil
	}
	f, err := os.CreateTemp(dir, ".health-export-check-*")
	if err != nil {
		return errors.New("must be an existing directory this process can write to")
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// ReadableFile is the rule of a file setting: empty (none), or a file the
// process can read.
func ReadableFile() validation.Rule { return validation.By(readableFile) }

func readableFile(v any) error {
	name, _ := v.(string)
	if name == "" {
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		return errors.New("must be a file this process can read")
	}
	return f.Close()
}

// Credential is the rule of a user name, password or token setting: empty,
// or visible ASCII without spaces (what survives URLs, config files and
// shells unquoted; generate one: openssl rand -hex 24).
func Credential() validation.Rule {
	return validation.Match(credential).Error("must be visible ASCII characters without spaces")
}

var credential = regexp.MustCompile(`^[!-~]+$`)
