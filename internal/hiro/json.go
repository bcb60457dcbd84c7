package hiro

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/bytedance/sonic"
)

// decodeJSON decodes an API body into v. It is the one JSON decoder of this
// package: pages are decoded with sonic in its encoding/json-compatible
// configuration, which reads a page of 50 transactions about three times
// faster than encoding/json (go test -run '^$' -bench DecodeTxPage
// ./internal/hiro/), and decoding was the largest cost of a rebuild from the
// raw cache.
//
// A body sonic rejects is decoded again with encoding/json, whose error is
// one plain line (sonic's quotes the input over several lines); that costs
// nothing on good bodies and keeps every message the user can see as it
// was. Should encoding/json accept what sonic refused, the body is still
// refused, with the first line of sonic's reason.
func decodeJSON(data []byte, v any) error {
	err := sonic.ConfigStd.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	if stdErr := json.Unmarshal(data, v); stdErr != nil {
		return stdErr
	}
	line, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return errors.New(strings.Trim(line, `"`))
}
