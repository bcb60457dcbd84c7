package hirosim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// c32Alphabet is Crockford's base-32 alphabet as Stacks uses it (no I, L, O, U).
const c32Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Address versions of Stacks principals (SIP-005).
const (
	VersionMainnetSingleSig byte = 22 // "SP…"
	VersionMainnetMultiSig  byte = 20 // "SM…"
	VersionTestnetSingleSig byte = 26 // "ST…"
	VersionTestnetMultiSig  byte = 21 // "SN…"
)

// ErrBadAddress is returned (wrapped) by C32AddressDecode for anything that is
// not a well-formed c32check Stacks address with a valid checksum.
var ErrBadAddress = errors.New("invalid c32check address")

var c32Index = func() (idx [256]int8) {
	for i := range idx {
		idx[i] = -1
	}
	for i := 0; i < len(c32Alphabet); i++ {
		idx[c32Alphabet[i]] = int8(i)
		idx[strings.ToLower(c32Alphabet[i : i+1])[0]] = int8(i)
	}
	// Crockford normalisation, as the reference c32check library does.
	for _, c := range "oO" {
		idx[c] = 0
	}
	for _, c := range "iIlL" {
		idx[c] = 1
	}
	return idx
}()

// c32Encode encodes data as a big-endian base-32 number, with one '0' digit
// for every leading zero byte (the reference library's rule, which keeps the
// length of hashes with leading zero bytes recoverable).
func c32Encode(data []byte) string {
	// 8 bits per byte in, 5 bits per digit out, least significant first.
	out := make([]byte, 0, len(data)*8/5+2)
	var acc uint32
	var bits uint
	for i := len(data) - 1; i >= 0; i-- {
		acc |= uint32(data[i]) << bits
		bits += 8
		for bits >= 5 {
			out = append(out, c32Alphabet[acc&31])
			acc >>= 5
			bits -= 5
		}
	}
	if bits > 0 {
		out = append(out, c32Alphabet[acc&31])
	}
	// Strip the leading (most significant) zero digits ...
	for len(out) > 0 && out[len(out)-1] == '0' {
		out = out[:len(out)-1]
	}
	// ... and put back one per leading zero byte.
	for i := 0; i < len(data) && data[i] == 0; i++ {
		out = append(out, '0')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// c32Decode is the inverse of c32Encode.
func c32Decode(s string) ([]byte, error) {
	digits := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		v := c32Index[s[i]]
		if v < 0 {
			return nil, fmt.Errorf("%w: character %q is not c32", ErrBadAddress, s[i])
		}
		digits[i] = byte(v)
	}
	zeros := 0
	for zeros < len(digits) && digits[zeros] == 0 {
		zeros++
	}
	out := make([]byte, 0, len(s)*5/8+1)
	var acc uint32
	var bits uint
	for i := len(digits) - 1; i >= zeros; i-- {
		acc |= uint32(digits[i]) << bits
		bits += 5
		if bits >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			bits -= 8
		}
	}
	if bits > 0 && acc != 0 {
		out = append(out, byte(acc))
	}
	for len(out) > 0 && out[len(out)-1] == 0 {
		out = out[:len(out)-1]
	}
	for range zeros {
		out = append(out, 0)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func c32Checksum(version byte, data []byte) [4]byte {
	buf := make([]byte, 0, 1+len(data))
	buf = append(buf, version)
	buf = append(buf, data...)
	first := sha256.Sum256(buf)
	second := sha256.Sum256(first[:])
	var sum [4]byte
	copy(sum[:], second[:4])
	return sum
}

// C32Address returns the c32check Stacks address ("S" + version character +
// c32(hash160 ‖ checksum)) of a hash160 under an address version, e.g.
// version 22 gives a mainnet "SP…" address.
func C32Address(version byte, hash160 [20]byte) string {
	if version >= 32 {
		panic(fmt.Sprintf("hirosim: c32 address version %d out of range", version))
	}
	sum := c32Checksum(version, hash160[:])
	payload := make([]byte, 0, 24)
	payload = append(payload, hash160[:]...)
	payload = append(payload, sum[:]...)
	return "S" + string(c32Alphabet[version]) + c32Encode(payload)
}

// C32AddressDecode parses a standard Stacks address (not a contract
// principal) and verifies its checksum. The error wraps ErrBadAddress.
func C32AddressDecode(addr string) (version byte, hash160 [20]byte, err error) {
	if len(addr) < 5 || addr[0] != 'S' {
		return 0, hash160, fmt.Errorf("%w: %q does not start with S", ErrBadAddress, addr)
	}
	v := c32Index[addr[1]]
	if v < 0 {
		return 0, hash160, fmt.Errorf("%w: %q has a bad version character", ErrBadAddress, addr)
	}
	version = byte(v)
	data, err := c32Decode(addr[2:])
	if err != nil {
		return 0, hash160, fmt.Errorf("decode %q: %w", addr, err)
	}
	if len(data) != 24 {
		return 0, hash160, fmt.Errorf("%w: %q decodes to %d bytes, want 24", ErrBadAddress, addr, len(data))
	}
	want := c32Checksum(version, data[:20])
	if [4]byte(data[20:24]) != want {
		return 0, hash160, fmt.Errorf("%w: %q has a bad checksum", ErrBadAddress, addr)
	}
	copy(hash160[:], data[:20])
	return version, hash160, nil
}

// ValidPrincipal reports whether p is a standard address or a contract
// principal ("address.name") whose address part has a valid c32check
// checksum. The contract name itself is not validated (the simulator's
// hostile mode deliberately emits names Clarity would reject).
func ValidPrincipal(p string) bool {
	addr, _, _ := strings.Cut(p, ".")
	_, _, err := C32AddressDecode(addr)
	return err == nil
}
