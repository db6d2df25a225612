#!/bin/sh
# make-font.sh builds signer/font/wqy-microhei-gb2312.ttf, the certificate's
# default font, and its LICENSE from Debian's fonts-wqy-microhei.
#
# Needs: fonts-wqy-microhei, python3-fonttools (Debian packages). Run from
# anywhere: outputs land next to this script. The result is deterministic
# for a given font and fontTools version, so re-running it and diffing is a
# check that the committed font is what this script makes.
#
# Subset: every character of GB2312 (enumerated by decoding each valid
# two-byte code), printable ASCII, and common CJK / full-width punctuation.
# Glyph names and the cmap are kept (the renderer reads the cmap to refuse
# characters the font lacks); hinting is dropped (PDF viewers do not need it
# and it is a third of the file).
#
# Composite glyphs are decomposed into plain outlines. The font builds most
# hanzi from shared components, which keeps 5,600 extra component glyphs in
# the subset. gopdf keeps the original glyph numbering in every PDF's font
# subset and writes loca and hmtx for all glyphs, then deflates them: with
# 13,210 glyphs that was 125 KB to compress per certificate, with 7,559 it
# is about a third less and rendering is ~35% faster. The file grows from
# 1.4 to 1.8 MB.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
src=${WQY_TTC:-/usr/share/fonts/truetype/wqy/wqy-microhei.ttc}
copyright=${WQY_COPYRIGHT:-/usr/share/doc/fonts-wqy-microhei/copyright}
apache=${APACHE_LICENSE:-/usr/share/common-licenses/Apache-2.0}
# Debian's interpreter, where python3-fonttools lives (a pyenv python3 on
# PATH would not see it).
py=${PYTHON:-/usr/bin/python3}

"$py" - "$src" "$dir/wqy-microhei-gb2312.ttf" <<'PY'
import sys
from fontTools.ttLib import TTCollection
from fontTools import subset
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.pens.ttGlyphPen import TTGlyphPen

src, out = sys.argv[1], sys.argv[2]

chars = set()
# GB2312 in EUC-CN: lead byte 0xA1-0xF7, trail byte 0xA1-0xFE. Rows that
# are unassigned fail to decode and are skipped.
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(ord(bytes([hi, lo]).decode("gb2312")))
        except UnicodeDecodeError:
            pass
chars.update(range(0x20, 0x7F))            # printable ASCII
chars.update(range(0x3000, 0x3040))        # CJK symbols and punctuation
chars.update(range(0xFF01, 0xFF5F))        # full-width forms
chars.update([0x00B7, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2026, 0x2027, 0x2E3A])

font = TTCollection(src).fonts[0]          # 0 = WenQuanYi Micro Hei (1 is Mono)
opts = subset.Options()
opts.glyph_names = True
opts.notdef_outline = True
opts.hinting = False
opts.name_IDs = ["*"]
opts.name_languages = ["*"]
opts.legacy_cmap = False
opts.symbol_cmap = False
opts.layout_features = ["*"]
sub = subset.Subsetter(opts)
sub.populate(unicodes=sorted(chars))
sub.subset(font)

glyf, glyphs = font["glyf"], font.getGlyphSet()
flat = {}
for name in font.getGlyphOrder():
    if glyf[name].isComposite():
        rec = DecomposingRecordingPen(glyphs)
        glyphs[name].draw(rec)
        pen = TTGlyphPen(None)
        rec.replay(pen)
        flat[name] = pen.glyph()
for name, g in flat.items():
    glyf[name] = g
# Subset again: the components are no longer referenced and drop out.
sub = subset.Subsetter(opts)
sub.populate(unicodes=sorted(chars))
sub.subset(font)
# Fixed timestamps so the output is byte-for-byte reproducible.
font["head"].created = font["head"].modified = 0
font.recalcTimestamp = False
font.save(out)
cmap = font.getBestCmap()
missing = sorted(c for c in chars if c not in cmap)
print(f"{out}: {len(cmap)} characters, {len(font.getGlyphOrder())} glyphs; requested but absent from the source font: {len(missing)}", file=sys.stderr)
PY

{
	echo "The font wqy-microhei-gb2312.ttf is a subset of WenQuanYi Micro Hei"
	echo "(文泉驿微米黑), made by make-font.sh from the Debian package"
	echo "fonts-wqy-microhei. It is used here under the Apache License 2.0"
	echo "(the font is dual-licensed Apache-2.0 or GPL-3+ with font exception)."
	echo "Changes: font 0 extracted from the .ttc collection, subset to GB2312,"
	echo "printable ASCII and CJK/full-width punctuation, composite glyphs"
	echo "decomposed into plain outlines, hinting removed."
	echo
	echo "Debian copyright file of fonts-wqy-microhei:"
	echo
	cat "$copyright"
	echo
	echo "------------------------------------------------------------------------"
	echo
	cat "$apache"
} >"$dir/LICENSE"
