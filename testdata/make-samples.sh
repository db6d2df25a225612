#!/bin/sh
# make-samples.sh draws the shared sample inputs of the tests (signer, api,
# e2e) and the demo, with
# ImageMagick and the WenQuanYi font (Debian: imagemagick, fonts-wqy-microhei):
#   seal.png   a red round seal imprint (职称专用章) on a transparent background
#   seal-binhai.png  the same for 威海滨海学院, the README walkthrough's unit
#   photo.jpg  a stand-in ID photo (a drawn silhouette, no real person)
# Outputs land next to this script; cmd/certseal/demodata embeds copies of
# photo.jpg and seal.png for `certseal demo`.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
font=${WQY_TTC:-/usr/share/fonts/truetype/wqy/wqy-microhei.ttc}

# seal NAME FILE draws a seal imprint: 400x400, ring, five-pointed star,
# the unit's name along the upper arc, 职称专用章 straight below the star.
# The ring's inner edge is at radius 179. Each character of the name is
# centred on radius 128 (its 48-point box reaches out to about 156, corners
# included), so a clear band of paper separates every character from the
# ring, as on a real 职称专用章; tests measure that band.
seal() {
	name=$1
	draw=""
	n=$(printf %s "$name" | wc -m)
	i=0
	for ch in $(printf %s "$name" | sed 's/./& /g'); do
		# spread the characters' centres over 200 degrees of the upper arc
		a=$(awk -v i="$i" -v n="$n" 'BEGIN { print -100 + (200 / (n - 1)) * i }')
		x=$(awk -v a="$a" 'BEGIN { pi = atan2(0, -1); print 200 + 128 * sin(a * pi / 180) }')
		y=$(awk -v a="$a" 'BEGIN { pi = atan2(0, -1); print 200 - 128 * cos(a * pi / 180) }')
		# text -24,17 puts the 48-point glyph's centre on the point
		draw="$draw translate $x,$y rotate $a text -24,17 '$ch' rotate $(awk -v a="$a" 'BEGIN{print -a}') translate -$x,-$y"
		i=$((i + 1))
	done
	convert -size 400x400 xc:none \
		-fill none -stroke '#D0161B' -strokewidth 14 -draw "circle 200,200 200,14" \
		-stroke none -fill '#D0161B' \
		-draw "polygon 200,130 216,178 267,178 226,208 241,256 200,226 159,256 174,208 133,178 184,178" \
		-font "$font" -pointsize 48 -draw "$draw" \
		-pointsize 38 -gravity center -draw "text 0,95 '职称专用章'" \
		-define png:color-type=6 "$2"
}

# The demo's and the tests' unit; the README walkthrough's unit.
seal 威海示范大学 "$dir/seal.png"
seal 威海滨海学院 "$dir/seal-binhai.png"

# Photo: 358x441 (the 2-inch ID photo at 300 dpi), blue background,
# a drawn head and shoulders.
convert -size 358x441 xc:'#3A78C3' \
	-fill '#E3C4A8' -draw "rectangle 154,250 204,340" \
	-fill '#2F2F38' -draw "ellipse 179,470 165,150 180,360" \
	-fill '#E3C4A8' -draw "ellipse 179,195 76,96 0,360" \
	-fill '#222222' -draw "ellipse 179,150 80,62 180,360" \
	-quality 90 "$dir/photo.jpg"

# The same photo as a CMYK JPEG (what print shops send), which is
# re-encoded before embedding.
convert "$dir/photo.jpg" -colorspace CMYK -quality 85 "$dir/photo-cmyk.jpg"
