package gopdf

import (
	"fmt"
	"io"
	"math"
	"strconv"
)

type cacheContentRectangle struct {
	pageHeight       float64
	x                float64
	y                float64
	width            float64
	height           float64
	style            PaintStyle
	extGStateIndexes []int
}

func NewCacheContentRectangle(pageHeight float64, rectOpts DrawableRectOptions) ICacheContent {
	if rectOpts.PaintStyle == "" {
		rectOpts.PaintStyle = DrawPaintStyle
	}

	return cacheContentRectangle{
		x:                rectOpts.X,
		y:                rectOpts.Y,
		width:            rectOpts.W,
		height:           rectOpts.H,
		pageHeight:       pageHeight,
		style:            rectOpts.PaintStyle,
		extGStateIndexes: rectOpts.extGStateIndexes,
	}
}

// write writes the rectangle as upstream did with fmt's "%0.2f", but
// formats with strconv into one buffer (certseal patch 3, PATCHES.md): a
// certificate's QR code is hundreds of rectangles.
func (c cacheContentRectangle) write(w io.Writer, protection *PDFProtection) error {
	stream := make([]byte, 0, 64)
	stream = append(stream, "q\n"...)

	for _, extGStateIndex := range c.extGStateIndexes {
		stream = fmt.Appendf(stream, "/GS%d gs\n", extGStateIndex)
	}

	for _, v := range [...]float64{c.x, c.pageHeight - c.y, c.width, c.height} {
		stream = appendFixed2(stream, v)
		stream = append(stream, ' ')
	}
	stream = append(stream, "re "...)
	stream = append(stream, c.style...)
	stream = append(stream, "\nQ\n"...)

	if _, err := w.Write(stream); err != nil {
		return err
	}

	return nil
}

// appendFixed2 appends v as fmt's "%0.2f" formats it.
func appendFixed2(b []byte, v float64) []byte {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Appendf(b, "%0.2f", v) // fmt spells these its own way
	}
	return strconv.AppendFloat(b, v, 'f', 2, 64)
}
