package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable Foyer reads.
const EnvPrefix = "FOYER_"

// Flags are the command-line settings, registered on a FlagSet so that
// subcommands can add flags of their own before parsing.
type Flags struct{ v flagValues }

// RegisterFlags declares the shared flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	f.v.register(fs)
	return f
}

// Resolve builds the Config after fs has been parsed: defaults, then the
// YAML file (from --config or FOYER_CONFIG), then FOYER_* variables from
// env, then the flags that were given. Validate is not called.
func (f *Flags) Resolve(fs *flag.FlagSet, env []string) (Config, error) {
	cfg := Default()
	vals := &f.v
	vals.visit(fs)
	envMap := envToMap(env)

	configFile := envMap[EnvPrefix+"CONFIG"]
	if vals.set["config"] {
		configFile = vals.configFile
	}
	if configFile != "" {
		if err := loadFile(&cfg, configFile); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, envMap); err != nil {
		return cfg, err
	}
	if _, ok := envMap[EnvPrefix+"REGISTRATION"]; ok {
		cfg.RegistrationExplicit = true
	}
	vals.apply(&cfg)
	return cfg, nil
}

func loadFile(cfg *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	// Detect whether registration was set explicitly in the file.
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("config file %s is not valid YAML: %w", path, err)
	}
	if _, ok := raw["registration"]; ok {
		cfg.RegistrationExplicit = true
	}
	if len(raw) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

func envToMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			m[k] = v
		}
	}
	return m
}

// applyEnv walks Config's fields and sets each one whose env tag names a
// variable present in env.
func applyEnv(cfg *Config, env map[string]string) error {
	return walkEnv(reflect.ValueOf(cfg).Elem(), env)
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	rateType     = reflect.TypeOf(Rate{})
)

func walkEnv(v reflect.Value, env map[string]string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			if f.Type.Kind() == reflect.Struct && f.Type != rateType {
				if err := walkEnv(fv, env); err != nil {
					return err
				}
			}
			continue
		}
		raw, ok := env[EnvPrefix+name]
		if !ok {
			continue
		}
		if err := setFromString(fv, raw); err != nil {
			return fmt.Errorf("environment variable %s%s=%q: %w", EnvPrefix, name, raw, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, raw string) error {
	switch {
	case fv.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
	case fv.Type() == rateType:
		r, err := ParseRate(raw)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(r))
	case fv.Kind() == reflect.String:
		fv.SetString(raw)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		// A comma-separated list; empty means an empty list.
		var list []string
		for _, item := range strings.Split(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		fv.Set(reflect.ValueOf(list))
	case fv.Kind() == reflect.Uint32:
		n, err := strconv.ParseUint(raw, 10, 32)
		if err != nil {
			return err
		}
		fv.SetUint(n)
	default:
		return fmt.Errorf("unsupported setting type %s", fv.Type())
	}
	return nil
}

// ParseRate reads "PER_SECOND/BURST", for example "0.5/20"; "0" or "off"
// switches the limit off.
func ParseRate(s string) (Rate, error) {
	if s == "0" || s == "off" {
		return Rate{}, nil
	}
	perSec, burst, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, errors.New(`want PER_SECOND/BURST, e.g. "0.5/20", or "off"`)
	}
	p, err := strconv.ParseFloat(perSec, 64)
	if err != nil {
		return Rate{}, fmt.Errorf("per-second rate: %w", err)
	}
	b, err := strconv.Atoi(burst)
	if err != nil {
		return Rate{}, fmt.Errorf("burst: %w", err)
	}
	return Rate{PerSecond: p, Burst: b}, nil
}
