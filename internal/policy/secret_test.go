package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The API key must never show in any rendering of a Policy, in logs, in
// JSON, or in any error message.
func TestAPIKeyNeverShown(t *testing.T) {
	const key = "hiro-SECRET-0123456789abcdef"
	path := writePolicy(t, "source:\n  api: v3\n")
	p, err := Load(path, env(map[string]string{EnvAPIKey: key}))
	if err != nil {
		t.Fatal(err)
	}
	if p.APIKey != key {
		t.Fatal("key not loaded; the test would prove nothing")
	}
	wrapped := struct {
		Name string
		P    Policy
		PP   *Policy
	}{"outer", *p, p}

	renderings := map[string]string{
		"%v":  fmt.Sprintf("%v", *p),
		"%+v": fmt.Sprintf("%+v", *p),
		"%#v": fmt.Sprintf("%#v", *p),
		//lint:ignore S1025 the %s verb is what this row tests, not String
		"%s":           fmt.Sprintf("%s", *p),
		"pointer %v":   fmt.Sprintf("%v", p),
		"pointer %+v":  fmt.Sprintf("%+v", p),
		"pointer %#v":  fmt.Sprintf("%#v", p),
		"nested %+v":   fmt.Sprintf("%+v", wrapped),
		"nested %#v":   fmt.Sprintf("%#v", wrapped),
		"slice %v":     fmt.Sprint([]Policy{*p}),
		"String":       p.String(),
		"GoString":     p.GoString(),
		"Redacted %#v": fmt.Sprintf("%#v", p.Redacted()),
		"Redacted.Key": p.Redacted().APIKey,
		"LogValue":     p.LogValue().String(),
		"json":         mustJSON(t, p),
		"json nested":  mustJSON(t, wrapped),
	}
	for _, handler := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"slog json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"slog text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		var b bytes.Buffer
		log := slog.New(handler.new(&b))
		log.Info("start", "policy", *p)
		log.Info("start", "policy", p)
		log.Info("start", slog.Any("policy", p))
		renderings[handler.name] = b.String()
	}
	for name, s := range renderings {
		if strings.Contains(s, key) {
			t.Errorf("%s shows the API key: %s", name, s)
		}
	}
	// The renderings must still say something useful, and that a key is set.
	for _, name := range []string{"%+v", "%#v", "pointer %v"} {
		if !strings.Contains(renderings[name], redactedKey) || !strings.Contains(renderings[name], "v3") {
			t.Errorf("%s = %s; want the policy with the key redacted", name, renderings[name])
		}
	}
	if !strings.Contains(renderings["%#v"], "policy.Policy{") {
		t.Errorf("%%#v = %s; want it to name policy.Policy", renderings["%#v"])
	}
	if !strings.Contains(renderings["slog json"], `"api_key_set":true`) {
		t.Errorf("slog output %s does not say a key is set", renderings["slog json"])
	}
	// Rendering must not have changed the policy itself.
	if p.APIKey != key {
		t.Error("rendering changed the APIKey")
	}

	// Errors: a bad key, bad values next to a good key, a .env with a bad line.
	errorCases := map[string]error{}
	_, errorCases["key with a space"] = Load(path, env(map[string]string{EnvAPIKey: key + " x"}))
	_, errorCases["key with a control character"] = Load(path, env(map[string]string{EnvAPIKey: key + "\x01"}))
	_, errorCases["other bad value"] = Load(path, env(map[string]string{EnvAPIKey: key, EnvMaxPages: "x", EnvAPIURL: "nope"}))
	bad := writePolicy(t, "source:\n  api_key: "+key+"\n  base_url: \"x\"\n")
	_, errorCases["key in the file"] = Load(bad, env(map[string]string{EnvAPIKey: key}))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "backfill.yaml"), []byte("source:\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("HIRO_API_KEY="+key+"\n"+key+"\n"), 0o600)
	_, errorCases[".env line without ="] = fromEnvironment(env(map[string]string{EnvPolicy: filepath.Join(dir, "backfill.yaml")}), dir)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("HIRO_API_KEY=\""+key+"\n"), 0o600)
	_, errorCases[".env unterminated quote"] = fromEnvironment(env(map[string]string{EnvPolicy: filepath.Join(dir, "backfill.yaml")}), dir)
	for name, err := range errorCases {
		if err == nil {
			t.Errorf("%s: want an error", name)
			continue
		}
		if strings.Contains(err.Error(), key) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), key) {
			t.Errorf("%s: error shows the API key: %v", name, err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
