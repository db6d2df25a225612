package config

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// envOf is the variable a setting's usage text names: every setting has
// exactly one.
var envOf = regexp.MustCompile(`\(CERTSEAL_[A-Z0-9_]+`)

// settingFlags registers every setting, as each command does, and
// returns the flags by name with the variable each reads.
func settingFlags(t *testing.T, getenv func(string) string) (*flag.FlagSet, map[string]string) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	(&Config{}).Register(fs, getenv)
	(&Client{}).Register(fs, getenv)
	vars := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		names := envOf.FindAllString(f.Usage, -1)
		if len(names) != 1 {
			t.Errorf("--%s names %d CERTSEAL_* variables in its usage, want one: %q", f.Name, len(names), f.Usage)
			return
		}
		vars[f.Name] = strings.TrimPrefix(names[0], "(")
	})
	return fs, vars
}

// Every setting has its CERTSEAL_* variable, the variable does set it,
// and the README's settings table lists exactly these, each flag with
// its variable.
func TestREADMESettingsTable(t *testing.T) {
	fs, vars := settingFlags(t, func(string) string { return "" })
	// The variable reaches its flag: one of these values parses for every
	// kind of setting and differs from its default.
	samples := []string{"json", "true", "debug", "7s", "7", "postgres://h/db"}
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := vars[f.Name]
		if !ok {
			return
		}
		for _, sample := range samples {
			set, _ := settingFlags(t, func(k string) string {
				if k == v {
					return sample
				}
				return ""
			})
			if set.Lookup(f.Name).Value.String() != f.Value.String() {
				return
			}
		}
		t.Errorf("%s does not change --%s", v, f.Name)
	})

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `(CERTSEAL_[A-Z0-9_]+)`(?: or `CERTSEAL_[A-Z0-9_]+`)? \\| `--([a-z0-9-]+)` \\|")
	listed := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		listed[m[2]] = m[1]
	}
	if len(listed) == 0 {
		t.Fatal("README's settings table has no rows")
	}
	for name, v := range vars {
		if listed[name] != v {
			t.Errorf("README lists --%s with %q, want %s", name, listed[name], v)
		}
	}
	for name := range listed {
		if fs.Lookup(name) == nil {
			t.Errorf("README lists --%s, which is no setting", name)
		}
	}
	// A row that does not have both a variable and a flag.
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| ") && strings.Contains(line, "`--") && !row.MatchString(line) {
			t.Errorf("README settings row without its variable: %s", line)
		}
	}
}
