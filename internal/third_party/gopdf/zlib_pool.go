package gopdf

import (
	"compress/zlib"
	"io"
	"sync"
)

// certseal patch: zlib writers are reused across streams and documents.
// A new writer allocates its compressor's tables (about a megabyte at the
// fastest level), once per stream of every document otherwise.

// zlibWriters holds idle writers by level+2 (levels run from
// zlib.HuffmanOnly, -2, to zlib.BestCompression, 9).
var zlibWriters [zlib.BestCompression + 3]sync.Pool

// getZlibWriter is zlib.NewWriterLevel(w, level), from the pool if it can.
func getZlibWriter(w io.Writer, level int) (*zlib.Writer, error) {
	if level < zlib.HuffmanOnly || level > zlib.BestCompression {
		return zlib.NewWriterLevel(w, level) // its error
	}
	if z, ok := zlibWriters[level+2].Get().(*zlib.Writer); ok {
		z.Reset(w)
		return z, nil
	}
	return zlib.NewWriterLevel(w, level)
}

// putZlibWriter returns a closed writer of level to the pool.
func putZlibWriter(z *zlib.Writer, level int) {
	zlibWriters[level+2].Put(z)
}
