package hirosim

import (
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// errBadRequest carries a 400 message.
type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

var digits = regexp.MustCompile(`^\d+$`)

// pagingLimit parses a limit like the API's getPagingQueryLimit: absent or
// 0 gives the default, above max is a 400.
func pagingLimit(v string, def, maxLimit int) (int, error) {
	if v == "" {
		return def, nil
	}
	if !digits.MatchString(v) {
		return 0, errBadRequest("`limit` and `offset` must be integers")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errBadRequest("`limit` and `offset` must be integers")
	}
	if n == 0 {
		return def, nil
	}
	if n > maxLimit {
		return 0, errBadRequest("'limit' must be equal to or less than " + strconv.Itoa(maxLimit))
	}
	return n, nil
}

func pagingOffset(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if !digits.MatchString(v) || err != nil {
		return 0, errBadRequest("`limit` and `offset` must be integers")
	}
	return n, nil
}

// unixParam parses a unix-seconds query parameter; 0 counts as absent, as
// in the API (which tests the value for truthiness).
func unixParam(q url.Values, name string) (int64, bool, error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, errBadRequest("querystring/" + name + " must be integer")
	}
	return n, n != 0, nil
}

var txTypeByName = map[string]uint8{
	"token_transfer": txTokenTransfer, "contract_call": txContractCall, "smart_contract": txSmartContract,
	"coinbase": txCoinbase, "tenure_change": txTenureChange, "poison_microblock": 255,
}

// selection is an ordered set of tx indices: either ascending spans or an
// explicit ascending list; desc reads it backwards.
type selection struct {
	spans  [][2]int32 // [lo, hi) in ascending output order
	prefix []int      // prefix[i] = elements before spans[i]
	list   []int32
	total  int
	desc   bool
}

func (sel *selection) addSpan(lo, hi int32) {
	if hi <= lo {
		return
	}
	sel.spans = append(sel.spans, [2]int32{lo, hi})
	sel.prefix = append(sel.prefix, sel.total)
	sel.total += int(hi - lo)
}

// at returns the tx index of the k-th element in output order.
func (sel *selection) at(k int) int {
	if sel.desc {
		k = sel.total - 1 - k
	}
	if sel.list != nil {
		return int(sel.list[k])
	}
	j := sort.Search(len(sel.prefix), func(i int) bool { return sel.prefix[i] > k }) - 1
	return int(sel.spans[j][0]) + k - sel.prefix[j]
}

type txFilter struct {
	start, end         int64
	hasStart, hasEnd   bool
	types              map[uint8]bool
	from, to           string
	contractID, fnName string
	nonce              int64
	hasNonce           bool
	sortBy             string
}

func (f *txFilter) hasPredicate() bool {
	return f.types != nil || f.from != "" || f.to != "" || f.contractID != "" || f.fnName != "" || f.hasNonce
}

func (s *Sim) match(f *txFilter, i int32) bool {
	r := &s.txs[i]
	g := s.g
	if f.types != nil && !f.types[r.typ] {
		return false
	}
	if f.from != "" && g.addrs[r.sender] != f.from {
		return false
	}
	if f.to != "" && (r.typ != txTokenTransfer || g.recipient(r) != f.to) {
		return false
	}
	if f.contractID != "" && (r.typ != txContractCall || g.contracts[r.target].id != f.contractID) {
		return false
	}
	if f.fnName != "" && (r.typ != txContractCall || g.contracts[r.target].fns[r.fn].name != f.fnName) {
		return false
	}
	if f.hasNonce && r.nonce != f.nonce {
		return false
	}
	return true
}

// selectTxs applies a v1 filter. Callers hold s.mu.
func (s *Sim) selectTxs(f *txFilter, desc bool) *selection {
	sel := &selection{desc: desc}
	if !f.hasStart && !f.hasEnd && f.sortBy != "burn_block_time" {
		sel.addSpan(0, int32(len(s.txs)))
	} else {
		burns := s.burnsInWindow(f.start, f.end, f.hasStart, f.hasEnd)
		if f.sortBy == "burn_block_time" {
			sort.SliceStable(burns, func(a, b int) bool {
				return s.burns[burns[a]].time < s.burns[burns[b]].time // ties keep height order
			})
		}
		for _, bi := range burns {
			sel.addSpan(s.burnSpan(int(bi)))
		}
	}
	if !f.hasPredicate() && f.sortBy != "fee" {
		return sel
	}
	list := make([]int32, 0)
	for k := range sel.total {
		i := int32(sel.atAsc(k))
		if s.match(f, i) {
			list = append(list, i)
		}
	}
	if f.sortBy == "fee" {
		sort.SliceStable(list, func(a, b int) bool { return s.txs[list[a]].fee < s.txs[list[b]].fee })
	}
	return &selection{list: list, total: len(list), desc: desc}
}

func (sel *selection) atAsc(k int) int {
	d := sel.desc
	sel.desc = false
	i := sel.at(k)
	sel.desc = d
	return i
}

type v1List struct {
	Limit   int    `json:"limit"`
	Offset  int    `json:"offset"`
	Total   int    `json:"total"`
	Results []v1Tx `json:"results"`
}

func (s *Sim) handleV1Tx(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := func(err error) { writeError(w, http.StatusBadRequest, err.Error()) }
	limit, err := pagingLimit(q.Get("limit"), 20, 50)
	if err != nil {
		fail(err)
		return
	}
	offset, err := pagingOffset(q.Get("offset"))
	if err != nil {
		fail(err)
		return
	}
	var f txFilter
	desc := true
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		desc = false
	default:
		fail(errBadRequest("querystring/order must be equal to one of the allowed values"))
		return
	}
	switch f.sortBy = q.Get("sort_by"); f.sortBy {
	case "", "block_height", "burn_block_time", "fee":
	default:
		fail(errBadRequest("querystring/sort_by must be equal to one of the allowed values"))
		return
	}
	for _, v := range q["type"] {
		for _, t := range strings.Split(v, ",") {
			typ, ok := txTypeByName[strings.TrimSpace(t)]
			if !ok {
				fail(errBadRequest("querystring/type/0 must be equal to one of the allowed values"))
				return
			}
			if f.types == nil {
				f.types = map[uint8]bool{}
			}
			f.types[typ] = true
		}
	}
	if f.start, f.hasStart, err = unixParam(q, "start_time"); err != nil {
		fail(err)
		return
	}
	if f.end, f.hasEnd, err = unixParam(q, "end_time"); err != nil {
		fail(err)
		return
	}
	f.from, f.to = q.Get("from_address"), q.Get("to_address")
	f.contractID, f.fnName = q.Get("contract_id"), q.Get("function_name")
	if f.nonce, f.hasNonce, err = unixParam(q, "nonce"); err != nil {
		fail(err)
		return
	}
	withArgs := q.Get("exclude_function_args") != "true"

	s.mu.RLock()
	sel := s.selectTxs(&f, desc)
	out := v1List{Limit: limit, Offset: offset, Total: sel.total, Results: []v1Tx{}}
	for k := offset; k < offset+limit && k < sel.total; k++ {
		out.Results = append(out.Results, s.renderV1(sel.at(k), withArgs))
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, out)
}

// txCursor is the v3 keyset position (block_height, microblock_sequence, tx_index).
type txCursor struct{ h, m, i int64 }

func (c txCursor) less(o txCursor) bool {
	if c.h != o.h {
		return c.h < o.h
	}
	if c.m != o.m {
		return c.m < o.m
	}
	return c.i < o.i
}

func (c txCursor) String() string {
	return strconv.FormatInt(c.h, 10) + ":" + strconv.FormatInt(c.m, 10) + ":" + strconv.FormatInt(c.i, 10)
}

var cursorRE = regexp.MustCompile(`^(\d+):(\d+):(\d+)$`)

// key is the keyset position of s.txs[i]. Callers hold s.mu.
func (s *Sim) key(i int) txCursor {
	b := &s.blocks[s.txs[i].block]
	return txCursor{b.height, microblockSequenceNone, int64(i - int(b.txStart))}
}

type v3Cursor struct {
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Current  *string `json:"current"`
}

type v3List struct {
	Total   int         `json:"total"`
	Limit   int         `json:"limit"`
	Cursor  v3Cursor    `json:"cursor"`
	Results []v3Summary `json:"results"`
}

func strp(s string) *string { return &s }

func (s *Sim) handleV3Transactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if !digits.MatchString(v) || err != nil || n < 1 || n > 50 {
			writeError(w, http.StatusBadRequest, "querystring/limit must be an integer from 1 to 50")
			return
		}
		limit = n
	}
	var cur txCursor
	hasCursor := q.Has("cursor")
	if hasCursor {
		m := cursorRE.FindStringSubmatch(q.Get("cursor"))
		var errs [3]error
		if m != nil {
			cur.h, errs[0] = strconv.ParseInt(m[1], 10, 64)
			cur.m, errs[1] = strconv.ParseInt(m[2], 10, 64)
			cur.i, errs[2] = strconv.ParseInt(m[3], 10, 64)
		}
		if m == nil || errs[0] != nil || errs[1] != nil || errs[2] != nil {
			writeError(w, http.StatusBadRequest, `querystring/cursor must match pattern "^[0-9]+:[0-9]+:[0-9]+$"`)
			return
		}
	}

	s.mu.RLock()
	n := len(s.txs)
	pos := n // number of transactions at or below the cursor
	if hasCursor {
		// resolveTransactionCursor: H:0:0 that matches no tx means the top of block H.
		if cur.m == 0 && cur.i == 0 && !s.exactCursor(cur) {
			cur.m, cur.i = microblockSequenceNone, 0x7fff
		}
		pos = sort.Search(n, func(i int) bool { return cur.less(s.key(i)) })
	}
	out := v3List{Limit: limit, Results: []v3Summary{}}
	for k := range limit {
		if pos-1-k < 0 {
			break
		}
		out.Results = append(out.Results, s.renderV3(pos-1-k))
	}
	if len(out.Results) > 0 {
		out.Total = n
		out.Cursor.Current = strp(s.key(pos - 1).String())
		if pos-1-limit >= 0 {
			out.Cursor.Next = strp(s.key(pos - 1 - limit).String())
		}
		if pos < n {
			out.Cursor.Previous = strp(s.key(min(pos-1+limit, n-1)).String())
		}
	}
	s.mu.RUnlock()
	// Like the real API (routes/v3/transactions.ts has no 404 path): a
	// cursor with nothing at or below it is 200 with no results and total
	// 0, and a cursor whose own row left the canonical chain is resolved
	// silently to the next row below it, which cursor.current names.
	writeJSON(w, http.StatusOK, out)
}

// exactCursor reports whether a transaction sits exactly at c. Callers hold s.mu.
func (s *Sim) exactCursor(c txCursor) bool {
	if c.m != microblockSequenceNone {
		return false
	}
	bi := s.blockIndexByHeight(c.h)
	if bi < 0 {
		return false
	}
	lo, hi := s.blockSpan(bi)
	return c.i >= 0 && c.i < int64(hi-lo)
}

func (s *Sim) blockIndexByHeight(h int64) int {
	if len(s.blocks) == 0 {
		return -1
	}
	i := h - s.blocks[0].height
	if i < 0 || i >= int64(len(s.blocks)) {
		return -1
	}
	return int(i)
}

// findBlock resolves "latest", a height or a (index) block hash. Callers hold s.mu.
func (s *Sim) findBlock(id string) int {
	switch {
	case id == "latest":
		return len(s.blocks) - 1
	case digits.MatchString(id):
		h, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return -1
		}
		return s.blockIndexByHeight(h)
	}
	for _, kind := range []uint64{kindBlock, kindIndexBlock} {
		if serial, ok := s.g.serialOf(kind, id); ok {
			return s.blockBySerial(serial)
		}
	}
	return -1
}

// blockBySerial finds a block by serial; serials increase along the chain
// (new blocks, including a reorg's, always get fresh higher serials).
// Callers hold s.mu.
func (s *Sim) blockBySerial(serial uint64) int {
	i := sort.Search(len(s.blocks), func(i int) bool { return s.blocks[i].serial >= serial })
	if i < len(s.blocks) && s.blocks[i].serial == serial {
		return i
	}
	return -1
}

type blockList struct {
	Limit      int             `json:"limit"`
	Offset     int             `json:"offset"`
	Total      int             `json:"total"`
	NextCursor *string         `json:"next_cursor"`
	PrevCursor *string         `json:"prev_cursor"`
	Cursor     *string         `json:"cursor"`
	Results    []nakamotoBlock `json:"results"`
}

var indexHashRE = regexp.MustCompile(`^0x[0-9a-f]{64}$`)

func (s *Sim) handleBlocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pagingLimit(q.Get("limit"), 20, 30)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset := 0
	if v := q.Get("offset"); v != "" {
		offset, err = strconv.Atoi(v)
		if err != nil || offset < -300 || offset > 300 && q.Has("cursor") || offset < 0 && !q.Has("cursor") {
			writeError(w, http.StatusBadRequest, "querystring/offset must be an integer (from -300 to 300 with a cursor)")
			return
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := len(s.blocks) - 1
	if q.Has("cursor") {
		c := q.Get("cursor")
		if !indexHashRE.MatchString(c) {
			writeError(w, http.StatusBadRequest, `querystring/cursor must match pattern "^0x[0-9a-f]{64}$"`)
			return
		}
		start = -1
		if serial, ok := s.g.serialOf(kindIndexBlock, c); ok {
			start = s.blockBySerial(serial)
		}
		if start < 0 {
			writeError(w, http.StatusNotFound, "Cursor not found")
			return
		}
	}
	start -= offset
	out := blockList{Limit: limit, Offset: offset, Total: len(s.blocks), Results: []nakamotoBlock{}}
	for k := range limit {
		if bi := start - k; bi >= 0 && bi < len(s.blocks) {
			out.Results = append(out.Results, s.renderBlock(bi))
		}
	}
	idx := func(bi int) *string {
		if bi < 0 || bi >= len(s.blocks) {
			return nil
		}
		return strp(s.g.indexBlockHash(s.blocks[bi].serial))
	}
	out.Cursor = idx(start)
	out.NextCursor = idx(start + limit) // newer
	out.PrevCursor = idx(start - limit) // older
	if len(out.Results) == 0 {
		out.Total = 0
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleBlock(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	bi := s.findBlock(r.PathValue("id"))
	if bi < 0 {
		writeError(w, http.StatusNotFound, "Block not found")
		return
	}
	writeJSON(w, http.StatusOK, s.renderBlock(bi))
}

func (s *Sim) handleBlockSub(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "by-block-time":
		s.handleBlockByTime(w, b)
	case b == "transactions":
		s.handleBlockTransactions(w, r, a)
	default:
		notFoundRoute(w, r)
	}
}

// handleBlockByTime answers the most recent block with block_time <= t.
func (s *Sim) handleBlockByTime(w http.ResponseWriter, v string) {
	t, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "params/timestamp must be integer")
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := sort.Search(len(s.blocks), func(i int) bool { return s.blocks[i].time > t }) - 1
	if i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{
			"error": "Not Found", "message": "No block found at or before the given timestamp", "statusCode": 404,
		})
		return
	}
	writeJSON(w, http.StatusOK, s.renderBlock(i))
}

// handleBlockTransactions serves /extended/v2/blocks/{id}/transactions:
// ascending tx_index, and 404 when the page is empty (the API's quirk).
func (s *Sim) handleBlockTransactions(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	limit, err := pagingLimit(q.Get("limit"), 20, 50)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset, err := pagingOffset(q.Get("offset"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.RLock()
	bi := s.findBlock(id)
	out := v1List{Limit: limit, Offset: offset, Results: []v1Tx{}}
	if bi >= 0 {
		lo, hi := s.blockSpan(bi)
		out.Total = int(hi - lo)
		for i := int(lo) + offset; i < int(hi) && i < int(lo)+offset+limit; i++ {
			out.Results = append(out.Results, s.renderV1(i, q.Get("exclude_function_args") != "true"))
		}
	}
	s.mu.RUnlock()
	if len(out.Results) == 0 {
		writeError(w, http.StatusNotFound, "Block not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

type burnBlockList struct {
	Limit   int             `json:"limit"`
	Offset  int             `json:"offset"`
	Total   int             `json:"total"`
	Results []burnBlockJSON `json:"results"`
}

func (s *Sim) handleBurnBlocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pagingLimit(q.Get("limit"), 20, 30)
	if err == nil {
		var offset int
		offset, err = pagingOffset(q.Get("offset"))
		if err == nil {
			s.mu.RLock()
			out := burnBlockList{Limit: limit, Offset: offset, Total: len(s.burns), Results: []burnBlockJSON{}}
			for k := offset; k < offset+limit && k < len(s.burns); k++ {
				out.Results = append(out.Results, s.renderBurn(len(s.burns)-1-k))
			}
			s.mu.RUnlock()
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

// findBurn resolves "latest", a burn height or a burn block hash. Callers hold s.mu.
func (s *Sim) findBurn(id string) int {
	switch {
	case id == "latest":
		return len(s.burns) - 1
	case digits.MatchString(id):
		h, err := strconv.ParseInt(id, 10, 64)
		if err != nil || len(s.burns) == 0 {
			return -1
		}
		i := h - s.burns[0].height
		if i < 0 || i >= int64(len(s.burns)) {
			return -1
		}
		return int(i)
	}
	hash := strings.ToLower(id)
	if !strings.HasPrefix(hash, "0x") {
		hash = "0x" + hash
	}
	for i := len(s.burns) - 1; i >= 0; i-- {
		if s.g.burnHash(s.burns[i].height) == hash {
			return i
		}
	}
	return -1
}

func (s *Sim) handleBurnBlock(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := s.findBurn(r.PathValue("id"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "Burn block not found")
		return
	}
	writeJSON(w, http.StatusOK, s.renderBurn(i))
}

type nakamotoBlockList struct {
	Limit   int             `json:"limit"`
	Offset  int             `json:"offset"`
	Total   int             `json:"total"`
	Results []nakamotoBlock `json:"results"`
}

func (s *Sim) handleBurnBlockBlocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pagingLimit(q.Get("limit"), 20, 30)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset, err := pagingOffset(q.Get("offset"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := s.findBurn(r.PathValue("id"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "Burn block not found")
		return
	}
	first, n := int(s.burns[i].firstBlock), s.burnBlockCount(i)
	out := nakamotoBlockList{Limit: limit, Offset: offset, Total: n, Results: []nakamotoBlock{}}
	for k := offset; k < offset+limit && k < n; k++ {
		out.Results = append(out.Results, s.renderBlock(first+n-1-k))
	}
	writeJSON(w, http.StatusOK, out)
}

type chainTipJSON struct {
	BlockHeight        int64   `json:"block_height"`
	BlockHash          string  `json:"block_hash"`
	IndexBlockHash     string  `json:"index_block_hash"`
	MicroblockHash     *string `json:"microblock_hash"`
	MicroblockSequence *int64  `json:"microblock_sequence"`
	BurnBlockHeight    int64   `json:"burn_block_height"`
}

type statusJSON struct {
	ServerVersion string       `json:"server_version"`
	Status        string       `json:"status"`
	ChainTip      chainTipJSON `json:"chain_tip"`
}

func (s *Sim) handleStatus(w http.ResponseWriter, r *http.Request) {
	tip := s.Tip()
	writeJSON(w, http.StatusOK, statusJSON{
		ServerVersion: "stacks-blockchain-api " + s.cfg.ServerVersion,
		Status:        "ready",
		ChainTip: chainTipJSON{
			BlockHeight:     tip.Height,
			BlockHash:       tip.Hash,
			IndexBlockHash:  tip.IndexHash,
			BurnBlockHeight: tip.BurnHeight,
		},
	})
}

type marketChart struct {
	Prices       [][2]float64 `json:"prices"`
	MarketCaps   [][2]float64 `json:"market_caps"`
	TotalVolumes [][2]float64 `json:"total_volumes"`
}

func nonNil(p [][2]float64) [][2]float64 {
	if p == nil {
		return [][2]float64{}
	}
	return p
}

func checkCurrency(w http.ResponseWriter, q url.Values) bool {
	switch q.Get("vs_currency") {
	case "usd":
		return true
	case "":
		writeError(w, http.StatusBadRequest, "Missing parameter vs_currency")
	default:
		writeError(w, http.StatusBadRequest, "invalid vs_currency")
	}
	return false
}

// handleMarketChart serves CoinGecko's market_chart?days=N: daily points at
// 00:00 UTC within the last N days (gaps left out) and a final "now" point.
func (s *Sim) handleMarketChart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !checkCurrency(w, q) {
		return
	}
	now := s.priceNow()
	var from int64
	switch v := q.Get("days"); {
	case v == "max":
		from = s.prices.first * daySeconds
	case v == "":
		writeError(w, http.StatusBadRequest, "Missing parameter days")
		return
	default:
		days, err := strconv.ParseFloat(v, 64)
		if err != nil || days <= 0 || math.IsInf(days, 0) {
			writeError(w, http.StatusBadRequest, "invalid days")
			return
		}
		from = now - int64(days*daySeconds)
	}
	prices, caps, vols := s.prices.dailyPoints(from, now)
	if p, _, ok := s.prices.at(now); ok && now%daySeconds != 0 {
		// The current price: today's close nudged by the time of day.
		cur := roundSig(p*(1+0.01*math.Sin(float64(now%daySeconds))), 6)
		ms := float64(now*1000 + 123)
		prices = append(prices, [2]float64{ms, cur})
		caps = append(caps, [2]float64{ms, math.Round(cur * supplyAt(now))})
		vols = append(vols, [2]float64{ms, math.Round(cur * volumeAt(floorDiv(now, daySeconds)))})
	}
	writeJSON(w, http.StatusOK, marketChart{nonNil(prices), nonNil(caps), nonNil(vols)})
}

// handleMarketChartRange serves market_chart/range?from=&to= (unix seconds)
// with daily 00:00 UTC points (the real API is hourly below 90 days).
func (s *Sim) handleMarketChartRange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !checkCurrency(w, q) {
		return
	}
	from, err1 := strconv.ParseFloat(q.Get("from"), 64)
	to, err2 := strconv.ParseFloat(q.Get("to"), 64)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "Missing or invalid parameters from, to")
		return
	}
	prices, caps, vols := s.prices.dailyPoints(int64(math.Ceil(from)), int64(math.Floor(to)))
	writeJSON(w, http.StatusOK, marketChart{nonNil(prices), nonNil(caps), nonNil(vols)})
}
