package answers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileBytes bounds an answer file; real ones are a few hundred bytes.
const MaxFileBytes = 1 << 20

// Parse reads a YAML answer file and normalizes it (see Normalize); it does
// not validate it (call Validate with the machine's Hardware). Every unknown
// or misspelt key is an error: all of them are reported at once as Errors,
// each with its field path and line, e.g.
//
//	network.node.gatway: line 12: unknown key "gatway" (did you mean "gateway"?)
func Parse(data []byte) (*Answers, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("answer file: %d bytes is more than the %d allowed", len(data), MaxFileBytes)
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("answer file: it is empty")
		}
		return nil, fmt.Errorf("answer file: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("answer file: line %d: a second YAML document (\"---\"); an answer file holds one", extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("answer file: %w", err)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return nil, errors.New("answer file: it is empty")
	}
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("answer file: line %d: expected keys such as \"action: create\", found a %s", doc.Line, kindName(doc))
	}
	var unknown Errors
	checkKeys(doc, reflect.TypeOf(Answers{}), "", &unknown)
	if len(unknown) > 0 {
		return nil, unknown
	}

	// The key walk above already rejected unknown keys with better messages;
	// KnownFields stays on as a second guard.
	var a Answers
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("answer file: %s", strings.Join(te.Errors, "; "))
		}
		return nil, fmt.Errorf("answer file: %w", err)
	}
	Normalize(&a)
	return &a, nil
}

// Load reads and parses the answer file at path.
func Load(path string) (*Answers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("answer file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("answer file %s: %w", path, err)
	}
	a, err := Parse(data)
	var errs Errors
	if errors.As(err, &errs) {
		return nil, fmt.Errorf("answer file %s:\n%w", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "different structure"
}

// yamlKeys maps a struct's YAML keys to their field types.
func yamlKeys(t reflect.Type) map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys[name] = f.Type
	}
	return keys
}

// checkKeys walks a mapping node against a struct type and records every key
// the struct does not have. Values of the wrong kind are left to the decoder.
func checkKeys(n *yaml.Node, t reflect.Type, path string, errs *Errors) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return
	}
	keys := yamlKeys(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		ft, ok := keys[k.Value]
		if !ok {
			*errs = append(*errs, FieldError{Field: path + k.Value, Message: fmt.Sprintf("line %d: unknown key %q%s", k.Line, k.Value, suggest(k.Value, keys))})
			continue
		}
		checkKeys(val, ft, path+k.Value+".", errs)
	}
}

// suggest proposes the closest known key, or lists them all.
func suggest(k string, keys map[string]reflect.Type) string {
	var names []string
	best, bestD := "", 3
	for name := range keys {
		names = append(names, name)
		d := editDistance(strings.ToLower(strings.ReplaceAll(k, "-", "_")), name)
		if d*3 > len(name) {
			continue // too far to be a typo of this key
		}
		if d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sort.Strings(names)
	return "; known keys here: " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
