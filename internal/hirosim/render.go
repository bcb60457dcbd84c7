package hirosim

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// The JSON shapes below follow the real API's field order and types
// (testdata/fixtures/*.json are real API objects): amounts are decimal strings,
// heights, times and nonces are numbers.

const microblockSequenceNone = 2147483647 // I32_MAX: not in a microblock (every Nakamoto tx)

type clarityValue struct {
	Hex  string `json:"hex"`
	Repr string `json:"repr"`
}

type principalRef struct {
	TypeID       string `json:"type_id"`
	Address      string `json:"address,omitempty"`
	ContractName string `json:"contract_name,omitempty"`
}

type postCondition struct {
	Principal     principalRef `json:"principal"`
	ConditionCode string       `json:"condition_code"`
	Amount        string       `json:"amount"`
	Type          string       `json:"type"`
}

type functionArg struct {
	Hex  string `json:"hex"`
	Repr string `json:"repr"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type tokenTransferPayload struct {
	RecipientAddress string `json:"recipient_address"`
	Amount           string `json:"amount"`
	Memo             string `json:"memo"`
}

type contractCallPayload struct {
	ContractID        string         `json:"contract_id"`
	FunctionName      string         `json:"function_name"`
	FunctionSignature string         `json:"function_signature"`
	FunctionArgs      *[]functionArg `json:"function_args,omitempty"`
}

type smartContractPayload struct {
	ClarityVersion *int   `json:"clarity_version"`
	ContractID     string `json:"contract_id"`
	SourceCode     string `json:"source_code"`
}

type coinbasePayload struct {
	Data         string  `json:"data"`
	AltRecipient *string `json:"alt_recipient"`
	VRFProof     *string `json:"vrf_proof"`
}

type tenureChangePayload struct {
	TenureConsensusHash     string `json:"tenure_consensus_hash"`
	PrevTenureConsensusHash string `json:"prev_tenure_consensus_hash"`
	BurnViewConsensusHash   string `json:"burn_view_consensus_hash"`
	PreviousTenureEnd       string `json:"previous_tenure_end"`
	PreviousTenureBlocks    int    `json:"previous_tenure_blocks"`
	Cause                   string `json:"cause"`
	PubkeyHash              string `json:"pubkey_hash"`
}

// v1Tx is a v1 Transaction as list endpoints return it (events: []).
type v1Tx struct {
	TxID                     string          `json:"tx_id"`
	Nonce                    int64           `json:"nonce"`
	FeeRate                  string          `json:"fee_rate"`
	SenderAddress            string          `json:"sender_address"`
	Sponsored                bool            `json:"sponsored"`
	SponsorAddress           string          `json:"sponsor_address,omitempty"`
	SponsorNonce             *int64          `json:"sponsor_nonce,omitempty"`
	PostConditionMode        string          `json:"post_condition_mode"`
	PostConditions           []postCondition `json:"post_conditions"`
	AnchorMode               string          `json:"anchor_mode"`
	BlockHash                string          `json:"block_hash"`
	BlockHeight              int64           `json:"block_height"`
	BlockTime                int64           `json:"block_time"`
	BlockTimeISO             string          `json:"block_time_iso"`
	BurnBlockTime            int64           `json:"burn_block_time"`
	BurnBlockHeight          int64           `json:"burn_block_height"`
	BurnBlockTimeISO         string          `json:"burn_block_time_iso"`
	ParentBurnBlockTime      int64           `json:"parent_burn_block_time"`
	ParentBurnBlockTimeISO   string          `json:"parent_burn_block_time_iso"`
	Canonical                bool            `json:"canonical"`
	TxIndex                  int64           `json:"tx_index"`
	TxStatus                 string          `json:"tx_status"`
	TxResult                 clarityValue    `json:"tx_result"`
	EventCount               int             `json:"event_count"`
	ParentBlockHash          string          `json:"parent_block_hash"`
	IsUnanchored             bool            `json:"is_unanchored"`
	MicroblockHash           string          `json:"microblock_hash"`
	MicroblockSequence       int64           `json:"microblock_sequence"`
	MicroblockCanonical      bool            `json:"microblock_canonical"`
	ExecutionCostReadCount   int64           `json:"execution_cost_read_count"`
	ExecutionCostReadLength  int64           `json:"execution_cost_read_length"`
	ExecutionCostRuntime     int64           `json:"execution_cost_runtime"`
	ExecutionCostWriteCount  int64           `json:"execution_cost_write_count"`
	ExecutionCostWriteLength int64           `json:"execution_cost_write_length"`
	VMError                  *string         `json:"vm_error"`
	Events                   []struct{}      `json:"events"`
	TxType                   string          `json:"tx_type"`

	TokenTransfer       *tokenTransferPayload `json:"token_transfer,omitempty"`
	ContractCall        *contractCallPayload  `json:"contract_call,omitempty"`
	SmartContract       *smartContractPayload `json:"smart_contract,omitempty"`
	CoinbasePayload     *coinbasePayload      `json:"coinbase_payload,omitempty"`
	TenureChangePayload *tenureChangePayload  `json:"tenure_change_payload,omitempty"`
}

func isoTime(unix int64) string {
	return time.Unix(unix, 0).UTC().Format("2006-01-02T15:04:05.000Z")
}

// Clarity value encodings (SIP-005 serialisation) for function args/results.
func clarityUint(v uint64) clarityValue {
	var b [17]byte
	b[0] = 0x01
	binary.BigEndian.PutUint64(b[9:], v)
	return clarityValue{hex0x(b[:]), "u" + strconv.FormatUint(v, 10)}
}

func (g *generator) clarityPrincipal(w int32) clarityValue {
	b := make([]byte, 0, 22)
	b = append(b, 0x05, g.wallets[w].version)
	b = append(b, g.wallets[w].hash[:]...)
	return clarityValue{hex0x(b), "'" + g.addrs[w]}
}

var (
	resultOkTrue = clarityValue{"0x0703", "(ok true)"}
	resultErrU1  = clarityValue{"0x080100000000000000000000000000000001", "(err u1)"}
)

func (g *generator) functionArgs(r *txRec, fn *fnDef) []functionArg {
	args := make([]functionArg, 0, len(fn.args))
	for i, a := range fn.args {
		x := splitmix(g.seed ^ splitmix(kindArgs<<56^r.serial) + uint64(i))
		var v clarityValue
		switch a.kind {
		case argUint:
			v = clarityUint(x % 10_000_000_000_000)
		case argSomeUint:
			u := clarityUint(x % 1_000_000_000)
			v = clarityValue{"0x0a" + u.Hex[2:], "(some " + u.Repr + ")"}
		case argPrincipal:
			// a wallet that existed when the transaction was made
			v = g.clarityPrincipal(int32(x % uint64(r.sender+1)))
		case argNone:
			v = clarityValue{"0x09", "none"}
		case argBool:
			if x%2 == 0 {
				v = clarityValue{"0x03", "true"}
			} else {
				v = clarityValue{"0x04", "false"}
			}
		case argBuff:
			var raw [8]byte
			binary.BigEndian.PutUint64(raw[:], x)
			var n [4]byte
			binary.BigEndian.PutUint32(n[:], 8)
			v = clarityValue{"0x02" + hex.EncodeToString(n[:]) + hex.EncodeToString(raw[:]), hex0x(raw[:])}
		}
		args = append(args, functionArg{Hex: v.Hex, Repr: v.Repr, Name: a.name, Type: a.typ})
	}
	return args
}

// renderV1 builds the v1 Transaction of s.txs[i]. Callers hold s.mu.
func (s *Sim) renderV1(i int, withArgs bool) v1Tx {
	g := s.g
	r := &s.txs[i]
	bi := int(r.block)
	b := &s.blocks[bi]
	burn := &s.burns[b.burn]
	parentBurnTime := burn.time
	parentHash := g.blockHash(b.parentSerial)
	if bi > 0 {
		parentBurnTime = s.burns[s.blocks[bi-1].burn].time
	}
	t := v1Tx{
		TxID:                   g.txID(r),
		Nonce:                  r.nonce,
		FeeRate:                strconv.FormatUint(r.fee, 10),
		SenderAddress:          g.addrs[r.sender],
		Sponsored:              r.sponsor >= 0,
		PostConditionMode:      "deny",
		PostConditions:         []postCondition{},
		AnchorMode:             "any",
		BlockHash:              g.blockHash(b.serial),
		BlockHeight:            b.height,
		BlockTime:              b.time,
		BlockTimeISO:           isoTime(b.time),
		BurnBlockTime:          burn.time,
		BurnBlockHeight:        burn.height,
		BurnBlockTimeISO:       isoTime(burn.time),
		ParentBurnBlockTime:    parentBurnTime,
		ParentBurnBlockTimeISO: isoTime(parentBurnTime),
		Canonical:              true,
		TxIndex:                int64(i - int(b.txStart)),
		TxStatus:               txStatusNames[r.status],
		TxResult:               resultOkTrue,
		ParentBlockHash:        parentHash,
		MicroblockHash:         "0x",
		MicroblockSequence:     microblockSequenceNone,
		MicroblockCanonical:    true,
		Events:                 []struct{}{},
		TxType:                 txTypeNames[r.typ],
	}
	if r.sponsor >= 0 {
		t.SponsorAddress = g.addrs[r.sponsor]
		n := r.sponsorNonce
		t.SponsorNonce = &n
	}
	if r.aux%10 == 0 {
		t.AnchorMode = "on_chain_only"
	}
	if r.status == stAbortByResponse {
		t.TxResult = resultErrU1
	}
	cost := func(scale uint32) {
		a := r.aux
		t.ExecutionCostReadCount = int64(a%40 + 1)
		t.ExecutionCostReadLength = int64(a%200_000*scale/4 + 100)
		t.ExecutionCostRuntime = int64(a%900_000*scale/4 + 1_000)
		t.ExecutionCostWriteCount = int64(a % 7)
		t.ExecutionCostWriteLength = int64(a % 3_000)
	}
	switch r.typ {
	case txTokenTransfer:
		if r.status == stSuccess {
			t.EventCount = 1
		}
		t.TokenTransfer = &tokenTransferPayload{
			RecipientAddress: g.recipient(r),
			Amount:           strconv.FormatUint(r.amount, 10),
			Memo:             g.memoHex(r),
		}
	case txContractCall:
		c := &g.contracts[r.target]
		fn := &c.fns[r.fn]
		cost(4)
		if r.status == stSuccess {
			t.EventCount = int(r.aux % 5)
		}
		if r.aux%3 == 0 {
			t.PostConditionMode = "allow"
		} else if r.aux%2 == 0 {
			t.PostConditions = append(t.PostConditions, postCondition{
				Principal:     principalRef{TypeID: "principal_origin"},
				ConditionCode: "sent_equal_to",
				Amount:        strconv.FormatUint(uint64(r.aux%5_000_000), 10),
				Type:          "stx",
			})
		}
		t.ContractCall = &contractCallPayload{
			ContractID:        c.id,
			FunctionName:      fn.name,
			FunctionSignature: fn.sig,
		}
		if withArgs {
			args := g.functionArgs(r, fn)
			t.ContractCall.FunctionArgs = &args
		}
	case txSmartContract:
		cost(8)
		c := &g.contracts[r.target]
		var version *int
		if r.aux%10 != 0 {
			v := 2 + int(r.aux/10%2)
			version = &v
		}
		_, name, _ := cutDot(c.id)
		t.SmartContract = &smartContractPayload{
			ClarityVersion: version,
			ContractID:     c.id,
			SourceCode:     ";; " + name + "\n(define-public (mint (amount uint)) (ok true))\n(define-public (transfer (amount uint) (recipient principal)) (ok true))\n",
		}
		if r.status == stAbortByResponse {
			msg := "Runtime(UnwrapFailure)"
			t.VMError = &msg
		}
	case txCoinbase:
		data := derive(g.seed, kindCoinbaseData, r.serial)
		vrf := make([]byte, 0, 80)
		for k := range uint64(3) {
			h := derive(g.seed, kindVRF, r.serial*3+k)
			vrf = append(vrf, h[:]...)
		}
		proof := hex0x(vrf[:80])
		t.CoinbasePayload = &coinbasePayload{Data: hex0x(data[:]), VRFProof: &proof}
	case txTenureChange:
		prevEnd := g.indexBlockHash(b.parentSerial)
		prevBlocks := 0
		if b.burn > 0 {
			prevBlocks = s.burnBlockCount(int(b.burn) - 1)
		}
		pub := derive(g.seed, kindPubkey, uint64(r.sender))
		t.TenureChangePayload = &tenureChangePayload{
			TenureConsensusHash:     g.consensusHash(burn.height),
			PrevTenureConsensusHash: g.consensusHash(burn.height - 1),
			BurnViewConsensusHash:   g.consensusHash(burn.height),
			PreviousTenureEnd:       prevEnd,
			PreviousTenureBlocks:    prevBlocks,
			Cause:                   "block_found",
			PubkeyHash:              hex0x(pub[:20]),
		}
	}
	return t
}

func cutDot(id string) (addr, name string, ok bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			return id[:i], id[i+1:], true
		}
	}
	return id, "", false
}

func (g *generator) consensusHash(burnHeight int64) string {
	h := derive(g.seed, kindConsensus, uint64(burnHeight))
	return hex0x(h[:20])
}

// v3 TransactionSummary, the shape of the /extended/v3 lists.
type v3Sender struct {
	Address string `json:"address"`
	Nonce   int64  `json:"nonce"`
}

type v3Block struct {
	Height    int64  `json:"height"`
	Hash      string `json:"hash"`
	IndexHash string `json:"index_hash"`
	Time      int64  `json:"time"`
	TxIndex   int64  `json:"tx_index"`
}

type v3BitcoinBlock struct {
	Height int64 `json:"height"`
	Time   int64 `json:"time"`
}

type v3TokenTransfer struct {
	Recipient string        `json:"recipient"`
	Amount    string        `json:"amount"`
	Memo      *clarityValue `json:"memo"`
}

type v3ContractCall struct {
	ContractID   string `json:"contract_id"`
	FunctionName string `json:"function_name"`
}

type v3SmartContract struct {
	ClarityVersion *int   `json:"clarity_version"`
	ContractID     string `json:"contract_id"`
}

type v3Coinbase struct {
	AltRecipient *string `json:"alt_recipient"`
}

type v3TenureChange struct {
	Cause string `json:"cause"`
}

type v3Summary struct {
	TxID          string           `json:"tx_id"`
	Sender        v3Sender         `json:"sender"`
	Sponsor       *v3Sender        `json:"sponsor"`
	FeeRate       string           `json:"fee_rate"`
	Block         v3Block          `json:"block"`
	BitcoinBlock  v3BitcoinBlock   `json:"bitcoin_block"`
	Status        string           `json:"status"`
	Type          string           `json:"type"`
	TokenTransfer *v3TokenTransfer `json:"token_transfer,omitempty"`
	ContractCall  *v3ContractCall  `json:"contract_call,omitempty"`
	SmartContract *v3SmartContract `json:"smart_contract,omitempty"`
	Coinbase      *v3Coinbase      `json:"coinbase,omitempty"`
	TenureChange  *v3TenureChange  `json:"tenure_change,omitempty"`
}

// renderV3 builds the v3 summary of s.txs[i] from its v1 form, so both
// always agree. Callers hold s.mu.
func (s *Sim) renderV3(i int) v3Summary {
	t := s.renderV1(i, false)
	b := &s.blocks[s.txs[i].block]
	out := v3Summary{
		TxID:    t.TxID,
		Sender:  v3Sender{t.SenderAddress, t.Nonce},
		FeeRate: t.FeeRate,
		Block: v3Block{
			Height:    t.BlockHeight,
			Hash:      t.BlockHash,
			IndexHash: s.g.indexBlockHash(b.serial),
			Time:      t.BlockTime,
			TxIndex:   t.TxIndex,
		},
		BitcoinBlock: v3BitcoinBlock{t.BurnBlockHeight, t.BurnBlockTime},
		Status:       t.TxStatus,
		Type:         t.TxType,
	}
	if t.Sponsored {
		out.Sponsor = &v3Sender{t.SponsorAddress, *t.SponsorNonce}
	}
	switch {
	case t.TokenTransfer != nil:
		out.TokenTransfer = &v3TokenTransfer{
			Recipient: t.TokenTransfer.RecipientAddress,
			Amount:    t.TokenTransfer.Amount,
			Memo:      &clarityValue{t.TokenTransfer.Memo, t.TokenTransfer.Memo},
		}
	case t.ContractCall != nil:
		out.ContractCall = &v3ContractCall{t.ContractCall.ContractID, t.ContractCall.FunctionName}
	case t.SmartContract != nil:
		out.SmartContract = &v3SmartContract{t.SmartContract.ClarityVersion, t.SmartContract.ContractID}
	case t.CoinbasePayload != nil:
		out.Coinbase = &v3Coinbase{}
	case t.TenureChangePayload != nil:
		out.TenureChange = &v3TenureChange{t.TenureChangePayload.Cause}
	}
	return out
}

// nakamotoBlock is the v2 NakamotoBlock.
type nakamotoBlock struct {
	Canonical                bool   `json:"canonical"`
	Height                   int64  `json:"height"`
	Hash                     string `json:"hash"`
	BlockTime                int64  `json:"block_time"`
	BlockTimeISO             string `json:"block_time_iso"`
	TenureHeight             int64  `json:"tenure_height"`
	IndexBlockHash           string `json:"index_block_hash"`
	ParentBlockHash          string `json:"parent_block_hash"`
	ParentIndexBlockHash     string `json:"parent_index_block_hash"`
	BurnBlockTime            int64  `json:"burn_block_time"`
	BurnBlockTimeISO         string `json:"burn_block_time_iso"`
	BurnBlockHash            string `json:"burn_block_hash"`
	BurnBlockHeight          int64  `json:"burn_block_height"`
	MinerTxid                string `json:"miner_txid"`
	TxCount                  int    `json:"tx_count"`
	ExecutionCostReadCount   int64  `json:"execution_cost_read_count"`
	ExecutionCostReadLength  int64  `json:"execution_cost_read_length"`
	ExecutionCostRuntime     int64  `json:"execution_cost_runtime"`
	ExecutionCostWriteCount  int64  `json:"execution_cost_write_count"`
	ExecutionCostWriteLength int64  `json:"execution_cost_write_length"`
}

// tenureHeightBase makes tenure heights look like mainnet's.
const tenureHeightBase = 150_000

// renderBlock builds the NakamotoBlock of s.blocks[bi]. Callers hold s.mu.
func (s *Sim) renderBlock(bi int) nakamotoBlock {
	g := s.g
	b := &s.blocks[bi]
	burn := &s.burns[b.burn]
	lo, hi := s.blockSpan(bi)
	miner := derive(g.seed, kindMinerTx, uint64(burn.height))
	out := nakamotoBlock{
		Canonical:            true,
		Height:               b.height,
		Hash:                 g.blockHash(b.serial),
		BlockTime:            b.time,
		BlockTimeISO:         isoTime(b.time),
		TenureHeight:         tenureHeightBase + int64(b.burn),
		IndexBlockHash:       g.indexBlockHash(b.serial),
		ParentBlockHash:      g.blockHash(b.parentSerial),
		ParentIndexBlockHash: g.indexBlockHash(b.parentSerial),
		BurnBlockTime:        burn.time,
		BurnBlockTimeISO:     isoTime(burn.time),
		BurnBlockHash:        g.burnHash(burn.height),
		BurnBlockHeight:      burn.height,
		MinerTxid:            hex0x(miner[:]),
		TxCount:              int(hi - lo),
	}
	for i := lo; i < hi; i++ {
		a := int64(s.txs[i].aux)
		if s.txs[i].typ == txContractCall || s.txs[i].typ == txSmartContract {
			out.ExecutionCostReadCount += a%40 + 1
			out.ExecutionCostRuntime += a%900_000 + 1_000
			out.ExecutionCostWriteCount += a % 7
			out.ExecutionCostReadLength += a%200_000 + 100
			out.ExecutionCostWriteLength += a % 3_000
		}
	}
	return out
}

// burnBlockJSON is the v2 BurnBlock.
type burnBlockJSON struct {
	BurnBlockTime    int64    `json:"burn_block_time"`
	BurnBlockTimeISO string   `json:"burn_block_time_iso"`
	BurnBlockHash    string   `json:"burn_block_hash"`
	BurnBlockHeight  int64    `json:"burn_block_height"`
	StacksBlocks     []string `json:"stacks_blocks"`
	AvgBlockTime     int64    `json:"avg_block_time"`
	TotalTxCount     int      `json:"total_tx_count"`
}

// renderBurn builds the BurnBlock of s.burns[i]. Callers hold s.mu.
func (s *Sim) renderBurn(i int) burnBlockJSON {
	burn := &s.burns[i]
	first := int(burn.firstBlock)
	n := s.burnBlockCount(i)
	lo, hi := s.burnSpan(i)
	out := burnBlockJSON{
		BurnBlockTime:    burn.time,
		BurnBlockTimeISO: isoTime(burn.time),
		BurnBlockHash:    s.g.burnHash(burn.height),
		BurnBlockHeight:  burn.height,
		StacksBlocks:     make([]string, 0, n),
		TotalTxCount:     int(hi - lo),
	}
	// newest first, like the API
	for bi := first + n - 1; bi >= first; bi-- {
		out.StacksBlocks = append(out.StacksBlocks, s.g.blockHash(s.blocks[bi].serial))
	}
	if n > 1 {
		out.AvgBlockTime = (s.blocks[first+n-1].time - s.blocks[first].time) / int64(n-1)
	}
	return out
}
