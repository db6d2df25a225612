// go-qrcode
// Copyright 2014 Tom Harwood

// Patch 2 (see PATCHES.md): the mask is chosen on one symbol built once.

package qrcode

import (
	"log"
	"math/bits"
	"sync"

	bitset "github.com/skip2/go-qrcode/bitset"
)

// noMask, as a regularSymbol's mask, places the data modules unmasked.
const noMask = -1

const (
	numMasks      = 8
	maxSymbolSize = 17 + 4*40 // Version 40.
	maxLineWords  = (maxSymbolSize + 63) / 64
)

// lineBits is one row or column of a symbol, module k at bit k%64 of word
// k/64.
type lineBits [maxLineWords]uint64

var (
	maskTablesOnce sync.Once

	// maskRows[mask][y] has bit x set if mask inverts module (x, y) when it
	// is a data module; maskColumns[mask][x] has bit y set if so.
	maskRows, maskColumns [numMasks][maxSymbolSize]lineBits

	// formatInfos[level][mask] is version.formatInfo(mask) for every
	// version of that level. Read only, as are allLight and allDark:
	// format information of only light, and only dark, modules.
	formatInfos       [4][numMasks]*bitset.Bitset
	allLight, allDark *bitset.Bitset
)

func initMaskTables() {
	for mask := 0; mask < numMasks; mask++ {
		for y := 0; y < maxSymbolSize; y++ {
			for x := 0; x < maxSymbolSize; x++ {
				if dataMask(mask, x, y) {
					maskRows[mask][y][x/64] |= 1 << uint(x%64)
					maskColumns[mask][x][y/64] |= 1 << uint(y%64)
				}
			}
		}
	}
	for level := range formatInfos {
		v := qrCodeVersion{level: RecoveryLevel(level)}
		for mask := range formatInfos[level] {
			formatInfos[level][mask] = v.formatInfo(mask)
		}
	}
	allLight = bitset.New()
	allLight.AppendNumBools(formatInfoLengthBits, false)
	allDark = bitset.New()
	allDark.AppendNumBools(formatInfoLengthBits, true)
}

// formatInfo returns version.formatInfo(mask) without allocating.
func formatInfo(version qrCodeVersion, mask int) *bitset.Bitset {
	if l := int(version.level); l >= 0 && l < len(formatInfos) {
		return formatInfos[l][mask]
	}
	return version.formatInfo(mask) // Panics as upstream does.
}

// flatSymbol is a symbol whose module rows are slices of one array, flat:
// module (x, y) is flat[(y+quietZoneSize)*size+x+quietZoneSize].
type flatSymbol struct {
	*symbol
	flat []bool
}

// newFlatSymbol is newSymbol with flat rows. Its isUsed rows are isUsed's,
// or new ones if isUsed is nil.
func newFlatSymbol(symbolSize int, quietZoneSize int, isUsed [][]bool) flatSymbol {
	size := symbolSize + 2*quietZoneSize
	s := flatSymbol{
		symbol: &symbol{
			module:        make([][]bool, size),
			isUsed:        isUsed,
			size:          size,
			symbolSize:    symbolSize,
			quietZoneSize: quietZoneSize,
		},
		flat: make([]bool, size*size),
	}
	for y := range s.module {
		s.module[y] = s.flat[y*size : (y+1)*size : (y+1)*size]
	}
	if isUsed == nil {
		used := make([]bool, size*size)
		s.isUsed = make([][]bool, size)
		for y := range s.isUsed {
			s.isUsed[y] = used[y*size : (y+1)*size : (y+1)*size]
		}
	}
	return s
}

// at returns the flat index of module (x, y).
func (m flatSymbol) at(x int, y int) int {
	return (y+m.quietZoneSize)*m.size + x + m.quietZoneSize
}

// modulePos is a module's (x, y).
type modulePos struct{ x, y uint8 }

// maskScorer holds a symbol's function patterns and unmasked data, placed
// once, as bits, and makes the symbol of each mask from them.
type maskScorer struct {
	version qrCodeVersion
	n       int // symbolSize

	// base: every module, the data unmasked and the format information
	// light; data: where the data modules are.
	baseRows, baseColumns []lineBits
	dataRows, dataColumns []lineBits

	// formatModules: where setFormatInfo writes the format information.
	formatModules []modulePos

	// out: the symbol returned, also where setFormatInfo writes a mask's
	// format information for score to read.
	out flatSymbol

	// The symbol of the mask last scored.
	rows, columns []lineBits
}

// newMaskScorer places the function patterns and data as buildRegularSymbol
// does, but unmasked.
func newMaskScorer(version qrCodeVersion, data *bitset.Bitset, includeQuietZone bool) *maskScorer {
	maskTablesOnce.Do(initMaskTables)

	quietZoneSize := 0
	if includeQuietZone {
		quietZoneSize = version.quietZoneSize()
	}
	n := version.symbolSize()
	base := newFlatSymbol(n, quietZoneSize, nil)

	m := &regularSymbol{
		version: version,
		mask:    noMask,
		data:    data,
		symbol:  base.symbol,
		size:    n,
	}
	m.addFinderPatterns()
	m.addAlignmentPatterns()
	m.addTimingPatterns()
	m.setFormatInfo(allLight) // Marks the modules used.
	m.addVersionInfo()

	lines := make([]lineBits, 6*n)
	s := &maskScorer{
		version:     version,
		n:           n,
		baseRows:    lines[0*n : 1*n],
		baseColumns: lines[1*n : 2*n],
		dataRows:    lines[2*n : 3*n],
		dataColumns: lines[3*n : 4*n],
		rows:        lines[4*n : 5*n],
		columns:     lines[5*n : 6*n],
		out:         newFlatSymbol(n, quietZoneSize, base.isUsed),
	}

	// The data modules are the ones still unused.
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if base.empty(x, y) {
				s.dataRows[y][x/64] |= 1 << uint(x%64)
				s.dataColumns[x][y/64] |= 1 << uint(y%64)
			}
		}
	}

	if ok, err := m.addData(); !ok {
		log.Panic(err.Error())
	}
	if empty := base.numEmptyModules(); empty != 0 {
		log.Panicf("bug: numEmptyModules is %d (expected 0) (version=%d)",
			empty, version.version)
	}

	// The format information modules are the ones that differ when it is
	// all dark.
	copy(s.out.flat, base.flat)
	(&regularSymbol{version: version, symbol: s.out.symbol, size: n}).setFormatInfo(allDark)
	s.formatModules = make([]modulePos, 0, 2*formatInfoLengthBits)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			i := base.at(x, y)
			if base.flat[i] {
				s.baseRows[y][x/64] |= 1 << uint(x%64)
				s.baseColumns[x][y/64] |= 1 << uint(y%64)
			}
			if base.flat[i] != s.out.flat[i] {
				s.formatModules = append(s.formatModules, modulePos{uint8(x), uint8(y)})
			}
		}
	}

	return s
}

// score makes s.rows and s.columns the symbol buildRegularSymbol makes for
// mask, and returns its penaltyScore.
func (s *maskScorer) score(mask int) int {
	for y := range s.rows {
		for i := range s.rows[y] {
			s.rows[y][i] = s.baseRows[y][i] ^ maskRows[mask][y][i]&s.dataRows[y][i]
			s.columns[y][i] = s.baseColumns[y][i] ^ maskColumns[mask][y][i]&s.dataColumns[y][i]
		}
	}

	// The base's format information is light: set the dark modules.
	(&regularSymbol{version: s.version, symbol: s.out.symbol, size: s.n}).setFormatInfo(formatInfo(s.version, mask))
	for _, p := range s.formatModules {
		x, y := int(p.x), int(p.y)
		if s.out.flat[s.out.at(x, y)] {
			s.rows[y][x/64] |= 1 << uint(x%64)
			s.columns[x][y/64] |= 1 << uint(y%64)
		}
	}

	return s.penaltyScore()
}

// symbol writes rows into s.out and returns it.
func (s *maskScorer) symbol(rows []lineBits) *symbol {
	for y, row := range rows {
		line := s.out.flat[s.out.at(0, y):s.out.at(s.n, y)]
		for x := range line {
			line[x] = row[x/64]>>uint(x%64)&1 == 1
		}
	}
	return s.out.symbol
}

// selectMask returns the symbol of the mask of lowest penalty score (the
// first of those if several) and the mask, as upstream's encode loop chose.
func selectMask(version qrCodeVersion, data *bitset.Bitset, includeQuietZone bool) (*symbol, int) {
	s := newMaskScorer(version, data, includeQuietZone)

	best := make([]lineBits, s.n)
	bestMask, bestPenalty := -1, 0
	for mask := 0; mask < numMasks; mask++ {
		p := s.score(mask)
		if bestMask < 0 || p < bestPenalty {
			copy(best, s.rows)
			bestMask, bestPenalty = mask, p
		}
	}

	return s.symbol(best), bestMask
}

// penaltyScore is upstream's penaltyScore of s.rows and s.columns: its four
// rules, computed on 64 modules of a row or column at a time.
func (s *maskScorer) penaltyScore() int {
	n := s.n
	nw := (n + 63) / 64
	inner := innerBits(n)

	penalty := 0
	for l := 0; l < n; l++ {
		penalty += linePenalty(&s.rows[l], n, &inner)
		penalty += linePenalty(&s.columns[l], n, &inner)
	}

	// penalty2: a module of the same colour as those left, above and above
	// left of it. penalty4: the dark modules.
	blocks, dark := 0, 0
	for y := 0; y < n; y++ {
		var rowPrev, eqPrev uint64
		for i := 0; i < nw; i++ {
			row := s.rows[y][i]
			dark += bits.OnesCount64(row)
			if y > 0 {
				eq := ^(row ^ s.rows[y-1][i]) // Same as above.
				left := ^(row ^ shiftIn(row, rowPrev, 1))
				blocks += bits.OnesCount64(eq & shiftIn(eq, eqPrev, 1) & left & inner[i])
				eqPrev = eq
			}
			rowPrev = row
		}
	}
	penalty += blocks * penaltyWeight2

	numModules := n * n
	deviation := numModules/2 - dark
	if deviation < 0 {
		deviation *= -1
	}
	penalty += penaltyWeight4 * (deviation / (numModules / 20))

	return penalty
}

// innerBits returns the modules 1 to n-1 of a line of n.
func innerBits(n int) lineBits {
	var inner lineBits
	for k := 1; k < n; k++ {
		inner[k/64] |= 1 << uint(k%64)
	}
	return inner
}

// shiftIn returns word w shifted k bits up (to later modules of the line),
// with the top k bits of the line's previous word, prev, shifted in.
func shiftIn(w uint64, prev uint64, k uint) uint64 {
	return w<<k | prev>>(64-k)
}

// linePenalty returns penalty1 plus penalty3 of a row or column of n
// modules.
func linePenalty(line *lineBits, n int, inner *lineBits) int {
	penalty := 0
	var finderLike lineBits

	var prev, eqPrev uint64
	for i := 0; i < (n+63)/64; i++ {
		w := line[i]
		// penalty1: module k is the 6th or a later module of a run when it
		// and the 5 before it are the same; upstream scores each such
		// module 1, and the 6th of a run 3 more.
		eq := ^(w ^ shiftIn(w, prev, 1)) & inner[i]
		run6 := eq & shiftIn(eq, eqPrev, 1) & shiftIn(eq, eqPrev, 2) &
			shiftIn(eq, eqPrev, 3) & shiftIn(eq, eqPrev, 4)
		sixth := run6 &^ shiftIn(eq, eqPrev, 5)
		penalty += bits.OnesCount64(run6) + penaltyWeight1*bits.OnesCount64(sixth)

		// penalty3: whether upstream's window of 11 modules ending at
		// module k is 0x05d or 0x5d0 (1011101 and 4 light), or, at the
		// last module, ends in 0x5d. Modules before the line are light.
		b := func(k uint) uint64 { return shiftIn(w, prev, k) }
		core := b(4) &^ b(5) & b(6) & b(7) & b(8) &^ b(9) & b(10) // 1011101 ending 4 before k.
		dark1011101 := w &^ b(1) & b(2) & b(3) & b(4) &^ b(5) & b(6)
		light4 := ^(w | b(1) | b(2) | b(3))
		light4before := ^(b(7) | b(8) | b(9) | b(10))
		candidates := core&light4 | dark1011101&light4before
		if last := n - 1 - 64*i; last < 64 {
			candidates &= 1<<uint(last+1) - 1
			candidates |= dark1011101 & (1 << uint(last))
		}
		finderLike[i] = candidates

		prev, eqPrev = w, eq
	}

	return penalty + finderLikePenalty(line, n, &finderLike)
}

// finderLikePenalty returns penalty3 of a line of n modules, given
// candidates: the modules where upstream's window of the last 11 modules
// (light before the line) matches. Upstream's loop sets the window to 0xFF
// after a match, not to the modules, so for up to 10 modules after a match
// the window is not the modules and that loop runs here as upstream's;
// elsewhere it matches at the candidates.
func finderLikePenalty(line *lineBits, n int, candidates *lineBits) int {
	penalty := 0

	// From module k on, the window is the modules.
	for k := 0; k < n; {
		c := nextBit(candidates, k)
		if c < 0 {
			break
		}
		penalty += penaltyWeight3

		// Upstream's loop until 10 modules after the last match.
		var bitBuffer int16 = 0xFF
		last := c
		for j := c + 1; j < n && j <= last+10; j++ {
			bitBuffer <<= 1
			if line[j/64]>>uint(j%64)&1 == 1 {
				bitBuffer |= 1
			}

			switch bitBuffer & 0x7ff {
			// 0b000 0101 1101 or 0b10111010000
			// 0x05d           or 0x5d0
			case 0x05d, 0x5d0:
				penalty += penaltyWeight3
				bitBuffer = 0xFF
				last = j
			default:
				if j == n-1 && (bitBuffer&0x7f) == 0x5d {
					penalty += penaltyWeight3
					bitBuffer = 0xFF
					last = j
				}
			}
		}
		k = last + 11
	}

	return penalty
}

// nextBit returns the first set bit of b at k or after, or -1.
func nextBit(b *lineBits, k int) int {
	for i := k / 64; i < len(b); i++ {
		w := b[i]
		if i == k/64 {
			w &^= 1<<uint(k%64) - 1
		}
		if w != 0 {
			return 64*i + bits.TrailingZeros64(w)
		}
	}
	return -1
}
