package gopdf

import (
	"encoding/binary"
	"sort"
)

// certseal patch 4: the embedded subset numbers its glyphs compactly.
//
// Upstream kept every glyph at its id in the original font, so the subset's
// loca and hmtx ran over all of the font's glyphs for the few a page uses.
// Here the subset's glyph 0 is .notdef and glyphs 1..n are the glyphs used
// (and the components of composite glyphs among them) in ascending order of
// their original ids. The subset's glyph id is the CID that content streams,
// the CIDFont's /W and the ToUnicode CMap write (CIDToGIDMap stays
// Identity). Widths and kerning are still looked up by original glyph id.

// subsetGlyphs is the subset for the characters added so far.
type subsetGlyphs struct {
	gids  []uint        // original glyph id of each subset glyph
	cids  map[uint]uint // original glyph id -> subset glyph id
	chars int           // len(CharacterToGlyphIndex.Keys) it was made for
}

// subset returns the subset's glyphs, made again when characters were
// added since (CharacterToGlyphIndex only grows).
func (s *SubsetFontObj) subset() *subsetGlyphs {
	chars := len(s.CharacterToGlyphIndex.AllKeys())
	if s.glyphs != nil && s.glyphs.chars == chars {
		return s.glyphs
	}
	numGlyphs := s.ttfp.NumGlyphs()
	gids := []uint{0}
	seen := map[uint]bool{0: true}
	add := func(g uint) {
		if g < numGlyphs && !seen[g] {
			seen[g] = true
			gids = append(gids, g)
		}
	}
	for _, g := range s.CharacterToGlyphIndex.AllVals() {
		add(g)
	}
	// Components of composites, and theirs (upstream went one level deep).
	for i := 0; i < len(gids); i++ {
		data := s.glyphData(gids[i])
		glyphComponents(data, func(at int) {
			add(uint(binary.BigEndian.Uint16(data[at:])))
		})
	}
	sort.Slice(gids, func(i, j int) bool { return gids[i] < gids[j] })
	cids := make(map[uint]uint, len(gids))
	for i, g := range gids {
		cids[g] = uint(i)
	}
	s.glyphs = &subsetGlyphs{gids: gids, cids: cids, chars: chars}
	return s.glyphs
}

// cid is the subset glyph id of original glyph g; 0 (.notdef) for a glyph
// id the font does not have.
func (s *SubsetFontObj) cid(g uint) uint {
	return s.subset().cids[g]
}

// glyphData is original glyph g's bytes in the font's glyf table (shared:
// do not modify).
func (s *SubsetFontObj) glyphData(g uint) []byte {
	glyf := s.ttfp.GetTables()["glyf"]
	start := glyf.Offset + s.ttfp.LocaTable[g]
	end := glyf.Offset + s.ttfp.LocaTable[g+1]
	return s.ttfp.FontData()[start:end]
}

// glyphComponents calls f with the offset in data of each component's
// glyph id, if data is a composite glyph. It stops at the end of data.
func glyphComponents(data []byte, f func(at int)) {
	if len(data) < 10 || int16(binary.BigEndian.Uint16(data)) >= 0 {
		return // empty or simple
	}
	at := 10 // numberOfContours, bounding box
	for at+4 <= len(data) {
		flags := binary.BigEndian.Uint16(data[at:])
		f(at + 2)
		at += 4
		if flags&arg1and2areWords != 0 {
			at += 4
		} else {
			at += 2
		}
		if flags&hasScale != 0 { // as AddCompositeGlyphs
			at += 2
		} else if flags&xAndYScale != 0 {
			at += 4
		}
		if flags&twoByTwo != 0 {
			at += 8
		}
		if flags&moreComponents == 0 {
			return
		}
	}
}

// subsetGlyphData is original glyph g's bytes with the glyph ids of its
// components, if it is a composite, renumbered to the subset's.
func (s *SubsetFontObj) subsetGlyphData(g uint) []byte {
	data := s.glyphData(g)
	var out []byte
	glyphComponents(data, func(at int) {
		if out == nil {
			out = append([]byte(nil), data...)
		}
		c := s.cid(uint(binary.BigEndian.Uint16(data[at:])))
		binary.BigEndian.PutUint16(out[at:], uint16(c))
	})
	if out == nil {
		return data
	}
	return out
}

// subsetTable is the subset's hmtx, hhea or maxp table: one full
// horizontal metric per subset glyph, and the counts that go with them.
func (s *SubsetFontObj) subsetTable(tag string) []byte {
	gids := s.subset().gids
	entry := s.ttfp.GetTables()[tag]
	orig := s.ttfp.FontData()[entry.Offset : entry.Offset+entry.Length]
	switch tag {
	case "hmtx":
		nhm := s.ttfp.NumberOfHMetrics()
		out := make([]byte, 4*len(gids))
		for i, g := range gids {
			adv, lsb := 4*g, 4*g+2
			if g >= nhm { // the last advance repeats; lsb from the array after
				adv, lsb = 4*(nhm-1), 4*nhm+2*(g-nhm)
			}
			copy(out[4*i:], orig[adv:adv+2])
			copy(out[4*i+2:], orig[lsb:lsb+2])
		}
		return out
	case "hhea", "maxp":
		out := append([]byte(nil), orig...)
		at := 34 // hhea.numberOfHMetrics
		if tag == "maxp" {
			at = 4 // maxp.numGlyphs
		}
		binary.BigEndian.PutUint16(out[at:], uint16(len(gids)))
		return out
	}
	return orig
}
