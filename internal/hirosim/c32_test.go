package hirosim

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func mustHash(t *testing.T, s string) [20]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 20 {
		t.Fatalf("bad hash160 %q", s)
	}
	return [20]byte(b)
}

// Known vectors from the c32check reference library's tests, the CAIP-10
// Stacks namespace, Clarity docs and the fixtures' own function args.
func TestC32KnownVectors(t *testing.T) {
	cases := []struct {
		addr    string
		version byte
		hash    string
	}{
		{"SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7", 22, "a46ff88886c2ef9762d970b4d2c63678835bd39d"},
		{"SZ2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKQ9H6DPR", 31, "a46ff88886c2ef9762d970b4d2c63678835bd39d"},
		{"SP000000000000000000002Q6VF78", 22, "0000000000000000000000000000000000000000"},
		// testdata/fixtures/mainnet_contract_call.json: the principal arg 0x0516<hash> has repr 'SPXVRSEH…
		{"SPXVRSEH2BKSXAEJ00F1BY562P45D5ERPSKR4Q33", 22, "3bbc65d112e79ea9d2001e15f8a615885695d8b6"},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			h := mustHash(t, c.hash)
			if got := C32Address(c.version, h); got != c.addr {
				t.Errorf("C32Address(%d, %s) = %s, want %s", c.version, c.hash, got, c.addr)
			}
			v, got, err := C32AddressDecode(c.addr)
			if err != nil || v != c.version || got != h {
				t.Errorf("C32AddressDecode(%s) = %d, %x, %v; want %d, %s", c.addr, v, got, err, c.version, c.hash)
			}
		})
	}
	raw, _ := hex.DecodeString("a46ff88886c2ef9762d970b4d2c63678835bd39d")
	if got := c32Encode(raw); got != "MHQZH246RBQSERPSE2TD5HHPF21NQMWX" {
		t.Errorf("c32Encode = %s, want MHQZH246RBQSERPSE2TD5HHPF21NQMWX", got)
	}
}

// Every address in the real fixtures must carry a valid checksum.
func TestC32FixtureAddressesValid(t *testing.T) {
	re := regexp.MustCompile(`S[0-9A-Z]{28,40}`)
	files, err := filepath.Glob("testdata/fixtures/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range re.FindAllString(string(b), -1) {
			seen++
			if _, _, err := C32AddressDecode(a); err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("found only %d addresses in the fixtures", seen)
	}
}

func TestC32RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var h [20]byte
		for j := range h {
			h[j] = byte(rng.UintN(256))
		}
		// leading zero bytes are the tricky part of c32
		for j := 0; j < i%6; j++ {
			h[j] = 0
		}
		version := byte(rng.UintN(32))
		addr := C32Address(version, h)
		v, got, err := C32AddressDecode(addr)
		if err != nil || v != version || got != h {
			t.Fatalf("round trip of (%d, %x) via %s gave (%d, %x, %v)", version, h, addr, v, got, err)
		}
		data := h[:i%21]
		back, err := c32Decode(c32Encode(data))
		if err != nil || hex.EncodeToString(back) != hex.EncodeToString(data) {
			t.Fatalf("c32 round trip of %x gave %x, %v", data, back, err)
		}
	}
}

func TestC32RejectsBadAddresses(t *testing.T) {
	good := "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"
	for _, bad := range []string{
		"",
		"XP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7", // no S
		"SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ8", // checksum
		"SP3J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7", // payload
		"SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EU7", // U is not c32
		"ST2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7", // version changes the checksum
		good[:30],
	} {
		if _, _, err := C32AddressDecode(bad); !errors.Is(err, ErrBadAddress) {
			t.Errorf("C32AddressDecode(%q) err = %v, want ErrBadAddress", bad, err)
		}
	}
	if !ValidPrincipal(good+".pox4-pools") || ValidPrincipal("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ8.x") {
		t.Error("ValidPrincipal disagrees with the checksum")
	}
}
