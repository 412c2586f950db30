package sysimage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Recipe is a system image recipe (recipes/system.yaml): name, version,
// epoch and archive as in recipes/lockstep.yaml, plus the system block.
type Recipe struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Epoch   string `yaml:"epoch"`
	Archive struct {
		Keyring string `yaml:"keyring"`
		Arch    string `yaml:"arch"`
		Sources []struct {
			Mirror     string   `yaml:"mirror"`
			Suite      string   `yaml:"suite"`
			Components []string `yaml:"components"`
		} `yaml:"sources"`
	} `yaml:"archive"`
	System SystemRecipe `yaml:"system"`
}

// SystemRecipe is the recipe's system block.
type SystemRecipe struct {
	// Suite names one of archive.sources; its mirror and components are used
	// for Suite and Backports alike.
	Suite         string   `yaml:"suite"`
	Backports     string   `yaml:"backports"`
	Variant       string   `yaml:"variant"`
	Hostname      string   `yaml:"hostname"`
	Packages      []string `yaml:"packages"`
	FromBackports []string `yaml:"from_backports"`
	BackportsDeps []string `yaml:"backports_deps"`
	PathExclude   []string `yaml:"path_exclude"`
	Enable        []string `yaml:"enable"`
	Disable       []string `yaml:"disable"`
}

// LoadRecipe reads a system image recipe; unknown keys are errors.
func LoadRecipe(path string) (*Recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	var r Recipe
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	return &r, nil
}

// Spec turns the recipe into a build Spec (without extra files: the builder
// adds the agent). SOURCE_DATE_EPOCH, when set, overrides the recipe's epoch.
func (r *Recipe) Spec() (Spec, error) {
	epoch, err := epochTime(r.Epoch)
	if err != nil {
		return Spec{}, err
	}
	sys := r.System
	s := Spec{
		Version:       r.Version,
		Suite:         sys.Suite,
		Backports:     sys.Backports,
		Keyring:       r.Archive.Keyring,
		Arch:          r.Archive.Arch,
		Variant:       sys.Variant,
		Packages:      sys.Packages,
		FromBackports: sys.FromBackports,
		BackportsDeps: sys.BackportsDeps,
		PathExclude:   sys.PathExclude,
		Epoch:         epoch,
		Hostname:      sys.Hostname,
		EnableUnits:   sys.Enable,
		DisableUnits:  sys.Disable,
	}
	found := false
	for _, src := range r.Archive.Sources {
		if src.Suite == sys.Suite {
			s.Mirror, s.Components, found = src.Mirror, src.Components, true
			break
		}
	}
	if !found {
		return Spec{}, fmt.Errorf("recipe: system.suite %q is not one of archive.sources", sys.Suite)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("recipe system: %w", err)
	}
	return s, nil
}

func epochTime(recipeEpoch string) (time.Time, error) {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if recipeEpoch == "" {
		return time.Time{}, errors.New("recipe epoch: is required (RFC 3339, e.g. 2026-11-01T00:00:00Z)")
	}
	t, err := time.Parse(time.RFC3339, recipeEpoch)
	if err != nil {
		return time.Time{}, fmt.Errorf("recipe epoch: %q is not RFC 3339 (e.g. 2026-11-01T00:00:00Z)", recipeEpoch)
	}
	return t.UTC(), nil
}
